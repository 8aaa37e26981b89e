"""Retraining benchmark: `moderation train --db` with 10,000 moderators' labels on top of all the
default shared corpora, against the same training without the store, side by side in one run.

    .venv/bin/python bench/bench_retrain.py [--labels 10000] [--no-baseline]

Builds a SQLite store of LABELS comments (threads of 100) sampled from the default training
corpora with their corpus labels, has one moderator label every one of them (insult and, where
the corpus says, troll) through ``review.apply_changes``, then times ``moderation train --db``
end to end (reading the labels, fitting, thresholds, evaluation, saving) and its peak RSS.
Floor (issue 7): under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from common import markdown_table, run_measured, save_results

from moderation import config
from moderation.registry import load_model
from moderation.review import Change, add_user, apply_changes
from moderation.store import comments, ingest_files, open_store
from moderation.training import assemble_corpus, resolve_data_spec

FLOOR_SECONDS = 300


def build_store(folder: Path, labels: int) -> tuple[Path, dict]:
    corpus = assemble_corpus(resolve_data_spec(None))
    corpus = corpus[corpus["insult"].notna() & (corpus["corpus"] != "identity_balance")]
    sample = corpus.drop_duplicates("text").sample(labels, random_state=config.SEED).reset_index(drop=True)
    dump = pd.DataFrame(
        {
            "comment_id": [f"m{i}" for i in range(labels)],
            "thread_id": [f"thread-{i // 100}" for i in range(labels)],
            "author": [f"user{i % 997}" for i in range(labels)],
            "text": sample["text"],
        }
    )
    path = folder / "site.jsonl"
    dump.to_json(path, orient="records", lines=True, force_ascii=False)
    db = folder / "site.db"
    timings = {}
    with open_store(str(db)) as store:
        started = time.perf_counter()
        ingest_files(store, [path], model=load_model())
        timings["ingest_s"] = time.perf_counter() - started
        moderator = add_user(store, name="bench", password="bench-password", role="moderator")
        stored = store.read(sa.select(comments.c.comment_id, comments.c.version)).set_index("comment_id")
        value = {1.0: "yes", 0.0: "no"}
        changes = []
        for comment_id, row in zip(dump["comment_id"], sample.itertuples(), strict=True):
            version = int(stored.loc[comment_id, "version"])  # apply_changes chains a comment's versions
            changes.append(Change(comment_id, "insult_label", value[row.insult], version))
            if not np.isnan(row.troll):
                changes.append(Change(comment_id, "troll_label", value[row.troll], version))
        started = time.perf_counter()
        apply_changes(store, moderator, changes)
        timings["relabel_s"] = time.perf_counter() - started
        timings["changes"] = len(changes)
    return db, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip the training without labels")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db, timings = build_store(folder, args.labels)
        print(
            f"store: {args.labels:,} comments ingested in {timings['ingest_s']:.1f} s, "
            f"{timings['changes']:,} labels applied in {timings['relabel_s']:.1f} s",
            file=sys.stderr,
        )
        runs = [("with moderators' labels", ["--db", str(db)])]
        if not args.no_baseline:
            runs.insert(0, ("shared corpora only", []))
        rows = []
        for name, extra in runs:
            out = folder / name.split()[0]
            measured = run_measured(
                [
                    sys.executable,
                    "-m",
                    "moderation.cli",
                    "train",
                    "--output",
                    str(out),
                    "--version",
                    "bench",
                    *extra,
                ]
            )
            card = load_model(out / "bench").card
            rows.append(
                {
                    "training": name,
                    "moderators' labels": card["training_data"]["extra_rows"],
                    "training rows": card["training_data"]["rows"],
                    "seconds": round(measured["seconds"], 1),
                    "peak RSS MB": round(measured["peak_rss_mb"]),
                    "under 5 min": "yes" if measured["seconds"] < FLOOR_SECONDS else "NO",
                }
            )
    print(markdown_table(rows))
    path = save_results("retrain", rows, labels=args.labels, **timings)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
