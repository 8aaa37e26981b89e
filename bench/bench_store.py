"""Store benchmark: ingest rate (scoring included) and flagged-queue latency on a big store.

    .venv/bin/python bench/bench_store.py [--rows 1000000] [--threads 20000] [--no-postgres]

Generates a JSONL of ROWS comments sampled from ../shared/data (cached in bench/results/),
ingests it with ``moderation ingest`` semantics (``ingest_files``: scoring, scores table, thread
roll-ups) into a fresh SQLite file and into a throwaway PostgreSQL cluster, then times the first
page of the flagged-thread queue (median of repeated calls, after one warm-up), a filtered page,
and a repeat ingest of the same file (which must add nothing). Floors (issue 5): ingest into
SQLite >= 10,000 comments/s; first queue page on SQLite <= 200 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import RESULTS_DIR, STORE_THREADS, build_store, markdown_table, store_dump
from pgcluster import throwaway_cluster, url_for

from moderation.registry import load_model
from moderation.review import flagged_threads, thread_comments
from moderation.store import ingest_files, open_store


def _median_ms(call, repeats: int = 9) -> float:
    call()  # warm-up: caches and query plans, as a moderator's second page load would see
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(url: str, label: str, dump: Path, rows: int, model, jobs: int) -> dict:
    summary, ingest_s = build_store(url, dump, model=model, jobs=jobs)
    store = open_store(url)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        again = ingest_files(store, [dump], model=model, jobs=jobs, rejects_path=Path(tmp) / "r.jsonl")
        reingest_s = time.perf_counter() - started
    assert summary.added == rows and again.added == 0, (summary.line(), again.line())
    first_page = flagged_threads(store)
    top = first_page.iloc[0]["thread_id"]
    result = {
        "store": label,
        "jobs": jobs,
        "comments": rows,
        "ingest s": ingest_s,
        "ingest rows/s": round(rows / ingest_s),
        "re-ingest rows/s": round(rows / reingest_s),
        "queue page 1 ms": _median_ms(lambda: flagged_threads(store)),
        "queue page 100 ms": _median_ms(lambda: flagged_threads(store, offset=50 * 99)),
        "queue label+status ms": _median_ms(
            lambda: flagged_threads(store, label="insult", status="unreviewed")
        ),
        "queue author ms": _median_ms(lambda: flagged_threads(store, author="user123")),
        "thread open ms": _median_ms(lambda: thread_comments(store, top)),
    }
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=STORE_THREADS)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--jobs", default="1,2", help="scoring worker counts to compare (comma-separated)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "store.json")
    args = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    dump = store_dump(args.rows, threads=args.threads)
    model = load_model()
    results = []
    jobs_list = [int(j) for j in args.jobs.split(",")]
    for jobs in jobs_list:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            results.append(measure(url, "SQLite (WAL)", dump, args.rows, model, jobs))
    if not args.no_postgres:
        with throwaway_cluster(fsync=True) as socket_dir:
            import sqlalchemy as sa

            for jobs in jobs_list:
                admin = sa.create_engine(url_for(socket_dir), isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"CREATE DATABASE bench{jobs}")
                admin.dispose()
                url = url_for(socket_dir, f"bench{jobs}")
                results.append(measure(url, "PostgreSQL 15", dump, args.rows, model, jobs))
    print(markdown_table(results))
    sqlite = max((r for r in results if r["store"].startswith("SQLite")), key=lambda r: r["ingest rows/s"])
    ingest_met = "met" if sqlite["ingest rows/s"] >= 10_000 else "NOT met"
    page_met = "met" if sqlite["queue page 1 ms"] <= 200 else "NOT met"
    print(
        f"\nfloors: SQLite ingest {sqlite['ingest rows/s']:,} rows/s with --jobs {sqlite['jobs']} "
        f"(>= 10,000: {ingest_met}); first queue page {sqlite['queue page 1 ms']:.1f} ms (<= 200: {page_met})"
    )
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
