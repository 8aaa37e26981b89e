"""Batch scoring of dump files, no database needed: read -> score -> write, streaming.

``score_files`` reads frames of canonical rows (``moderation.ingest``), scores each with the
model (``ModerationModel.score_frame``), and appends them to the output as it goes, so memory
stays flat however large the input is. With ``jobs`` > 1 frames are scored in worker
processes and written back in input order, so the output is byte-identical to ``jobs=1``.
Thread and author roll-ups use the definitions in ``moderation.rollups`` (shared with the
store's queue); only the few columns they need are kept in memory.

Every run checkpoints its output after each frame; ``resume=True`` continues an interrupted
run (even one killed with SIGKILL) from the last checkpoint: the input is read again but the
rows already written are skipped, not scored again, so each input row appears exactly once.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from moderation.errors import OutputError
from moderation.ingest import ReadReport, RejectsSink, read_comments, rejects_path_for
from moderation.model import not_read
from moderation.output import FrameWriter, check_output_paths

__all__ = ["ScoreSummary", "keep_freed_memory", "score_files", "score_frames"]

_ROLLUP_COLUMNS = ["comment_id", "thread_id", "author", "insult_score", "troll_score", "flag"]


@dataclass
class ScoreSummary:
    """What a scoring run did; the CLI prints it as its last line."""

    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    rows_unread: int = 0  # scored but not flagged: the model knows under half their words
    model_version: str = ""
    output: str = ""
    rejects_path: str = ""
    threads_path: str = ""
    authors_path: str = ""
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        rejected = f"rejected {self.rows_rejected:,}"
        if self.rows_rejected:
            rejected += f" (see {self.rejects_path})"
        unread = ""
        if self.rows_unread:
            unread = f" ({self.rows_unread:,} not flagged: the model knows under half their words)"
        return (
            f"read {self.rows_read:,} rows, scored {self.rows_scored:,}{unread}, {rejected}; "
            f"model {self.model_version}; wrote {self.output}"
        )


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory a scoring run frees, for the next frame to reuse.

    Every frame allocates the same large numpy arrays (tens of MB at ``config.CHUNK_ROWS``).
    By default glibc serves the largest from a fresh mmap and unmaps it when freed, so the next
    frame takes a page fault on every page of it again. With mmap off and trimming only past
    1 GiB free, the heap keeps the pages: on 100,000 comments, one core, about 60,000 page
    faults a run instead of 120,000, and 0.15-0.3 s less system time; the wall-clock gain is
    within the machine's spread, and the peak RSS may be a few tens of MB higher (the heap
    fragments). A process-wide setting, so the batch commands (score, ingest, rescore) make it,
    and forked workers inherit it; a library caller chooses for its own process. Returns
    whether it took effect (False off glibc).
    """
    import ctypes
    import platform

    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 1 << 30))


# --- worker processes --------------------------------------------------------------------------

_worker_model = None


def _init_worker(model_ref: str | None) -> None:
    global _worker_model
    from moderation.registry import load_model

    _worker_model = load_model(model_ref, for_scoring=True)


def _use_model(model: object) -> None:
    """Pool initializer for forked workers that inherit an already loaded model."""
    global _worker_model
    _worker_model = model


def _score_in_worker(frame: pd.DataFrame) -> pd.DataFrame:
    assert _worker_model is not None
    return _worker_model.score_frame(frame)


def score_frames(
    frames: Iterable[pd.DataFrame],
    *,
    model_ref: str | None = None,
    model: object | None = None,
    jobs: int = 1,
) -> Iterator[pd.DataFrame]:
    """Score frames in order; with ``jobs`` > 1, in that many worker processes."""
    if jobs < 1:
        raise OutputError(f"--jobs must be at least 1, not {jobs}", hint="pass --jobs 1 or more")
    if jobs == 1:
        if model is None:
            from moderation.registry import load_model

            model = load_model(model_ref, for_scoring=True)
        for frame in frames:
            yield model.score_frame(frame)  # type: ignore[attr-defined]
        return
    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    with context.Pool(jobs, initializer=_init_worker, initargs=(model_ref,)) as pool:
        # imap keeps input order; a small window of frames in flight bounds memory.
        yield from pool.imap(_score_in_worker, frames, chunksize=1)


