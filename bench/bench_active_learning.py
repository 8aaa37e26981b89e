"""Active learning on Kaggle insults: labels chosen by uncertainty against labels chosen at random.

A simulation of the Needs review loop (issue 7). The pool is ``insults/train.csv`` (rows whose
text, or a duplicate of it, is in the test file are left out, as in ``train_model``); every
round is scored on ``insults/test_with_solutions.csv``. Each seed draws the same ``--start``
labels for both strategies, then adds ``--batch`` labels per round up to ``--max-labels``
(default 2,500, about two thirds of the 3,945-row pool: run until the pool is exhausted, both
strategies end on the same labelled set and so on the same AUC, which leaves nothing to
compare; ``--max-labels 0`` runs to the end anyway):
- ``uncertainty``: the unlabelled rows whose probability is closest to the current model's
  threshold, at most one per duplicate group (``moderation.training.text_groups``), chosen with
  ``moderation.review.closest_to_threshold``, the in-memory form of the store's queue;
- ``random``: rows drawn at random from the unlabelled pool.
Features: ``HashedTextFeatures`` with the default parameters, fitted once on every pool text
(it only learns idf weights, no labels), restricted to the columns the pool uses. Model per
round (``--head``):
- ``calibrated`` (default): the shipped ``CalibratedLinearHead(C=2)`` (the insult head's C);
  its threshold is the best-F1 threshold of its grouped out-of-fold probabilities on the
  labelled rows, as ``train_model`` chooses the model's threshold: the same rule as the store's
  queue. Six liblinear fits per round (five for the calibration): 4 to 6 minutes for 3 seeds;
- ``logistic``: a plain logistic regression (liblinear, C=2) with the threshold 0.5; one fit
  per round: 1 to 2 minutes for 5 seeds (timed on 2 shared cores).
The summary compares the median curves over seeds: the labels uncertainty needs to first
reach random's final AUC, and the saving against random's label count (issue 7: >= 30%); and
the same at every earlier budget (had labelling stopped after that round). When the rounds run
until the pool is exhausted, both strategies end on the same labelled set, so random's final
AUC is the whole pool's AUC.
Writes bench/results/active_learning.json and .html beside it (altair; .svg and .png too when
vl-convert is installed); ``--head logistic`` and ``--quick`` add ``_logistic`` and
``_quick`` to the names, ``--output`` chooses the JSON path. ``--quick`` runs two seeds and
four rounds, as a smoke test.
Usage: python bench/bench_active_learning.py [--seeds 3] [--batch 200] [--start 500]
       [--max-labels N] [--head calibrated|logistic] [--quick] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, markdown_table

from moderation import config
from moderation.classifier import CalibratedLinearHead
from moderation.features import HashedTextFeatures
from moderation.review import closest_to_threshold
from moderation.training import CORPORA, best_threshold, text_groups

#: Issue 7: uncertainty must reach random's final AUC with at least this share fewer labels.
SAVING_FLOOR = 0.30
STRATEGIES = ("uncertainty", "random")
#: C of the shipped insult head (``training.DEFAULT_PARAMS``), used by both heads here.
HEAD_C = 2.0

#: Where labelling stops by default (see the module docstring).
DEFAULT_MAX_LABELS = 2_500


def _pool_and_test() -> tuple[pd.DataFrame, pd.DataFrame, int]:
    root = config.SHARED_DATA_DIR
    if not (root / "insults" / "train.csv").is_file():
        sys.exit(f"this benchmark needs the Kaggle insults files in {root / 'insults'}, which are missing")
    pool = CORPORA["kaggle_insults_train"].loader(root)
    test = CORPORA["kaggle_insults_test"].loader(root)
    leaked = np.isin(pool["group"].to_numpy(), list(set(text_groups(test["text"]))))
    return pool[~leaked].reset_index(drop=True), test, int(leaked.sum())


def _matrices(pool: pd.DataFrame, test: pd.DataFrame) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    features = HashedTextFeatures().fit(pool["text"].tolist())
    X_pool = features.transform(pool["text"].tolist())
    X_pool.eliminate_zeros()
    # Columns no pool text uses get no weight from any fit: dropping them changes no score and
    # makes liblinear several times faster (2**21 columns down to about 120,000).
    used = np.flatnonzero(np.diff(X_pool.tocsc().indptr))
    return X_pool[:, used].tocsr(), features.transform(test["text"].tolist())[:, used].tocsr()


def _fit(head: str, X: sparse.csr_matrix, y: np.ndarray, groups: np.ndarray) -> tuple[object, float]:
    """The round's model and its decision threshold."""
    if head == "logistic":
        model = LogisticRegression(C=HEAD_C, solver="liblinear", max_iter=2000, random_state=config.SEED)
        return model.fit(X, y), 0.5
    model = CalibratedLinearHead(C=HEAD_C).fit(X, y, groups=groups)
    return model, best_threshold(y, model.oof_proba_, np.ones(len(y)))


