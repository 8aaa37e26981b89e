"""The promotion gate: a candidate model becomes active only if it is not worse than the active one.

Sits between training and the registry. ``compare`` scores the candidate and the active model on
the same fixed evaluation set (``moderation.training.evaluation_set``: the public test splits the
candidate was evaluated on at training, plus the held-out threads of the moderators' labels) and
returns one row per split with both models' figures. ``check`` applies the rule:

- on every split holding at least ``GATE_MIN_CLASS_ROWS`` rows of each class, the candidate's
  ROC AUC may be at most ``GATE_SPLIT_TOLERANCE`` below the active model's;
- and its mean ROC AUC over those splits at most ``GATE_MEAN_TOLERANCE`` below.

``promote`` runs both and refuses with ``GateError`` (carrying the table) unless the gate passes
or ``force`` is given; ``moderation.review.promote_model`` lets only admins force.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation import config
from moderation.errors import GateError, ModelError

__all__ = ["GateResult", "check", "compare", "evaluate", "format_table", "promote", "run"]

#: Columns of the comparison table, in order.
TABLE_COLUMNS = (
    "split",
    "label",
    "n",
    "positives",
    "auc_active",
    "auc_candidate",
    "auc_change",
    "ap_active",
    "ap_candidate",
    "f1_active",
    "f1_candidate",
    "gated",
)


@dataclass
class GateResult:
    """What the gate decided, and the figures it decided on."""

    candidate: str
    active: str
    passed: bool
    table: pd.DataFrame
    reasons: list[str] = field(default_factory=list)
    #: sha256 of the evaluation set both models were scored on, and whether it is the one the
    #: candidate's card recorded at training (it differs once moderators have labelled more).
    evaluation_sha256: str = ""
    same_as_training: bool = False

    def summary(self) -> str:
        verdict = "passes" if self.passed else "fails"
        lines = [f"gate {verdict}: candidate {self.candidate} against active {self.active or '(none)'}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)


def evaluate(model: Any, evaluation: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Figures per evaluation split (``moderation.training.TEST_SPLITS``) for one model."""
    from moderation.training import evaluate_test_splits

    if not len(evaluation):
        return {}
    return evaluate_test_splits(model, evaluation)