def score_files(
    inputs: Iterable[str | Path],
    *,
    output: str | Path,
    format: str = "auto",
    text_column: str | None = None,
    encoding: str | None = None,
    model_ref: str | None = None,
    threads_output: str | Path | None = None,
    authors_output: str | Path | None = None,
    jobs: int = 1,
    include_pingbacks: bool = False,
    chunk_rows: int | None = None,
    resume: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score every comment in ``inputs`` and write them, with rejects and roll-ups.

    ``model_ref`` is a version or a path (None: the active model). Returns the summary.
    """
    from moderation.registry import load_model

    inputs = list(inputs)
    rejects_path = rejects_path_for(output)
    # Every path is checked before the model loads and anything is written: an output that
    # is an input (or another output) would destroy it, and an unwritable --threads file
    # would otherwise fail only after the whole run. A FrameWriter checks its kind and folder.
    for path in (output, threads_output, authors_output):
        if path is not None:
            FrameWriter(path)
    check_output_paths(
        inputs,
        {
            "output": output,
            "rejects file": rejects_path,
            "--threads file": threads_output,
            "--authors file": authors_output,
        },
    )
    model = load_model(model_ref, for_scoring=True)
    summary = ScoreSummary(model_version=model.version, output=str(output))
    summary.rejects_path = str(rejects_path)
    want_rollups = threads_output is not None or authors_output is not None
    kept: list[pd.DataFrame] = []
    report = ReadReport()
    signature = _run_signature(
        inputs,
        model_version=model.version,
        format=format,
        text_column=text_column,
        encoding=encoding,
        include_pingbacks=include_pingbacks,
        chunk_rows=chunk_rows,
    )
    with RejectsSink(rejects_path) as rejects, FrameWriter(output, checkpoint=True) as writer:
        done = writer.resume(signature) if resume else 0
        if not resume:
            writer.discard_checkpoint()
        if done and want_rollups:
            kept.append(_compact(writer.written_rows()))
        summary.rows_scored = done
        frames = read_comments(
            inputs,
            format=format,
            text_column=text_column,
            encoding=encoding,
            include_pingbacks=include_pingbacks,
            chunk_rows=chunk_rows,
            rejects=rejects,
            report=report,
        )
        if done:
            frames = _skip_rows(frames, done)
        scored_frames = score_frames(
            frames, model_ref=model_ref, model=model if jobs == 1 else None, jobs=jobs
        )
        for scored in scored_frames:
            writer.write(scored, signature=signature)
            summary.rows_scored += len(scored)
            summary.rows_unread += int(not_read(scored).sum())
            if want_rollups:
                kept.append(_compact(scored))
            if on_progress is not None:
                on_progress(len(scored))
    summary.rows_read = report.rows
    summary.rows_rejected = report.rejected
    summary.warnings = list(report.warnings)
    if want_rollups:
        from moderation.rollups import author_risk, thread_risk

        scored_rows = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=_ROLLUP_COLUMNS)
        if threads_output is not None:
            with FrameWriter(threads_output) as threads_writer:
                threads_writer.write(thread_risk(scored_rows))
            summary.threads_path = str(threads_output)
        if authors_output is not None:
            with FrameWriter(authors_output) as authors_writer:
                authors_writer.write(author_risk(scored_rows))
            summary.authors_path = str(authors_output)
    return summary


def _skip_rows(frames: Iterable[pd.DataFrame], count: int) -> Iterator[pd.DataFrame]:
    """Drop the first ``count`` rows of the stream (already written by the interrupted run)."""
    for frame in frames:
        if count >= len(frame):
            count -= len(frame)
            continue
        yield frame.iloc[count:].reset_index(drop=True) if count else frame
        count = 0


def _run_signature(inputs: Iterable[str | Path], **options: object) -> dict:
    """What must be equal for a run to be resumed: the inputs (as files) and the options."""
    files = []
    for path in inputs:
        path = Path(path)
        stat = path.stat() if path.is_file() else None  # a missing file fails in the reader
        files.append([str(path.resolve()), stat and stat.st_size, stat and stat.st_mtime_ns])
    return {"inputs": files, **options}


def _compact(scored: pd.DataFrame) -> pd.DataFrame:
    """The few columns the roll-ups need, in small types (kept for the whole run)."""
    compact = scored[_ROLLUP_COLUMNS].copy()
    for column in ("thread_id", "author", "flag"):
        compact[column] = compact[column].astype("category")
    for column in ("insult_score", "troll_score"):
        compact[column] = compact[column].astype("float32")
    return compact
