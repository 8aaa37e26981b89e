"""Scoring speed of the default model (and others) next to alt-profanity-check, on one core, in one run.

Measures on two samples of ROWS comments from ../shared/data, all sides on the same rows, each
REPEATS times, interleaved, and prints the medians:
- ``sampled``: drawn with replacement from five corpora (about 53,000 texts), as the other
  benchmarks draw them; at 100,000 rows over half the rows repeat an earlier text, and the model
  featurises a repeated text once, which alt-profanity-check does not;
- ``distinct``: drawn without replacement from every corpus and raw dump (about 101,000 texts),
  so no text repeats: the fair case for a site's history, where few comments are verbatim copies.
For each sample:
- alt-profanity-check ``predict_prob`` (a word TF-IDF with a linear SVM): rows/s;
- for each model: ``ModerationModel.score_frame`` in process (both labels, flags and reasons),
  and ``moderation score`` end to end (start-up, read JSONL, score, write CSV) with ``--jobs 1``;
- each model's load time and its size on disk.
Everything is pinned to one CPU core (``os.sched_setaffinity``), so the figures compare
single-core throughput. Usage:
    python bench/bench_model_speed.py [--rows 100000] [--models VERSION,VERSION] [--repeats 3]
        [--samples sampled,distinct]
(``--models`` defaults to the active model; a folder works too.)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    markdown_table,
    pin_to_one_core,
    save_results,
    score_in_frames,
    write_distinct_jsonl,
    write_sampled_jsonl,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--models", default="", help="model versions or folders, comma-separated (default: active)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--samples", default="sampled,distinct", help="which samples: sampled (with replacement), distinct"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/moderation-bench"))
    args = parser.parse_args()
    pin_to_one_core()
    args.workdir.mkdir(parents=True, exist_ok=True)
    writers = {"sampled": write_sampled_jsonl, "distinct": write_distinct_jsonl}
    samples = [name for name in args.samples.split(",") if name]
    if unknown := set(samples) - set(writers):
        sys.exit(f"unknown sample {sorted(unknown)}: use sampled, distinct or both")

    from profanity_check import predict_prob

    from moderation.registry import load_model, model_dir

    refs = [ref for ref in args.models.split(",") if ref] or [None]
    models, loads, sizes = {}, {}, {}
    for ref in refs:
        started = time.perf_counter()
        model = load_model(ref)
        loads[model.version] = time.perf_counter() - started
        folder = model_dir(ref)
        sizes[model.version] = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6
        models[model.version] = (ref, model)
    rows, distinct_share = [], {}
    for sample in samples:
        source = writers[sample](args.workdir / f"{sample}_{args.rows}.jsonl", args.rows)
        frame = pd.read_json(source, lines=True, dtype=False)
        texts = frame["text"].astype(str).tolist()
        distinct_share[sample] = len(set(texts)) / len(texts)
        canonical = pd.DataFrame({"comment_id": frame["id"].astype(str), "text": texts})
        for _, model in models.values():
            model.score_frame(canonical.head(100))  # warm caches (prepared tables) before timing
        predict_prob(texts[:100])  # load its model before timing
        seconds = _measure(args, source, canonical, texts, models, predict_prob)
        apc = statistics.median(seconds["apc"])
        rows.append({"sample": sample, "what": "alt-profanity-check predict_prob", "rows": args.rows,
                     "seconds": round(apc, 2), "rows_per_s": int(args.rows / apc),
                     "vs_apc": 1.0})  # fmt: skip
        for version in models:
            for key, what in (
                ("frame", "score_frame (both labels, reasons)"),
                ("cli", "moderation score --jobs 1 (end to end)"),
            ):
                median = statistics.median(seconds[f"{key} {version}"])
                rate, ratio = int(args.rows / median), round(apc / median, 3)
                rows.append({"sample": sample, "what": f"{version}: {what}", "rows": args.rows,
                             "seconds": round(median, 2), "rows_per_s": rate, "vs_apc": ratio})  # fmt: skip
    print(markdown_table(rows))
    print(f"\nmedians of {args.repeats}, one core")
    for sample, share in distinct_share.items():
        print(f"sample {sample}: {share:.0%} of its rows have a text no earlier row has")
    for version in models:
        print(f"model {version}: load {loads[version]:.2f} s, {sizes[version]:.1f} MB on disk")
    path = save_results(
        "model_speed", rows, models=list(models), load_seconds=loads, size_mb=sizes, cores=1,
        distinct_share=distinct_share,
    )  # fmt: skip
    print(f"wrote {path}")


def _measure(args, source: Path, canonical: pd.DataFrame, texts: list[str], models: dict, predict_prob):
    """Seconds of each side, ``args.repeats`` times, interleaved."""
    seconds: dict[str, list[float]] = {"apc": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        predict_prob(texts)
        seconds["apc"].append(time.perf_counter() - started)
        for version, (ref, model) in models.items():
            started = time.perf_counter()
            score_in_frames(model, canonical)
            seconds.setdefault(f"frame {version}", []).append(time.perf_counter() - started)
            output = args.workdir / "scored.csv"
            command = [sys.executable, "-m", "moderation.cli", "score", str(source), "-o", str(output)]
            command += ["--jobs", "1"] + (["--model", str(ref)] if ref else [])
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            seconds.setdefault(f"cli {version}", []).append(time.perf_counter() - started)
            output.unlink(missing_ok=True)
    return seconds


if __name__ == "__main__":
    main()
