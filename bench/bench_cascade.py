"""Issue 8's cascade, measured: a cheap word model scores every comment and the full model rescores
only the comments the cheap one cannot clear. Would it make scoring faster, and at what cost?

Measures in one run, on the active model (or ``--model``), everything pinned to one CPU core
(``os.sched_setaffinity``), these cheap stages:
- ``hv12``: a HashingVectorizer of word 1-2 grams (lower case, 2**20 columns) and a
  LogisticRegression per label, trained on the model's training rows as ``train_model``
  assembles them (test duplicates removed);
- ``apc_only``: alt-profanity-check ``predict_prob`` for both labels;
- ``apc+hv12``: alt-profanity-check for insult, hv12's troll head for troll.
A comment is cleared when both cheap scores fall under their cut-offs; it then keeps no flag.
The cut-offs are chosen on grouped out-of-fold cheap scores of the training rows (identity-balance
sentences left out): the pair (one cut for apc_only) that clears the most rows while clearing at
most each ``--targets`` share of the rows the full model flags. Then:
1. seconds of each cheap stage on 100,000 distinct comments (``common.write_distinct_jsonl``) beside
   the full model's ``score_frame`` (both labels, reasons) and its text kernel (``_text_logits``);
2. per variant and target: the cut-offs, the share of training rows and of the sample cleared,
   and the sample's flags lost;
3. on every test split the card's metrics list: the cascade's ROC AUC (a cleared comment scores
   below every full score, in the cheap stage's order) minus the full model's, and flags lost;
4. projected end to end: ``moderation score --jobs 1`` measured on the same rows, with the full
   ``score_frame`` replaced by the cheap stage plus ``score_frame`` of the rows left (measured);
   with start-up, also the import of scikit-learn (and alt-profanity-check's load) that the
   scoring-only model avoids today. A 1-row run shows the CLI's own start-up.
Seconds are medians of ``--repeats`` interleaved repeats; ``vs_apc`` is alt-profanity-check's
seconds over the row's (above 1 is faster). Usage:
    python bench/bench_cascade.py [--targets 0.005,0.01] [--repeats 3] [--output PATH.json]
        [--model VERSION]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    RESULTS_DIR,
    markdown_table,
    pin_to_one_core,
    save_results,
    score_in_frames,
    write_distinct_jsonl,
)

from moderation import config

ROWS = 100_000
VARIANTS = ("hv12", "apc_only", "apc+hv12")
#: C of hv12's logistic regression per label.
CHEAP_C = {"insult": 4.0, "troll": 2.0}
#: What a cheap stage adds to a scoring run's start, each measured against ``import numpy, pandas``.
STARTUP_PROBES = {
    "base": "import numpy, pandas",
    "hv12": "import numpy, pandas, sklearn.feature_extraction.text",
    "apc": "import numpy, pandas; from profanity_check import predict_prob; predict_prob(['x'])",
}


def _vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        ngram_range=(1, 2), n_features=2**20, alternate_sign=False, lowercase=True, norm="l2",
        dtype=np.float32,
    )  # fmt: skip


def _fit_head(X, rows: pd.DataFrame, label: str) -> LogisticRegression:
    known = rows[label].notna().to_numpy()
    y = rows[label].to_numpy()[known] >= 0.5
    head = LogisticRegression(C=CHEAP_C[label], solver="liblinear", max_iter=200)
    return head.fit(X[known], y, sample_weight=rows[f"{label}_weight"].to_numpy(dtype=float)[known])


def _train_hv12(train: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grouped out-of-fold scores of the training rows (n x 2) and the heads fit on all rows."""
    X = _vectorizer().transform(train["text"].tolist())
    oof = np.zeros((len(train), 2))
    for fit, held in GroupKFold(n_splits=config.CV_FOLDS).split(X, groups=train["group"]):
        for j, label in enumerate(config.LABELS):
            oof[held, j] = _fit_head(X[fit], train.iloc[fit], label).predict_proba(X[held])[:, 1]
    heads = [_fit_head(X, train, label) for label in config.LABELS]
    coef = np.vstack([head.coef_[0] for head in heads]).T.astype(np.float32)
    return oof, coef, np.array([head.intercept_[0] for head in heads])


def _hv12_scores(texts: list[str], coef: np.ndarray, intercept: np.ndarray, heads=slice(None)) -> np.ndarray:
    z = _vectorizer().transform(texts) @ coef[:, heads] + intercept[heads]
    return 1 / (1 + np.exp(-z))


