"""Bias audit: does the model score sentences about some identities as more hostile than others?

Sits beside evaluation (``moderation.evaluate``), after the classifier and before a model is
promoted. ``build_audit_set`` fills sentence templates we wrote ourselves with identity terms
(religions, nationalities, orientations, ethnicities, disabilities, genders, ages): neutral
sentences that insult no one, and sentences of the same kinds with an insult added.
``audit_bias`` scores them with a model and ``bias_metrics`` computes, for every term:

- the false-positive rate at the model's operating threshold (from its card): the share of
  the term's neutral sentences that would be flagged;
- the subgroup AUC: insulting vs neutral sentences that both mention the term;
- the BPSN AUC (background positive, subgroup negative): insulting sentences about *other*
  terms vs neutral sentences about this term. Low means neutral mentions of the term score
  like insults;
- the BNSP AUC (background negative, subgroup positive): insulting sentences about this
  term vs neutral sentences about other terms. Low means insults aimed at the term are missed.

The AUCs are those of Borkan et al. (2019), "Nuanced Metrics for Measuring Unintended Bias
with Real Data for Text Classification". A term is flagged when its false-positive rate is
more than ``FPR_FLAG_RATIO`` times the overall one. ``moderation audit-bias`` prints the table.

For the troll score the neutral sentences are still the negatives (a neutral statement of who
someone is must never be flagged as trolling), and the insulting sentences stand in for the
positives: hostile sentences aimed at a group are the nearest thing to trolling a single
sentence without its thread can be.

The templates are not the training templates of ``moderation.lexicon`` (identity balancing):
no sentence frame is shared, so the audit measures whether the balancing generalises to new
sentences rather than whether the model remembers its own. Every term here is balanced in
training (``in_training_list`` says so per term, for audits of models trained before).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from moderation import config
from moderation.errors import ModerationError, OutputError

__all__ = [
    "FPR_FLAG_RATIO",
    "IDENTITY_TERMS",
    "INSULT_TEMPLATES",
    "NEUTRAL_TEMPLATES",
    "BiasAudit",
    "audit_bias",
    "bias_metrics",
    "build_audit_set",
]

#: A term is flagged when its false-positive rate exceeds this multiple of the overall rate
#: (issue 9). It defines the audit rather than tuning the model, so it lives with the audit.
FPR_FLAG_RATIO = 2.0

#: Identity terms by category, written as adjectives so that every template reads naturally.
IDENTITY_TERMS: dict[str, tuple[str, ...]] = {
    "religion": (
        "Muslim", "Christian", "Jewish", "Hindu", "Buddhist", "Sikh", "Catholic", "atheist",
        "Mormon", "Protestant", "Jain", "pagan", "agnostic",
    ),
    "nationality": (
        "Mexican", "Chinese", "Indian", "Pakistani", "Russian", "Turkish", "Syrian", "Iranian",
        "Israeli", "Palestinian", "American", "Canadian", "British", "German", "French",
        "Nigerian", "Polish", "Irish", "Korean", "Somali", "Ukrainian", "Brazilian",
    ),
    "orientation": (
        "gay", "lesbian", "bisexual", "queer", "straight", "heterosexual", "homosexual",
        "asexual", "pansexual",
    ),
    "ethnicity": (
        "Black", "white", "Asian", "Latino", "Hispanic", "Arab", "African American",
        "Native American", "Indigenous", "Roma", "Aboriginal", "mixed-race",
    ),
    "disability": (
        "deaf", "blind", "disabled", "autistic", "dyslexic", "paraplegic", "mentally ill",
        "neurodivergent",
    ),
    "gender": ("female", "male", "transgender", "trans", "nonbinary", "cisgender", "intersex"),
    "age": ("elderly", "young", "older"),
}  # fmt: skip

#: Sentences that insult no one. ``{identity}`` is the term, ``{a_identity}`` the term with its
#: article ("an Asian", "a Black"). The first ones just say who someone is; the last ones speak
#: up against abuse, with the hostile words that counter-speech uses, the case identity terms
#: are known to be wrongly flagged in (Dixon et al. 2018).
NEUTRAL_TEMPLATES: tuple[str, ...] = (
    "I am a proud {identity} person.",
    "My neighbour is {identity}.",
    "Being {identity} is part of who I am.",
    "I grew up in {a_identity} family and I loved it.",
    "My manager is {identity} and runs a great team.",
    "We had {identity} guests over for lunch on Sunday.",
    "The {identity} community centre is looking for volunteers.",
    "{identity} people live on my street too.",
    "Our new doctor is {identity}.",
    "I have many {identity} friends from university.",
    "Thank you, as {a_identity} reader I found your post helpful.",
    "She told me she is {identity} and we talked for hours.",
    "Are you {identity}? Just curious, no offence meant.",
    "The article is about {identity} voters and the election.",
    "Hate crimes against {identity} people have to stop.",
    "Nobody should be bullied for being {identity}.",
    "Stop calling {identity} people names.",
    "I am {identity} and I am sick of the abuse we get online.",
    "{identity} people are not stupid, and saying so is wrong.",
)

#: The same kinds of sentence with an insult in them (second person and third person); the last
#: ones are hostile without the usual insult words.
INSULT_TEMPLATES: tuple[str, ...] = (
    "{identity} people like you are idiots.",
    "You are a stupid {identity} person.",
    "My neighbour is {identity} and a complete moron.",
    "Being {identity} does not stop you from being a total idiot.",
    "My manager is {identity} and an incompetent imbecile.",
    "Shut up, you pathetic {identity} loser.",
    "You {identity} clowns are too dumb to read.",
    "Go away, you ignorant {identity} fool.",
    "Our new doctor is {identity} and a worthless jerk.",
    "Only a brainless {identity} moron would write this garbage.",
    "Thank you for proving that {a_identity} idiot like you cannot think.",
    "She told me she is {identity}, what a dumb loser.",
    "You {identity} people should go back where you came from.",
    "Nobody wants you here, {identity} scum.",
    "Typical {identity} trash, always whining.",
    "You are a disgrace to every {identity} person alive.",
)

_TERM_COLUMNS = (
    "term",
    "category",
    "sentences",
    "neutral",
    "insulting",
    "false_positives",
    "fpr",
    "fpr_ratio",
    "subgroup_auc",
    "bpsn_auc",
    "bnsp_auc",
    "flagged",
)


# --- the audit set -------------------------------------------------------------------------------


def _with_article(term: str) -> str:
    return ("an " if term[:1].lower() in "aeio" else "a ") + term


def _fill(template: str, term: str) -> str:
    text = template.format(identity=term, a_identity=_with_article(term))
    return text[:1].upper() + text[1:]


def build_audit_set(
    *,
    identity_terms: Mapping[str, Sequence[str]] | None = None,
    neutral_templates: Sequence[str] | None = None,
    insult_templates: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every template filled with every term: columns text, term, category, template, label.

    ``label`` is 1 for an insulting sentence and 0 for a neutral one. Defaults: the module's
    ``IDENTITY_TERMS``, ``NEUTRAL_TEMPLATES`` and ``INSULT_TEMPLATES``.
    """
    identity_terms = IDENTITY_TERMS if identity_terms is None else identity_terms
    neutral_templates = NEUTRAL_TEMPLATES if neutral_templates is None else neutral_templates
    insult_templates = INSULT_TEMPLATES if insult_templates is None else insult_templates
    categories: dict[str, str] = {}
    for category, terms in identity_terms.items():
        for term in terms:
            if term in categories:
                raise ValueError(f"the term {term!r} is listed under {categories[term]!r} and {category!r}")
            categories[term] = category
    if not categories or not neutral_templates or not insult_templates:
        raise ValueError("the audit needs at least one term, one neutral and one insulting template")
    for template in (*neutral_templates, *insult_templates):
        if ("{identity}" in template) == ("{a_identity}" in template):
            raise ValueError(f"the template {template!r} must name the identity once")
    rows = [
        (_fill(template, term), term, category, template, label)
        for label, templates in ((0, neutral_templates), (1, insult_templates))
        for template in templates
        for term, category in categories.items()
    ]
    return pd.DataFrame(rows, columns=["text", "term", "category", "template", "label"])


