"""Scoring speed of the default model next to alt-profanity-check, on one core, in one run.

Measures on the same sampled comments (from ../shared/data):
- alt-profanity-check ``predict_prob`` (a word TF-IDF with a linear SVM): rows/s;
- ``ModerationModel.score_frame`` in process (both labels, flags and reasons): rows/s;
- ``moderation score`` end to end (read JSONL, score, write CSV) with ``--jobs 1``: rows/s;
- the model's load time and its size on disk.
Everything is pinned to one CPU core (``os.sched_setaffinity``), so the figures compare
single-core throughput. Usage: python bench/bench_model_speed.py [--rows 100000] [--model VERSION]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, save_results, write_sampled_jsonl

from moderation import config


def _pin_to_one_core() -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", default=None, help="model version or folder (default: the active one)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/moderation-bench"))
    args = parser.parse_args()
    _pin_to_one_core()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = write_sampled_jsonl(args.workdir / f"sampled_{args.rows}.jsonl", args.rows)
    frame = pd.read_json(source, lines=True, dtype=False)
    texts = frame["text"].astype(str).tolist()

    from profanity_check import predict_prob

    predict_prob(texts[:100])  # load its model before timing
    started = time.perf_counter()
    predict_prob(texts)
    apc_seconds = time.perf_counter() - started

    from moderation.registry import load_model, model_dir

    started = time.perf_counter()
    model = load_model(args.model)
    load_seconds = time.perf_counter() - started
    folder = model_dir(args.model)
    size_mb = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6

    canonical = pd.DataFrame({"comment_id": frame["id"].astype(str), "text": texts})
    model.score_frame(canonical.head(100))  # warm caches (prepared tables) before timing
    started = time.perf_counter()
    for start in range(0, len(canonical), config.CHUNK_ROWS):
        model.score_frame(canonical.iloc[start : start + config.CHUNK_ROWS])
    frame_seconds = time.perf_counter() - started

    output = args.workdir / "scored.csv"
    command = [sys.executable, "-m", "moderation.cli", "score", str(source), "-o", str(output), "--jobs", "1"]
    if args.model:
        command += ["--model", args.model]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    cli_seconds = time.perf_counter() - started
    output.unlink(missing_ok=True)

    apc_rate = args.rows / apc_seconds
    rows = [
        {"what": "alt-profanity-check predict_prob", "rows": args.rows, "seconds": apc_seconds,
         "rows_per_s": int(apc_rate), "vs_apc": 1.0},
        {"what": f"score_frame {model.version} (both labels, reasons)", "rows": args.rows,
         "seconds": frame_seconds,
         "rows_per_s": int(args.rows / frame_seconds), "vs_apc": round(apc_seconds / frame_seconds, 3)},
        {"what": "moderation score --jobs 1 (end to end)", "rows": args.rows, "seconds": cli_seconds,
         "rows_per_s": int(args.rows / cli_seconds), "vs_apc": round(apc_seconds / cli_seconds, 3)},
    ]  # fmt: skip
    print(markdown_table(rows))
    print(f"\nmodel {model.version}: load {load_seconds:.2f} s, {size_mb:.1f} MB on disk; one core")
    path = save_results(
        "model_speed", rows, model=model.version, load_seconds=load_seconds, size_mb=size_mb, cores=1
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