def _stage(variant: str, hv: np.ndarray, apc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (insult, troll) cheap scores of a variant."""
    return {"hv12": (hv[:, 0], hv[:, 1]), "apc_only": (apc, apc), "apc+hv12": (apc, hv[:, 1])}[variant]


def _cleared(variant: str, cheap: tuple[np.ndarray, np.ndarray], cut: tuple[float, float]) -> np.ndarray:
    insult, troll = _stage(variant, *cheap)
    return (insult < cut[0]) & (troll < cut[1])


def _choose(ci: np.ndarray, ct: np.ndarray, flagged: np.ndarray, target: float, *, single: bool, bins=400):
    """Cut-offs clearing the most rows with at most ``target`` of the flagged rows cleared, on a grid
    of ``bins`` quantiles per score (``single``: one cut for both, the scores being the same)."""
    qi = np.unique(np.quantile(ci, np.linspace(0, 1, bins + 1)))
    if single:
        best = (qi[0], 0.0)
        for cut in qi:
            cleared = ci < cut
            if flagged[cleared].sum() / flagged.sum() <= target and cleared.mean() > best[1]:
                best = (cut, cleared.mean())
        return best[0], best[0]
    qt = np.unique(np.quantile(ct, np.linspace(0, 1, bins + 1)))
    # a row is cleared by the cuts (qi[k], qt[j]) iff bi <= k and bt <= j
    bi, bt = np.searchsorted(qi, ci, side="right"), np.searchsorted(qt, ct, side="right")
    rows, flags = np.zeros((len(qi) + 1, len(qt) + 1)), np.zeros((len(qi) + 1, len(qt) + 1))
    np.add.at(rows, (bi, bt), 1)
    np.add.at(flags, (bi, bt), flagged.astype(float))
    rows, flags = rows.cumsum(0).cumsum(1)[:-1, :-1], flags.cumsum(0).cumsum(1)[:-1, :-1]
    k, j = np.unravel_index(np.argmax(np.where(flags / flagged.sum() <= target, rows, -1)), rows.shape)
    return qi[k], qt[j]


def _full_scores(model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Both full scores (n x 2) and the flags, corpus by corpus (ELF24 in its threads, as training)."""
    scores, flagged = np.zeros((len(frame), 2)), np.zeros(len(frame), dtype=bool)
    for corpus in frame["corpus"].unique():
        mask = (frame["corpus"] == corpus).to_numpy()
        scored = model.score_frame(frame[mask].reset_index(drop=True), explain=False)
        scores[mask] = scored[["insult_score", "troll_score"]].to_numpy()
        flagged[mask] = (scored["flag"] != "").to_numpy()
    return scores, flagged


def _timed(jobs: dict, repeats: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, run in jobs.items():
            gc.collect()
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def _four(rows: list[dict]) -> list[dict]:
    return [{k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows]


def _cascade(variant, target, cut, cheap, full, flags, real, tests, splits, thresholds, card):
    """The cut-offs' row of table 2 and the cascade's rows of table 3 (one per test split)."""
    cleared = {part: _cleared(variant, scores, cut) for part, scores in cheap.items()}
    train_flags, lost = full["train"][1][real], int((cleared["sample"] & flags).sum())
    row = {
        "variant": variant, "target": target, "cut_insult": float(cut[0]), "cut_troll": float(cut[1]),
        "train_cleared": float(cleared["train"][real].mean()),
        "train_flags_cleared": float(cleared["train"][real][train_flags].mean()),
        "sample_cleared": float(cleared["sample"].mean()), "sample_flags_lost": lost,
        "sample_flags": int(flags.sum()), "sample_flags_lost_share": lost / flags.sum(),
    }  # fmt: skip
    scores, flagged = full["tests"]
    rows = []
    for name, corpus, label, subset in splits:
        j = config.LABELS.index(label)
        m = ((tests["corpus"] == corpus) & tests[label].notna()).to_numpy()
        if subset is not None:
            m = m & (tests["subset"] == subset).to_numpy()
        y, gone, full_score = tests[label].to_numpy()[m] >= 0.5, cleared["tests"][m], scores[m, j]
        # a cleared comment ranks below every full score (those are in [0, 1]), in the cheap stage's order
        cascade = np.where(gone, _stage(variant, *cheap["tests"])[j][m] - cut[j], full_score)
        auc_full = roc_auc_score(y, full_score)
        rows.append({
            "config": f"{variant}@{target:g}", "split": name, "label": label, "n": int(m.sum()),
            "cleared": float(gone.mean()), "auc_full": auc_full,
            "auc_delta": roc_auc_score(y, cascade) - auc_full, "flagged": int(flagged[m].sum()),
            "flags_lost": int((gone & flagged[m]).sum()),
            "true_flags_lost": int((gone & y & (full_score >= thresholds[label])).sum()),
            "card_auc": card["metrics"][name]["auc"],
        })  # fmt: skip
    return row, rows, ~cleared["sample"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", default="0.005,0.01", help="shares of flags a cascade may clear")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "cascade.json")
    parser.add_argument("--model", default=None, help="model version or folder (default: the active one)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/moderation-bench"))
    args = parser.parse_args()
    targets = [float(t) for t in args.targets.split(",") if t]
    if not (config.SHARED_DATA_DIR / "README.md").is_file():
        sys.exit(
            f"this benchmark trains on the corpora in {config.SHARED_DATA_DIR}, which are missing: "
            "put the shared data there or set MODERATION_SHARED_DIR"
        )
    pin_to_one_core()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from profanity_check import predict_prob

    from moderation.registry import load_model
    from moderation.training import (
        CORPORA,
        TEST_SPLITS,
        assemble_corpus,
        resolve_data_spec,
        without_duplicates_of,
    )

    model = load_model(args.model, for_scoring=True)  # what `moderation score` loads
    card = model.card
    names = resolve_data_spec((card.get("training_data") or {}).get("spec"))
    tests = assemble_corpus([n for n, c in CORPORA.items() if c.split == "test" and n not in names])
    train, _ = without_duplicates_of(assemble_corpus(names).assign(split="train"), tests["text"])
    present = set(tests["corpus"])
    splits = [s for s in TEST_SPLITS if s[0] in card.get("metrics", {}) and s[1] in present]
    source = write_distinct_jsonl(args.workdir / f"distinct_{ROWS}.jsonl", ROWS)
    raw = pd.read_json(source, lines=True, dtype=False)
    sample = pd.DataFrame({"comment_id": raw["id"].astype(str), "text": raw["text"].astype(str)})
    texts = sample["text"].tolist()
    print(f"model {model.version}: {len(train):,} training rows, {len(tests):,} test rows", flush=True)

    full = {"train": _full_scores(model, train), "tests": _full_scores(model, tests)}
    chunks = range(0, ROWS, config.CHUNK_ROWS)
    parts = [model.score_frame(sample.iloc[s : s + config.CHUNK_ROWS], explain=False) for s in chunks]
    flags = (pd.concat(parts)["flag"] != "").to_numpy()
    oof, coef, intercept = _train_hv12(train)
    test_texts = tests["text"].tolist()
    cheap = {
        "train": (oof, np.asarray(predict_prob(train["text"].tolist()))),
        "tests": (_hv12_scores(test_texts, coef, intercept), np.asarray(predict_prob(test_texts))),
        "sample": (_hv12_scores(texts, coef, intercept), np.asarray(predict_prob(texts))),
    }
    real = (train["corpus"] != "identity_balance").to_numpy()
    oof_auc = {}
    for j, label in enumerate(config.LABELS):
        m = real & train[label].notna().to_numpy()
        y, weights = train[label].to_numpy()[m] >= 0.5, train[f"{label}_weight"].to_numpy()[m]
        oof_auc[label] = round(roc_auc_score(y, oof[m, j], sample_weight=weights), 4)
    print(f"cheap stages ready; hv12 out-of-fold AUC {oof_auc}", flush=True)

    cutoffs, test_rows, left = [], [], {}
    for variant in VARIANTS:
        train_i, train_t = _stage(variant, *cheap["train"])
        for target in targets:
            single = variant == "apc_only"
            cut = _choose(train_i[real], train_t[real], full["train"][1][real], target, single=single)
            context = (cheap, full, flags, real, tests, splits, model.thresholds, card)
            row, rows, keep = _cascade(variant, target, cut, *context)
            cutoffs.append(row)
            test_rows += rows
            left[f"{variant}@{target:g}"] = sample[keep].reset_index(drop=True)

    one_row = args.workdir / "cascade_1.jsonl"
    one_row.write_text(source.read_text(encoding="utf-8").split("\n", 1)[0] + "\n", encoding="utf-8")
    output = args.workdir / "cascade_scored.csv"
    command = [sys.executable, "-m", "moderation.cli", "score", "-o", str(output), "--jobs", "1"]
    command += ["--model", args.model] if args.model else []
    model.score_frame(sample.head(100))  # warm caches (prepared tables) before timing
    stages = {"hv12": "hv12 (both heads)", "apc_only": "apc_only (predict_prob)",
              "apc+hv12": "apc+hv12 (predict_prob, hv12 troll head)"}  # fmt: skip
    jobs = {
        stages["hv12"]: lambda: _hv12_scores(texts, coef, intercept),
        stages["apc_only"]: lambda: predict_prob(texts),
        stages["apc+hv12"]: lambda: (predict_prob(texts), _hv12_scores(texts, coef, intercept, heads=[1])),
        "full score_frame": lambda: score_in_frames(model, sample),
        "full _text_logits": lambda: score_in_frames(model, sample, text_only=True),
        **{f"left {cfg}": (lambda f=f: score_in_frames(model, f)) for cfg, f in left.items()},
        "cli": lambda: subprocess.run([*command, str(source)], check=True, stdout=subprocess.DEVNULL),
        "cli 1 row": lambda: subprocess.run([*command, str(one_row)], check=True, stdout=subprocess.DEVNULL),
        **{f"probe {k}": (lambda c=c: subprocess.run([sys.executable, "-c", c], check=True))
           for k, c in STARTUP_PROBES.items()},
    }  # fmt: skip
    seconds = _timed(jobs, args.repeats)
    output.unlink(missing_ok=True)
    med = {name: statistics.median(s) for name, s in seconds.items()}
    frame_s, apc_s, cli_s = med["full score_frame"], med[stages["apc_only"]], med["cli"]
    timing_rows = [
        {"what": k, "rows": ROWS, "seconds": med[k], "vs_score_frame": med[k] / frame_s}
        for k in [*stages.values(), "full score_frame", "full _text_logits"]
    ]
    startup = {v: med[f"probe {'hv12' if v == 'hv12' else 'apc'}"] - med["probe base"] for v in VARIANTS}
    projection = [
        {"what": "alt-profanity-check predict_prob (in process)", "full_rows": 0, "seconds": apc_s,
         "vs_apc": 1.0, "with_startup_s": apc_s, "vs_apc_startup": 1.0},
        {"what": "moderation score, 1 row (start-up)", "full_rows": 1, "seconds": med["cli 1 row"],
         "vs_apc": "", "with_startup_s": med["cli 1 row"], "vs_apc_startup": ""},
        {"what": "moderation score --jobs 1 (measured)", "full_rows": ROWS, "seconds": cli_s,
         "vs_apc": apc_s / cli_s, "with_startup_s": cli_s, "vs_apc_startup": apc_s / cli_s},
    ]  # fmt: skip
    for row in cutoffs:
        cfg = f"{row['variant']}@{row['target']:g}"
        projected = cli_s - frame_s + med[stages[row["variant"]]] + med[f"left {cfg}"]
        with_startup = projected + startup[row["variant"]]
        projection.append({
            "what": f"cascade {cfg} (projected)", "full_rows": len(left[cfg]), "seconds": projected,
            "vs_apc": apc_s / projected, "with_startup_s": with_startup,
            "vs_apc_startup": apc_s / with_startup,
        })  # fmt: skip

    print(f"\n1. Seconds on {ROWS:,} distinct comments, one core, medians of {args.repeats} interleaved\n")
    print(markdown_table(timing_rows))
    print(f"\n2. Cut-offs (chosen on the training rows) and what they clear; targets {targets}\n")
    print(markdown_table(_four(cutoffs)))
    for title, cell in (
        ("ROC AUC of the cascade minus the full model's", lambda r: f"{r['auc_delta']:+.4f}"),
        ("Flags lost: cleared / flagged by the full model (true positives of the split's label)",
         lambda r: f"{r['flags_lost']}/{r['flagged']} ({r['true_flags_lost']} TP)"),
    ):  # fmt: skip
        print(f"\n3. {title}, per test split\n")
        table = []
        for name, _, label, _ in splits:
            by = {r["config"]: r for r in test_rows if r["split"] == name}
            first = by[next(iter(left))]
            full_auc = f"{first['auc_full']:.4f}"
            cells = {c: cell(by[c]) for c in left}
            table.append({"split": name, "label": label, "n": first["n"], "full_auc": full_auc, **cells})
        print(markdown_table(table))
    print(
        "\n4. End to end on the same rows, one core. Projected: the measured CLI - full score_frame"
        " + cheap stage + score_frame of the rows left;\nwith start-up: + the cheap stage's imports\n"
    )
    print(markdown_table(projection))
    card_gap = max(abs(r["auc_full"] - r["card_auc"]) for r in test_rows)
    print(f"\nfull model vs its card: largest test AUC difference {card_gap:.1e}")
    print("cheap stages' start-up over `import numpy, pandas`: "
          + ", ".join(f"{v} {s:.2f} s" for v, s in startup.items()))  # fmt: skip
    path = save_results(
        "cascade", test_rows, model=model.version, targets=targets, cores=1, training_rows=len(train),
        hv12_oof_auc=oof_auc, cutoffs=cutoffs, timing=timing_rows, projection=projection,
        startup_seconds=startup, seconds=seconds, card_auc_max_difference=card_gap,
    )  # fmt: skip
    if args.output.resolve() != path.resolve():
        args.output.parent.mkdir(parents=True, exist_ok=True)
        path = path.replace(args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