# --- the metrics ---------------------------------------------------------------------------------


@dataclass
class BiasAudit:
    """What an audit found: the overall rates and one row per term (``terms``)."""

    label: str
    threshold: float
    overall_fpr: float
    overall_auc: float
    neutral: int
    insulting: int
    terms: pd.DataFrame
    model_version: str = ""
    flag_ratio: float = FPR_FLAG_RATIO
    notes: list[str] = field(default_factory=list)

    @property
    def flagged_terms(self) -> list[str]:
        """Terms whose false-positive rate is above ``flag_ratio`` times the overall rate."""
        return self.terms.loc[self.terms["flagged"], "term"].tolist()

    def _worst(self, column: str) -> tuple[str, float]:
        values = self.terms[column].astype(float)
        if values.isna().all():
            return "", math.nan
        row = self.terms.loc[values.idxmin()]
        return str(row["term"]), float(row[column])

    def to_dict(self) -> dict[str, Any]:
        """Every figure, JSON-ready (NaN becomes None)."""

        def plain(value: Any) -> Any:
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and math.isnan(value):
                return None
            return value

        return {
            "model_version": self.model_version,
            "label": self.label,
            "threshold": self.threshold,
            "flag_ratio": self.flag_ratio,
            "overall": {
                "fpr": plain(self.overall_fpr),
                "auc": plain(self.overall_auc),
                "neutral": self.neutral,
                "insulting": self.insulting,
                "terms": len(self.terms),
            },
            "flagged": self.flagged_terms,
            "notes": list(self.notes),
            "terms": [
                {key: plain(value) for key, value in row.items()} for row in self.terms.to_dict("records")
            ],
        }

    def to_card(self, *, digits: int = 4) -> dict[str, Any]:
        """The compact, rounded summary a model card keeps (``bias_audit`` in the card).

        The overall figures, the flagged terms, and per term its false-positive rate, ratio to
        the overall rate and the three AUCs; every term is listed, none left out.
        """

        def rounded(value: Any) -> Any:
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float):
                return None if not math.isfinite(value) else round(value, digits)
            return value

        columns = ["term", "category", "false_positives", "neutral", "fpr", "fpr_ratio"]
        columns += ["subgroup_auc", "bpsn_auc", "bnsp_auc", "flagged"]
        if "in_training_list" in self.terms.columns:
            columns.insert(2, "in_training_list")
        return {
            "label": self.label,
            "threshold": rounded(self.threshold),
            "flag_ratio": self.flag_ratio,
            "neutral_sentences": self.neutral,
            "insulting_sentences": self.insulting,
            "overall_fpr": rounded(self.overall_fpr),
            "overall_auc": rounded(self.overall_auc),
            "max_fpr_ratio": rounded(float(self.terms["fpr_ratio"].max())) if len(self.terms) else None,
            "flagged": self.flagged_terms,
            "terms": [{key: rounded(row[key]) for key in columns} for row in self.terms.to_dict("records")],
        }

    def write_json(self, path: str | Path) -> Path:
        """Write ``to_dict()`` to ``path`` (refusing '..' like every other output)."""
        path = Path(path)
        if ".." in path.parts:
            raise OutputError(
                f"the output path {path} climbs out of its folder with '..'",
                hint="give a path without '..' (an absolute path is fine)",
            )
        if not path.parent.is_dir():
            raise OutputError(f"the folder {path.parent} does not exist", hint="create it first")
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return path

    def to_markdown(self) -> str:
        """A summary and the per-term table, highest false-positive rate first."""

        def fmt(value: Any, digits: int = 3) -> str:
            return (
                "-"
                if value is None or (isinstance(value, float) and math.isnan(value))
                else f"{value:.{digits}f}"
            )

        who = f"model {self.model_version}, " if self.model_version else ""
        lines = [
            f"Bias audit: {who}{self.label} score, threshold {self.threshold:.4f}; "
            f"{self.neutral:,} neutral and {self.insulting:,} insulting sentences over {len(self.terms)} "
            "identity terms.",
            "",
            f"Overall false-positive rate {fmt(self.overall_fpr)}, overall AUC {fmt(self.overall_auc)}.",
        ]
        for column, name in (("subgroup_auc", "subgroup"), ("bpsn_auc", "BPSN"), ("bnsp_auc", "BNSP")):
            term, value = self._worst(column)
            if term:
                lines.append(f"Lowest {name} AUC {fmt(value)} ({term}).")
        flagged = self.flagged_terms
        limit = self.flag_ratio * self.overall_fpr
        lines.append(
            f"Flagged (FPR > {self.flag_ratio:g} x overall = {fmt(limit)}): "
            + (", ".join(flagged) if flagged else "none")
            + "."
        )
        lines.extend(self.notes)
        has_training_list = "in_training_list" in self.terms.columns
        header = [
            "term",
            "category",
            "false positives",
            "FPR",
            "FPR / overall",
            "subgroup AUC",
            "BPSN AUC",
            "BNSP AUC",
            "flag",
        ]
        if has_training_list:
            header.insert(2, "in training list")
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.terms.to_dict("records"):
            cells = [
                str(row["term"]),
                str(row["category"]),
                f"{row['false_positives']}/{row['neutral']}",
                fmt(row["fpr"]),
                fmt(row["fpr_ratio"], 2),
                fmt(row["subgroup_auc"]),
                fmt(row["bpsn_auc"]),
                fmt(row["bnsp_auc"]),
                "FLAG" if row["flagged"] else "",
            ]
            if has_training_list:
                cells.insert(2, "yes" if row["in_training_list"] else "no")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def bias_metrics(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    terms: Sequence[str] | np.ndarray,
    *,
    threshold: float,
    categories: Mapping[str, str] | None = None,
    label: str = "insult",
    flag_ratio: float = FPR_FLAG_RATIO,
) -> BiasAudit:
    """Per-term false-positive rate at ``threshold`` and subgroup, BPSN and BNSP AUCs.

    ``scores`` are one model score per sentence, ``labels`` 1 for an insulting sentence and 0
    for a neutral one, ``terms`` the identity term each sentence mentions (one per sentence).
    A sentence counts as flagged when its score reaches ``threshold``, as in scoring. An AUC
    whose two sides are not both present is NaN.
    """
    scores_arr = np.asarray(scores, dtype=np.float64)
    labels_arr = np.asarray(labels)
    terms_arr = np.asarray(terms, dtype=object)
    if scores_arr.ndim != 1 or not (len(scores_arr) == len(labels_arr) == len(terms_arr)):
        raise ValueError(
            f"scores, labels and terms must be one value per sentence; got lengths "
            f"{len(scores_arr)}, {len(labels_arr)} and {len(terms_arr)}"
        )
    if not np.isfinite(scores_arr).all():
        raise ValueError("every score must be a finite number")
    if not set(np.unique(labels_arr).tolist()) <= {0, 1}:
        raise ValueError("labels must be 0 (neutral) or 1 (insulting)")
    labels_arr = labels_arr.astype(int)
    if labels_arr.min(initial=1) != 0 or labels_arr.max(initial=0) != 1:
        raise ValueError("the audit needs both neutral (0) and insulting (1) sentences")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a number, not {threshold!r}")
    if flag_ratio <= 0:
        raise ValueError(f"flag_ratio must be positive, not {flag_ratio!r}")
    return _compute_bias_metrics(
        scores_arr,
        labels_arr,
        terms_arr,
        threshold=float(threshold),
        categories=dict(categories or {}),
        label=label,
        flag_ratio=float(flag_ratio),
    )