def _simulate(
    strategy: str,
    seed: int,
    *,
    X_pool: sparse.csr_matrix,
    y_pool: np.ndarray,
    groups: np.ndarray,
    X_test: sparse.csr_matrix,
    y_test: np.ndarray,
    start: int,
    batch: int,
    max_labels: int,
    head: str,
) -> list[dict]:
    # The same first labels for both strategies of a seed; random's later draws use their own stream.
    labelled = np.random.default_rng([config.SEED, seed]).choice(len(y_pool), size=start, replace=False)
    draws = np.random.default_rng([config.SEED, seed, 1])
    rounds = []
    while True:
        started = time.perf_counter()
        # Sorted, so that the same labelled set gives the same model whatever order it was chosen in.
        labelled = np.sort(labelled)
        model, threshold = _fit(head, X_pool[labelled], y_pool[labelled], groups[labelled])
        test_scores = model.predict_proba(X_test)[:, 1]
        rounds.append(
            {
                "strategy": strategy,
                "seed": seed,
                "labels": len(labelled),
                "auc": float(roc_auc_score(y_test, test_scores)),
                "ap": float(average_precision_score(y_test, test_scores)),
                "positive_share": float(y_pool[labelled].mean()),
                "threshold": float(threshold),
            }
        )
        unlabelled = np.setdiff1d(np.arange(len(y_pool)), labelled)
        size = min(batch, len(unlabelled), max_labels - len(labelled))
        if size <= 0:
            rounds[-1]["seconds"] = round(time.perf_counter() - started, 2)
            return rounds
        if strategy == "uncertainty":
            pool_scores = model.predict_proba(X_pool[unlabelled])[:, 1]
            picked = unlabelled[
                closest_to_threshold(pool_scores, threshold, groups=groups[unlabelled], size=size)
            ]
            if len(picked) < size:  # fewer groups than the batch: the last rows of the pool
                rest = np.setdiff1d(unlabelled, picked)
                picked = np.r_[picked, draws.choice(rest, size=size - len(picked), replace=False)]
        else:
            picked = draws.choice(unlabelled, size=size, replace=False)
        labelled = np.r_[labelled, picked]
        rounds[-1]["seconds"] = round(time.perf_counter() - started, 2)


def _labels_to_reach(curve: pd.DataFrame, target: float) -> int | None:
    """The first label count at which ``curve`` (labels, auc) reaches ``target``."""
    reached = curve[curve["auc"] >= target]
    return int(reached["labels"].min()) if len(reached) else None


def _medians(rounds: pd.DataFrame) -> pd.DataFrame:
    return (
        rounds.groupby(["strategy", "labels"])[["auc", "ap", "positive_share", "threshold"]]
        .median()
        .reset_index()
    )


def _summary(rounds: pd.DataFrame, medians: pd.DataFrame) -> dict:
    uncertainty = medians[medians["strategy"] == "uncertainty"]
    random_curve = medians[medians["strategy"] == "random"]
    final = random_curve[random_curve["labels"] == random_curve["labels"].max()].iloc[0]
    needed = _labels_to_reach(uncertainty, float(final["auc"]))
    saving = None if needed is None else 1 - needed / int(final["labels"])
    # The same question at every budget: what if labelling had stopped after this round?
    by_budget = {}
    for labels, auc in zip(random_curve["labels"], random_curve["auc"], strict=True):
        matched = _labels_to_reach(uncertainty, float(auc))
        by_budget[int(labels)] = {
            "random_auc": float(auc),
            "uncertainty_labels": matched,
            "saving": None if matched is None else 1 - matched / int(labels),
        }
    per_seed = {}
    for seed, of_seed in rounds.groupby("seed"):
        mine = of_seed[of_seed["strategy"] == "random"]
        target = float(mine.loc[mine["labels"].idxmax(), "auc"])
        got = _labels_to_reach(of_seed[of_seed["strategy"] == "uncertainty"], target)
        per_seed[int(seed)] = {
            "random_final_auc": target,
            "uncertainty_labels": got,
            "saving": None if got is None else 1 - got / int(mine["labels"].max()),
        }
    before_final = uncertainty[uncertainty["labels"] < int(final["labels"])]
    best = before_final.loc[before_final["auc"].idxmax()] if len(before_final) else None
    return {
        "random_final_labels": int(final["labels"]),
        "random_final_auc": float(final["auc"]),
        "uncertainty_labels_to_reach_it": needed,
        "saving": saving,
        "saving_floor": SAVING_FLOOR,
        "meets_floor": saving is not None and saving >= SAVING_FLOOR,
        "per_seed": per_seed,
        "by_budget": by_budget,
        "budgets_meeting_floor": [n for n, b in by_budget.items() if (b["saving"] or 0) >= SAVING_FLOOR],
        "uncertainty_best_before_final": None
        if best is None
        else {"labels": int(best["labels"]), "auc": float(best["auc"])},
    }


