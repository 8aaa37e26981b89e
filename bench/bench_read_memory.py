"""Peak memory of `moderation read` (or `moderation score`) while streaming JSONL files of growing size.

Readers yield frames of bounded size and scoring works frame by frame, so peak RSS must stay
flat as the input grows. Issue 8's floor, for scoring: under 1 GB, and less than 10% growth
from 1,000,000 to 5,000,000 comments (sampled from the shared corpora).
Usage: python bench/bench_read_memory.py [--rows 100000,1000000] [--command read|score] [--workdir /tmp/bench]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, run_measured, save_results, write_sampled_jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--command", choices=("read", "score"), default="read")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/moderation-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in [int(r) for r in args.rows.split(",")]:
        source = write_sampled_jsonl(args.workdir / f"sampled_{rows}.jsonl", rows)
        out = args.workdir / f"{args.command}_{rows}.jsonl"
        measured = run_measured(
            [sys.executable, "-m", "moderation.cli", args.command, str(source), "-o", str(out)]
        )
        out.unlink(missing_ok=True)
        results.append(
            {
                "rows": rows,
                "input_mb": round(source.stat().st_size / 1e6, 1),
                "seconds": measured["seconds"],
                "rows_per_s": int(rows / measured["seconds"]),
                "peak_rss_mb": measured["peak_rss_mb"],
            }
        )
    print(markdown_table(results))
    if len(results) > 1:
        growth = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"] - 1
        print(f"\npeak RSS growth from {results[0]['rows']:,} to {results[-1]['rows']:,} rows: {growth:+.1%}")
    print(f"\nresults: {save_results(f'{args.command}_memory', results)}")


if __name__ == "__main__":
    main()