def _auc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """ROC AUC of positives against negatives (ties count one half); NaN when a side is empty."""
    if not len(positive_scores) or not len(negative_scores):
        return math.nan
    truth = np.r_[np.ones(len(positive_scores)), np.zeros(len(negative_scores))]
    return float(roc_auc_score(truth, np.r_[positive_scores, negative_scores]))


def _compute_bias_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    terms: np.ndarray,
    *,
    threshold: float,
    categories: dict[str, str],
    label: str,
    flag_ratio: float,
) -> BiasAudit:
    positive = labels == 1
    negative = ~positive
    flagged_sentence = scores >= threshold
    overall_fpr = float(flagged_sentence[negative].mean())
    overall_auc = _auc(scores[positive], scores[negative])
    rows = []
    for term in pd.unique(terms):
        in_group = terms == term
        group_negative = in_group & negative
        false_positives = int((flagged_sentence & group_negative).sum())
        fpr = false_positives / group_negative.sum() if group_negative.any() else math.nan
        if overall_fpr > 0:
            ratio = fpr / overall_fpr
        else:
            ratio = math.nan if math.isnan(fpr) else (0.0 if fpr == 0 else math.inf)
        rows.append(
            {
                "term": str(term),
                "category": categories.get(str(term), ""),
                "sentences": int(in_group.sum()),
                "neutral": int(group_negative.sum()),
                "insulting": int((in_group & positive).sum()),
                "false_positives": false_positives,
                "fpr": fpr,
                "fpr_ratio": ratio,
                "subgroup_auc": _auc(scores[in_group & positive], scores[group_negative]),
                "bpsn_auc": _auc(scores[~in_group & positive], scores[group_negative]),
                "bnsp_auc": _auc(scores[in_group & positive], scores[~in_group & negative]),
                # Strictly above the limit: with no false positives anywhere nothing is flagged.
                "flagged": bool(fpr > flag_ratio * overall_fpr),
            }
        )
    table = pd.DataFrame(rows, columns=list(_TERM_COLUMNS))
    table = table.sort_values(
        ["fpr", "bpsn_auc", "term"], ascending=[False, True, True], na_position="last", kind="stable"
    ).reset_index(drop=True)
    return BiasAudit(
        label=label,
        threshold=threshold,
        overall_fpr=overall_fpr,
        overall_auc=overall_auc,
        neutral=int(negative.sum()),
        insulting=int(positive.sum()),
        terms=table,
        flag_ratio=flag_ratio,
    )