def _plot(rounds: pd.DataFrame, medians: pd.DataFrame, summary: dict, stem: Path) -> list[Path]:
    import altair as alt

    spread = rounds.groupby(["strategy", "labels"])["auc"].agg(low="min", high="max").reset_index()
    colour = alt.Color("strategy:N", scale=alt.Scale(domain=list(STRATEGIES)), title="labels chosen by")
    x = alt.X("labels:Q", title="labelled comments")
    band = (
        alt.Chart(spread)
        .mark_area(opacity=0.15)
        .encode(x=x, y=alt.Y("low:Q", title="ROC AUC on test_with_solutions.csv"), y2="high:Q", color=colour)
    )
    lines = (
        alt.Chart(medians)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("auc:Q", scale=alt.Scale(zero=False)),
            color=colour,
            tooltip=[
                "strategy",
                "labels",
                alt.Tooltip("auc:Q", format=".4f"),
                alt.Tooltip("ap:Q", format=".4f"),
            ],
        )
    )
    target = (
        alt.Chart(pd.DataFrame({"auc": [summary["random_final_auc"]]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="auc:Q")
    )
    seeds = rounds["seed"].nunique()
    chart = (band + lines + target).properties(
        title=f"Active learning on Kaggle insults: median of {seeds} seeds (band: min to max)",
        width=640,
        height=360,
    )
    written = [stem.with_suffix(".html")]
    chart.save(written[0])
    try:
        import vl_convert  # noqa: F401  (altair's engine for static images)
    except ImportError:
        return written
    for suffix in (".svg", ".png"):
        chart.save(stem.with_suffix(suffix))
        written.append(stem.with_suffix(suffix))
    return written


def _count(value: int | None) -> str:
    return "never" if value is None else f"{value:,}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 3; 2 with --quick)")
    parser.add_argument("--batch", type=int, default=200, help="labels added per round")
    parser.add_argument("--start", type=int, default=500, help="labels drawn at random before round 1")
    parser.add_argument(
        "--max-labels", type=int, default=DEFAULT_MAX_LABELS, help="stop here (0: the whole pool)"
    )
    parser.add_argument("--head", choices=("calibrated", "logistic"), default="calibrated")
    parser.add_argument("--quick", action="store_true", help="two seeds, four rounds: a smoke run")
    parser.add_argument(
        "--output", type=Path, default=None, help="JSON file (default bench/results/active_learning*.json)"
    )
    args = parser.parse_args()
    seeds = args.seeds or (2 if args.quick else 3)
    if args.quick and args.max_labels == DEFAULT_MAX_LABELS:
        args.max_labels = args.start + 4 * args.batch
    started = time.perf_counter()

    pool, test, leaked = _pool_and_test()
    X_pool, X_test = _matrices(pool, test)
    y_pool = pool["insult"].to_numpy(dtype=int)
    y_test = test["insult"].to_numpy(dtype=int)
    max_labels = min(args.max_labels or len(pool), len(pool))
    if not 0 < args.start < max_labels or args.batch < 1:
        sys.exit(f"need 0 < --start < {max_labels} (the labels to stop at) and --batch >= 1")
    print(
        f"pool {len(pool):,} comments ({leaked} test duplicates left out), {X_pool.shape[1]:,} columns; "
        f"test {len(test):,}; head {args.head}; {seeds} seeds",
        flush=True,
    )

    rounds = []
    # One BLAS/OpenMP thread, as in train_model: the machine is shared and results repeat.
    with threadpool_limits(limits=1):
        for seed in range(seeds):
            for strategy in STRATEGIES:
                curve = _simulate(
                    strategy,
                    seed,
                    X_pool=X_pool,
                    y_pool=y_pool,
                    groups=pool["group"].to_numpy(),
                    X_test=X_test,
                    y_test=y_test,
                    start=args.start,
                    batch=args.batch,
                    max_labels=max_labels,
                    head=args.head,
                )
                rounds += curve
                seconds = sum(r["seconds"] for r in curve)
                print(
                    f"seed {seed} {strategy}: {len(curve)} rounds, final AUC {curve[-1]['auc']:.4f}, "
                    f"{seconds:.0f} s",
                    flush=True,
                )
    frame = pd.DataFrame(rounds)
    medians = _medians(frame)
    summary = _summary(frame, medians)

    wide = medians.pivot(index="labels", columns="strategy")
    table = [
        {
            "labels": int(labels),
            "AUC uncertainty": f"{wide.at[labels, ('auc', 'uncertainty')]:.4f}",
            "AUC random": f"{wide.at[labels, ('auc', 'random')]:.4f}",
            "AP uncertainty": f"{wide.at[labels, ('ap', 'uncertainty')]:.4f}",
            "AP random": f"{wide.at[labels, ('ap', 'random')]:.4f}",
            "positives uncertainty": f"{wide.at[labels, ('positive_share', 'uncertainty')]:.1%}",
            "positives random": f"{wide.at[labels, ('positive_share', 'random')]:.1%}",
            "uncertainty labels for random's AUC": _count(summary["by_budget"][labels]["uncertainty_labels"]),
            "saving": _share(summary["by_budget"][labels]["saving"]),
        }
        for labels in wide.index
    ]
    print(
        f"\nMedian of {seeds} seeds per round. Positives: share of insults among the labelled rows. "
        "The last two columns: the labels uncertainty first needs to reach random's AUC of that "
        "row, and how many fewer that is.\n"
    )
    print(markdown_table(table))

    needed, saving = summary["uncertainty_labels_to_reach_it"], summary["saving"]
    verdict = "meets it" if summary["meets_floor"] else "BELOW it"
    print(
        f"\nrandom's final AUC: {summary['random_final_auc']:.4f} "
        f"at {summary['random_final_labels']:,} labels"
    )
    if needed is None:
        print("uncertainty never reached it")
    else:
        print(f"uncertainty first reached it at {needed:,} labels: {saving:.1%} fewer")
    print(f"saving floor {SAVING_FLOOR:.0%}: {verdict}")
    best = summary["uncertainty_best_before_final"]
    if best is not None:
        print(f"uncertainty's best AUC before the last round: {best['auc']:.4f} at {best['labels']:,} labels")
    meeting = summary["budgets_meeting_floor"]
    print(
        f"budgets (random's labels) at which uncertainty matched random's AUC with >= {SAVING_FLOOR:.0%} "
        f"fewer labels: {', '.join(f'{n:,}' for n in meeting) or 'none'} ({len(meeting)} of "
        f"{len(summary['by_budget'])})"
    )
    per_seed = [
        f"seed {seed} {got['uncertainty_labels']} (" + _share(got["saving"]) + ")"
        for seed, got in summary["per_seed"].items()
    ]
    print("per seed, labels uncertainty needed for that seed's random final AUC: " + ", ".join(per_seed))
    elapsed = round(time.perf_counter() - started, 1)
    # One file per variant by default, so a smoke run or the logistic head keeps the default's files.
    output = args.output or RESULTS_DIR / (
        "active_learning"
        + ("" if args.head == "calibrated" else f"_{args.head}")
        + ("_quick" if args.quick else "")
        + ".json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    plots = _plot(frame, medians, summary, output.with_suffix(""))
    payload = {
        "benchmark": "active_learning",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rounds,
        "medians": medians.to_dict("records"),
        "summary": summary,
        "parameters": {
            "seeds": seeds,
            "batch": args.batch,
            "start": args.start,
            "max_labels": max_labels,
            "head": args.head,
            "threshold": "0.5" if args.head == "logistic" else "best F1 on grouped out-of-fold probabilities",
            "pool": len(pool),
            "test": len(test),
            "test_duplicates_left_out": leaked,
        },
        "seconds": elapsed,
    }
    output.write_text(json.dumps(payload, indent=2))
    print(f"{elapsed} s; wrote {output} and {', '.join(str(p) for p in plots)}")


if __name__ == "__main__":
    main()
