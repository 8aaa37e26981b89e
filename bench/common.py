"""Helpers every benchmark shares: sampled comment corpora, a big store built from them, peak
RSS of a command, tables.

Benchmarks run on demand (not in the test suite). Each prints a markdown table and writes
JSON to bench/results/, which git ignores. Texts are sampled from the public corpora in
../shared/data so that lengths and vocabulary look like real comments.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from moderation import config
from moderation.store import IngestSummary

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Threads the big-store benchmarks spread their comments over (50 comments a thread at 1M).
STORE_THREADS = 20_000


def corpus_texts() -> list[str]:
    """Comment texts from several public corpora (raises if ../shared is absent)."""
    data = config.SHARED_DATA_DIR
    if not data.is_dir():
        sys.exit(f"this benchmark samples texts from {data}, which is missing")
    texts: list[str] = []
    texts += pd.read_csv(data / "insults/train.csv")["Comment"].tolist()
    texts += pd.read_csv(data / "jigsaw/train_sample.csv.gz")["comment_text"].tolist()
    texts += pd.read_csv(data / "olid/olid-training-v1.0.tsv", sep="\t", quoting=3)["tweet"].tolist()
    texts += pd.read_csv(data / "davidson_hate_offensive/labeled_data.csv")["tweet"].tolist()
    texts += pd.read_csv(data / "toxic_spans/tsd_train.csv")["text"].tolist()
    return [str(t) for t in texts if isinstance(t, str) and t.strip()]


def distinct_corpus_texts() -> list[str]:
    """Every distinct comment text of the shared corpora, test splits and raw dumps included,
    in a fixed order: about 100,000, enough for a sample that repeats no text."""
    from moderation.ingest import read_comments

    data = config.SHARED_DATA_DIR
    texts = corpus_texts()
    for name in ("agr_en_train.csv", "agr_en_dev.csv"):
        texts += pd.read_csv(data / "trac1_aggression" / name, header=None)[1].tolist()
    texts += pd.read_csv(data / "cyber_trolls/cyber_trolls.csv").iloc[:, 0].tolist()
    texts += pd.read_csv(data / "toxichat/toxichat_turns_train_dev.csv")["text"].tolist()
    elf24 = pd.read_csv(data / "elf24_trolling/total.tsv", sep="\t")
    texts += elf24["Comment"].tolist() + elf24["Post"].tolist()
    texts += pd.read_csv(data / "socc_ctc/SFU_constructiveness_toxicity.csv")["comment"].tolist()
    texts += pd.read_csv(data / "insults/test_with_solutions.csv")["Comment"].tolist()
    texts += pd.read_csv(data / "olid/olid-test-merged.tsv", sep="\t", quoting=3)["tweet"].tolist()
    for name in ("tsd_test.csv", "tsd_trial.csv"):
        texts += pd.read_csv(data / "toxic_spans" / name)["text"].tolist()
    dumps = sorted((data / "raw_dumps").glob("*/*.xml")) + sorted((data / "raw_dumps").glob("*/*.ndjson"))
    for frame in read_comments(dumps):
        texts += frame["text"].tolist()
    return list(dict.fromkeys(t.strip() for t in texts if isinstance(t, str) and t.strip()))


def write_distinct_jsonl(path: Path, rows: int, *, seed: int = 7) -> Path:
    """Write ``rows`` comments of which no two share a text (sampled without replacement)."""
    if path.exists():
        with open(path, "rb") as existing:
            if sum(1 for _ in existing) == rows:
                return path
    texts = distinct_corpus_texts()
    if rows > len(texts):
        sys.exit(f"the shared corpora hold {len(texts):,} distinct texts; ask for at most that many rows")
    random.Random(seed).shuffle(texts)
    with open(path, "w", encoding="utf-8") as out:
        for i, text in enumerate(texts[:rows]):
            record = {"id": f"d{i}", "text": text, "author": f"user{i % 50_000}"}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_sampled_jsonl(path: Path, rows: int, *, seed: int = 7, threads: int = 0) -> Path:
    """Write ``rows`` comments sampled with replacement; ``threads`` > 0 adds thread ids."""
    if path.exists():
        with open(path, "rb") as existing:
            if sum(1 for _ in existing) == rows:
                return path
    texts = corpus_texts()
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            record = {"id": f"c{i}", "text": rng.choice(texts), "author": f"user{rng.randrange(50_000)}"}
            if threads:
                record["thread_id"] = f"t{i // max(1, rows // threads)}"
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def store_dump(rows: int, *, threads: int = STORE_THREADS) -> Path:
    """The sampled JSONL of ``rows`` comments in ``threads`` threads (cached in bench/results/)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    return write_sampled_jsonl(RESULTS_DIR / f"store_{rows}.jsonl", rows, threads=threads)


def build_store(url: str, dump: Path, *, model=None, jobs: int = 1) -> tuple[IngestSummary, float]:
    """Ingest ``dump`` into the store at ``url`` as ``moderation ingest`` does (scoring, scores
    table, thread roll-ups); returns the summary and the seconds it took."""
    from moderation.store import ingest_files, open_store

    with open_store(url) as store, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = ingest_files(store, [dump], model=model, jobs=jobs, rejects_path=Path(tmp) / "r.jsonl")
        return summary, time.perf_counter() - started


def run_measured(command: list[str]) -> dict:
    """Run a command in a fresh wrapper process; return wall seconds and its peak RSS in MB."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "t = time.perf_counter() - t\n"
        "if r.returncode: sys.exit(r.stderr.decode()[-2000:])\n"
        "print(t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    return {"seconds": float(output[0]), "peak_rss_mb": int(output[1]) / 1024}


def pin_to_one_core() -> None:
    """Pin this process, and the subprocesses it starts, to its first allowed CPU core, with one
    BLAS thread each, so that figures compare single-core throughput."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"


def score_in_frames(model, frame: pd.DataFrame, *, text_only: bool = False) -> None:
    """Score ``frame`` in frames of ``config.CHUNK_ROWS`` rows, as ``moderation score`` does, after
    emptying the model's cache of chunk sums (what an earlier repeat kept would flatter the next);
    ``text_only``: the text kernel (``_text_logits``) alone."""
    table = model.linear_table()
    if hasattr(table, "chunk_sums"):
        table.chunk_sums.clear()
    for start in range(0, len(frame), config.CHUNK_ROWS):
        part = frame.iloc[start : start + config.CHUNK_ROWS]
        model._text_logits(part["text"].tolist()) if text_only else model.score_frame(part)


def markdown_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [
            f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
            for v in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_results(name: str, rows: list[dict], **extra: object) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
        **extra,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path
