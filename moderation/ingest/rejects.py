"""The rejects file: every input row that could not be read, with where it was and why.

Readers never drop a row silently. A row that cannot become a canonical comment goes to
the rejects sink with its source file, its 1-based line or record number, the reason and
the raw content (cut to a size that keeps the file usable), so nothing is lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from moderation.output import as_output_error

__all__ = ["RejectsSink", "rejects_path_for"]

#: Raw content kept per rejected row; longer rows are cut and marked.
MAX_RAW_CHARS = 100_000


def rejects_path_for(output: str | Path) -> Path:
    """``OUT.rejects.jsonl`` beside the output, as ARCHITECTURE.md specifies."""
    output = Path(output)
    return output.with_name(output.name + ".rejects.jsonl")


class RejectsSink:
    """Collects rejected rows; writes them as JSON lines when given a path.

    Used as a context manager by the CLI. ``count`` is what the summary line reports.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.count = 0
        self.reasons: dict[str, int] = {}
        self._handle: TextIO | None = None
        self.kept: list[dict] = []  # only when there is no path (library use, tests)

    def __enter__(self) -> RejectsSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, *, source: str | Path, record: int, reason: str, raw: object = "") -> None:
        raw_text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
        if len(raw_text) > MAX_RAW_CHARS:
            raw_text = raw_text[:MAX_RAW_CHARS] + f"… [cut, {len(raw_text):,} chars in all]"
        entry = {"source": str(source), "record": int(record), "reason": reason, "raw": raw_text}
        self.count += 1
        key = reason.split(":", 1)[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1
        if self.path is None:
            self.kept.append(entry)
            return
        with as_output_error(self.path, what="rejects file"):
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with as_output_error(self.path, what="rejects file"):
                handle.close()
        elif self.path is not None and self.path.exists() and self.count == 0:
            # A stale rejects file from an earlier run must not be mistaken for this run's.
            self.path.unlink()