# --- the audit of a model ------------------------------------------------------------------------


def audit_bias(
    *,
    model_ref: str | Path | None = None,
    model: Any | None = None,
    label: str = "insult",
    audit_set: pd.DataFrame | None = None,
) -> BiasAudit:
    """Score the audit set with a model and compute ``bias_metrics`` at its card's threshold.

    ``model_ref`` is a version or a model folder (None: the active model); ``model`` an
    already loaded model (it wins). ``audit_set`` defaults to ``build_audit_set()``.
    """
    if label not in config.LABELS:
        raise ModerationError(
            f"unknown label {label!r}", hint="use --label " + " or --label ".join(config.LABELS)
        )
    if model is None:
        from moderation.registry import load_model

        model = load_model(model_ref)
    sentences = build_audit_set() if audit_set is None else audit_set
    scored = model.score_texts(sentences["text"].tolist())
    categories = dict(zip(sentences["term"], sentences["category"], strict=True))
    audit = bias_metrics(
        scored[f"{label}_score"].to_numpy(),
        sentences["label"].to_numpy(),
        sentences["term"].to_numpy(),
        threshold=float(model.thresholds[label]),
        categories=categories,
        label=label,
    )
    audit.model_version = str(getattr(model, "version", ""))
    from moderation.lexicon import IDENTITY_TERMS as TRAINING_TERMS

    training_terms = {term.lower() for term in TRAINING_TERMS}
    audit.terms.insert(
        2, "in_training_list", [term.lower() in training_terms for term in audit.terms["term"]]
    )
    if label == "troll":
        audit.notes.append(
            "Troll: neutral sentences are the negatives; the insulting ones stand in for the positives."
        )
    return audit
