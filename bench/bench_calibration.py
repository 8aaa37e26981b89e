"""Calibration of the default model on every labelled test split: as shipped, and recalibrated
to the split's own labels the way a site's moderators' labels recalibrate it (``SiteCalibration``).

For each split of ``moderation.training.TEST_SPLITS`` (the public ones), the shipped model's
scores (ELF24 comments in their thread, as training evaluates them) and:
- ``as shipped``: expected calibration error (10 equal-width bins) of the scores as they are;
- ``site, 5-fold``: the split's labels stand in for a site's moderators: a ``SiteCalibration``
  (beta calibration, as ``moderation train`` fits on the moderators' labels) is
  fitted on four folds and applied to the fifth (stratified, seeded), and the ECE is taken over
  all rows so scored, none calibrated by a map that saw its own label;
- ``site, K labels``: the map fitted on K labels drawn at random from the split and judged on
  all the others; the median over ``--draws`` draws (K = 100 and 300), so a site knows how many
  labels it takes.
The floor (issue 9) is an ECE of 0.05 or less on each split. AUC is the same in every column:
the map is monotone. Usage: python bench/bench_calibration.py [--model VERSION] [--draws 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, save_results

from moderation import config
from moderation.classifier import ModerationModel, SiteCalibration
from moderation.evaluate import expected_calibration_error
from moderation.registry import load_model
from moderation.training import MODERATORS, TEST_SPLITS, assemble_corpus

FLOOR = 0.05
LABEL_COUNTS = (100, 300)


def _split_scores(model: ModerationModel) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    corpora = sorted({corpus for _, corpus, _, _ in TEST_SPLITS if corpus != MODERATORS})
    tests = assemble_corpus(corpora)
    scored = {
        corpus: model.score_frame(tests[tests["corpus"] == corpus].reset_index(drop=True), explain=False)
        for corpus in corpora
    }
    out = {}
    for name, corpus, label, subset in TEST_SPLITS:
        if corpus == MODERATORS:
            continue
        frame = scored[corpus]
        mask = frame[label].notna()
        if subset is not None:
            mask &= frame["subset"] == subset
        out[name] = (frame.loc[mask, label].to_numpy(dtype=int), frame.loc[mask, f"{label}_score"].to_numpy())
    return out


def _cross_fitted(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    calibrated = np.zeros(len(y))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=config.SEED)
    for fit, judge in folds.split(p, y):
        calibrated[judge] = SiteCalibration.fit(p[fit], y[fit]).apply(p[judge])
    return calibrated


def _with_k_labels(y: np.ndarray, p: np.ndarray, k: int, draws: int) -> float | None:
    if k >= len(y) - 50:
        return None
    rng = np.random.default_rng(config.SEED)
    errors = []
    while len(errors) < draws:
        chosen = np.zeros(len(y), dtype=bool)
        chosen[rng.choice(len(y), size=k, replace=False)] = True
        try:
            calibrated = SiteCalibration.fit(p[chosen], y[chosen]).apply(p[~chosen])
        except ValueError:
            # One class only, or scores that fall with these few labels: training keeps the
            # corpus calibration then, and so does this draw.
            calibrated = p[~chosen]
        errors.append(expected_calibration_error(y[~chosen], calibrated))
    return statistics.median(errors)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="model version or folder (default: the active one)")
    parser.add_argument("--draws", type=int, default=20)
    args = parser.parse_args()
    model = load_model(args.model)
    rows = []
    for name, (y, p) in _split_scores(model).items():
        shipped = expected_calibration_error(y, p)
        site = expected_calibration_error(y, _cross_fitted(y, p))
        row = {
            "split": name,
            "n": len(y),
            "positive_rate": f"{y.mean():.3f}",
            "auc": f"{roc_auc_score(y, p):.4f}",
            "ece_as_shipped": f"{shipped:.3f}",
            "ece_site_5fold": f"{site:.3f}",
        }
        for k in LABEL_COUNTS:
            median = _with_k_labels(y, p, k, args.draws)
            row[f"ece_site_{k}_labels"] = "-" if median is None else f"{median:.3f}"
        row["floor_as_shipped"] = "ok" if shipped <= FLOOR else "fails"
        row["floor_site"] = "ok" if site <= FLOOR else "fails"
        rows.append(row)
        print(f"{name}: done", flush=True)
    print()
    print(markdown_table(rows))
    print(
        f"\nmodel {model.version}; ECE over 10 equal-width bins; floor {FLOOR}; "
        f"K-label columns: median of {args.draws} draws, judged on the rest of the split"
    )
    path = save_results("calibration", rows, model=model.version, draws=args.draws, floor=FLOOR)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
