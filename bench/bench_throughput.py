"""Throughput of ``moderation score`` end to end beside alt-profanity-check, in one run.

On one JSONL of comments sampled from ../shared/data (100,000 rows; 1,000,000 with ``--large``),
written to a temporary folder:
- ``moderation score FILE -o out.csv --jobs 1`` and ``--jobs 2`` as subprocesses: reading,
  scoring both labels with reasons, and writing, including the process start and model load;
- alt-profanity-check ``predict_prob`` on the same texts in this process (its model loaded and
  the texts in memory beforehand, so it is timed on scoring alone: the ratio flatters it).
Each is repeated (3 times by default, interleaved so that load on the machine hits all alike);
the table gives the median. Cores are not pinned: ``--jobs 2`` needs two.
Usage: python bench/bench_throughput.py [--large | --rows N] [--repeats 3] [--output PATH.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, markdown_table, run_measured, write_sampled_jsonl

from moderation.registry import load_model

JOBS = (1, 2)


def _moderation_command() -> list[str]:
    # The installed console script, as a user runs it; the module when it is not installed.
    script = Path(sys.executable).with_name("moderation")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "moderation.cli"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="1,000,000 rows instead of 100,000")
    parser.add_argument("--rows", type=int, default=None, help="any other number of rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="model version or folder (default: the active one)")
    parser.add_argument(
        "--output", type=Path, default=None, help="default: bench/results/throughput[_large].json"
    )
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.large else 100_000)
    output = args.output or RESULTS_DIR / ("throughput_large.json" if args.large else "throughput.json")
    version = load_model(args.model).version
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()[0]

    from profanity_check import predict_prob

    seconds: dict[str, list[float]] = {f"jobs{j}": [] for j in JOBS} | {"apc": []}
    peak_rss: dict[str, list[float]] = {f"jobs{j}": [] for j in JOBS}
    with tempfile.TemporaryDirectory(prefix="moderation-throughput-") as folder:
        source = write_sampled_jsonl(Path(folder) / f"comments_{rows}.jsonl", rows)
        with open(source, encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line in handle]
        # Drawn with replacement from ~53,000 texts: at a million rows each repeats ~19 times,
        # which favours a model that remembers what it has scored (its table of word sums).
        distinct_share = len(set(texts)) / len(texts)
        predict_prob(texts[:100])  # load its model before timing
        scored = Path(folder) / "scored.csv"
        for repeat in range(args.repeats):
            for jobs in JOBS:
                command = [
                    *_moderation_command(),
                    "score",
                    str(source),
                    "-o",
                    str(scored),
                    "--jobs",
                    str(jobs),
                ]
                if args.model:
                    command += ["--model", args.model]
                measured = run_measured(command)
                scored.unlink()
                seconds[f"jobs{jobs}"].append(measured["seconds"])
                peak_rss[f"jobs{jobs}"].append(measured["peak_rss_mb"])
            started = time.perf_counter()
            predict_prob(texts)
            seconds["apc"].append(time.perf_counter() - started)
            print(
                f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in seconds.items()),
                flush=True,
            )

    median = {what: statistics.median(values) for what, values in seconds.items()}
    labels = {
        "jobs1": f"moderation score --jobs 1 ({version}, end to end)",
        "jobs2": f"moderation score --jobs 2 ({version}, end to end)",
        "apc": "alt-profanity-check predict_prob (in process)",
    }
    table = [
        {
            "what": labels[what],
            "rows": rows,
            "median_s": median[what],
            "runs_s": " / ".join(f"{s:.1f}" for s in seconds[what]),
            "rows_per_s": int(rows / median[what]),
            "vs_apc": f"{median['apc'] / median[what]:.3f}",
            "vs_jobs1": f"{median['jobs1'] / median[what]:.2f}",
            "peak_rss_mb": f"{max(peak_rss[what]):.0f}" if what in peak_rss else "-",
        }
        for what in ("jobs1", "jobs2", "apc")
    ]
    print()
    print(markdown_table(table))
    print(
        f"\nmedians of {args.repeats}; {cores} cores available, "
        f"load average {load_before:.2f} before the run; "
        "vs_apc = rows/s over alt-profanity-check's, vs_jobs1 = speed-up over --jobs 1; "
        "peak RSS is the largest single process"
    )
    print(
        f"the sample: {distinct_share:.0%} of its rows have a text no earlier row has; for a sample "
        "that repeats none, see bench_model_speed.py --samples distinct"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "throughput",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": table,
        "seconds": seconds,
        "peak_rss_mb": peak_rss,
        "model": version,
        "comments": rows,
        "repeats": args.repeats,
        "cores": cores,
        "load_average_before": load_before,
        "distinct_share": distinct_share,
    }
    output.write_text(json.dumps(payload, indent=2))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