def compare(candidate: Any, active: Any, evaluation: pd.DataFrame) -> pd.DataFrame:
    """Both models' figures on every split of ``evaluation``, one row per split."""
    before = evaluate(active, evaluation)
    after = evaluate(candidate, evaluation)
    rows = []
    for split, new in after.items():
        old = before.get(split, {})
        negatives = new["n"] - new["positives"]
        rows.append(
            {
                "split": split,
                "label": new["label"],
                "n": new["n"],
                "positives": new["positives"],
                "auc_active": old.get("auc"),
                "auc_candidate": new["auc"],
                "auc_change": (
                    None if new["auc"] is None or old.get("auc") is None else new["auc"] - old["auc"]
                ),
                "ap_active": old.get("ap"),
                "ap_candidate": new["ap"],
                "f1_active": old.get("f1"),
                "f1_candidate": new["f1"],
                "gated": bool(
                    min(new["positives"], negatives) >= config.GATE_MIN_CLASS_ROWS
                    and new["auc"] is not None
                    and old.get("auc") is not None
                ),
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def check(
    table: pd.DataFrame,
    *,
    split_tolerance: float = config.GATE_SPLIT_TOLERANCE,
    mean_tolerance: float = config.GATE_MEAN_TOLERANCE,
) -> tuple[bool, list[str]]:
    """The gate's rule over a ``compare`` table: (passed, reasons)."""
    gated = table[table["gated"]]
    if gated.empty:
        return False, [
            "no evaluation split holds enough labelled rows of both classes to compare the models "
            f"(at least {config.GATE_MIN_CLASS_ROWS} of each)"
        ]
    reasons = []
    passed = True
    for row in gated.itertuples():
        if row.auc_change < -split_tolerance:
            passed = False
            reasons.append(
                f"{row.split}: ROC AUC {row.auc_candidate:.4f} is {-row.auc_change:.4f} below the "
                f"active model's {row.auc_active:.4f} (tolerance {split_tolerance})"
            )
    mean_change = float(gated["auc_change"].mean())
    if mean_change < -mean_tolerance:
        passed = False
        reasons.append(
            f"mean ROC AUC over {len(gated)} splits is {-mean_change:.4f} below the active model's "
            f"(tolerance {mean_tolerance})"
        )
    else:
        reasons.append(f"mean ROC AUC change over {len(gated)} splits: {mean_change:+.4f}")
    skipped = table[~table["gated"]]["split"].tolist()
    if skipped:
        reasons.append(f"shown but not gated (too few rows of a class): {', '.join(skipped)}")
    return passed, reasons


def _evaluation_for(candidate_card: dict, moderators: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str]]:
    from moderation.training import evaluation_set

    wanted = list(candidate_card.get("evaluation_set", {}).get("corpora", []))
    if not wanted:  # a card from before the evaluation set was recorded: its test corpora
        wanted = [entry["name"] for entry in candidate_card.get("test_data", [])]
    evaluation = evaluation_set(moderators, corpora=wanted)
    present = set(evaluation["corpus"]) if len(evaluation) else set()
    notes = []
    missing = [name for name in wanted if name not in present]
    if missing:
        notes.append(
            f"public test corpora not found in {config.SHARED_DATA_DIR}: {', '.join(missing)} "
            "(set MODERATION_SHARED_DIR to compare on them)"
        )
    return evaluation, notes


def run(
    candidate_version: str,
    *,
    models_dir: str | Path | None = None,
    moderators: pd.DataFrame | None = None,
) -> GateResult:
    """Compare ``candidate_version`` with the active model on the fixed evaluation set.

    ``moderators`` are the store's current labels (``review.moderator_labels``); their held-out
    threads join the public test splits. With no active model the gate passes.
    """
    from moderation.registry import active_version, load_model, model_dir
    from moderation.training import data_hash

    candidate = load_model(candidate_version, models_dir=models_dir)
    # The registry knows a version by its folder: a copy under another name is another version.
    folder = model_dir(candidate_version, models_dir=models_dir).resolve()
    try:
        active_name = active_version(models_dir=models_dir)
    except ModelError:  # no pointer yet: nothing to compare against
        active_name = ""
    if not active_name:
        return GateResult(
            folder.name,
            "",
            True,
            pd.DataFrame(columns=list(TABLE_COLUMNS)),
            ["there is no active model to compare with"],
        )
    if folder == model_dir(active_name, models_dir=models_dir).resolve():
        return GateResult(
            folder.name,
            active_name,
            True,
            pd.DataFrame(columns=list(TABLE_COLUMNS)),
            ["the candidate is already the active model"],
        )
    active = load_model(active_name, models_dir=models_dir)
    evaluation, notes = _evaluation_for(candidate.card, moderators)
    table = compare(candidate, active, evaluation)
    passed, reasons = check(table)
    digest = data_hash(evaluation) if len(evaluation) else ""
    recorded = candidate.card.get("evaluation_set", {}).get("sha256", "")
    if recorded and digest != recorded:
        notes.append(
            "the evaluation set differs from the one recorded at training (moderators have labelled "
            "more since, or the public data changed); both models were scored on today's"
        )
    return GateResult(
        folder.name,
        active_name,
        passed,
        table,
        reasons + notes,
        evaluation_sha256=digest,
        same_as_training=bool(recorded) and digest == recorded,
    )


def format_table(table: pd.DataFrame) -> str:
    """The comparison as a plain-text table for the terminal."""
    if table.empty:
        return "(no evaluation splits)"

    header = f"{'split':26s} {'label':6s} {'n':>6s} {'pos':>5s} {'AUC active':>10s} {'AUC cand.':>10s} "
    header += f"{'change':>8s} {'F1 active':>9s} {'F1 cand.':>9s}  gated"
    lines = [header]
    for row in table.itertuples():
        change = "-" if row.auc_change is None or np.isnan(row.auc_change) else f"{row.auc_change:+.4f}"
        lines.append(
            f"{row.split:26s} {row.label:6s} {row.n:6d} {row.positives:5d} "
            f"{_num(row.auc_active):>10s} {_num(row.auc_candidate):>10s} {change:>8s} "
            f"{_num(row.f1_active):>9s} {_num(row.f1_candidate):>9s}  {'yes' if row.gated else 'no'}"
        )
    return "\n".join(lines)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.4f}"


def promote(
    candidate_version: str,
    *,
    models_dir: str | Path | None = None,
    moderators: pd.DataFrame | None = None,
    force: bool = False,
) -> tuple[str, GateResult]:
    """Run the gate, then make the candidate active if it passed (or ``force``).

    Returns (the previously active version, the gate's result). Raises ``GateError`` when the gate
    fails and ``force`` is not given; nothing changes then.
    """
    from moderation.registry import promote as make_active
    from moderation.registry import registered_dir

    # Refuse a folder outside models/ before the gate loads (and so unpickles) anything.
    candidate_version = registered_dir(candidate_version, models_dir=models_dir).name
    result = run(candidate_version, models_dir=models_dir, moderators=moderators)
    if not result.passed and not force:
        raise GateError(
            result.summary() + "\n" + format_table(result.table),
            hint="train a better candidate, or (admins) promote anyway with --force",
        )
    previous = make_active(candidate_version, models_dir=models_dir)
    return previous, result
