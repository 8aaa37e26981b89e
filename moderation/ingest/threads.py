"""Thread rebuilding: fill ``thread_id`` and ``depth`` from the reply links, safely.

Two entry points share one set of rules:
- :func:`rebuild_threads` for readers that hold a whole document (XML exports, pages,
  ToxiChat): every comment is known, so forward references resolve.
- :class:`ThreadTracker` for streaming readers (CSV, JSONL, Pushshift): a reply is placed
  under a parent seen earlier in the stream, which is how dumps are ordered.

Rules: a comment whose parent is missing (an orphan) keeps its ``parent_id`` as the source
gave it but sits at depth 0, and is counted so the CLI can warn. A reply inherits its
thread from its parent when the source gave none; a top-level comment with no thread is
its own thread. A cycle (a replies to b replies to a) is broken at the comment that comes
first in the file, which becomes top-level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["ThreadReport", "ThreadTracker", "rebuild_threads"]


@dataclass
class ThreadReport:
    """What rebuilding found; the CLI turns the counts into warnings."""

    orphans: int = 0
    cycles_broken: int = 0
    orphan_examples: list[str] = field(default_factory=list)

    def merge(self, other: ThreadReport) -> None:
        self.orphans += other.orphans
        self.cycles_broken += other.cycles_broken
        self.orphan_examples.extend(other.orphan_examples[: 5 - len(self.orphan_examples)])


def rebuild_threads(frame: pd.DataFrame) -> tuple[pd.DataFrame, ThreadReport]:
    """Return ``frame`` with parent links checked and ``thread_id`` and ``depth`` filled."""
    report = ThreadReport()
    if frame.empty:
        return frame, report
    ids = frame["comment_id"].tolist()
    parents = frame["parent_id"].tolist()
    threads = frame["thread_id"].tolist()
    position: dict[str, int] = {}
    for i, comment_id in enumerate(ids):
        position.setdefault(comment_id, i)

    parent_of: list[int | None] = []
    for i, parent in enumerate(parents):
        if not parent:
            parent_of.append(None)
        elif parent in position and position[parent] != i:
            parent_of.append(position[parent])
        else:
            parent_of.append(None)
            report.orphans += 1
            if len(report.orphan_examples) < 5:
                report.orphan_examples.append(f"{ids[i]} -> {parent}")

    cut_edges = _break_cycles(parent_of)
    report.cycles_broken = len(cut_edges)

    depth = [-1] * len(ids)
    root = [-1] * len(ids)
    for i in range(len(ids)):
        path: list[int] = []
        node: int | None = i
        while node is not None and depth[node] < 0:
            path.append(node)
            node = parent_of[node]
        level = -1 if node is None else depth[node]
        top = None if node is None else root[node]
        for member in reversed(path):
            level += 1
            depth[member] = level
            root[member] = member if top is None else top
            top = root[member]

    out = frame.copy()
    new_parents = ["" if i in cut_edges else parent for i, parent in enumerate(parents)]
    new_threads = []
    for i in range(len(ids)):
        if threads[i]:
            new_threads.append(threads[i])
        else:
            top = root[i]
            new_threads.append(threads[top] or ids[top])
    out["parent_id"] = new_parents
    out["thread_id"] = new_threads
    out["depth"] = depth
    return out, report


def _break_cycles(parent_of: list[int | None]) -> set[int]:
    """Cut every reply cycle at its member that comes first in the file; return the cuts."""
    state = [0] * len(parent_of)  # 0 unseen, 1 on the current walk, 2 resolved
    cuts: set[int] = set()
    for start in range(len(parent_of)):
        path: list[int] = []
        node = start if state[start] == 0 else None
        while node is not None and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = parent_of[node]
        if node is not None and state[node] == 1:
            cut = min(path[path.index(node) :])
            parent_of[cut] = None
            cuts.add(cut)
        for member in path:
            state[member] = 2
    return cuts


class ThreadTracker:
    """Streaming thread rebuilding over successive frames of one file."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, int]] = {}
        self.report = ThreadReport()

    def assign(self, frame: pd.DataFrame) -> pd.DataFrame:
        ids = frame["comment_id"].tolist()
        parents = frame["parent_id"].tolist()
        threads = frame["thread_id"].tolist()
        # Remembering every id costs memory on a huge dump; do it only when the source has
        # reply links (readers set attrs["threaded"]) or replies actually appear.
        remember = bool(frame.attrs.get("threaded")) or any(parents) or bool(self._seen)
        if not remember:
            # No reply anywhere yet: every comment is top-level, its own thread unless it has one.
            out = frame.copy()
            out["thread_id"] = [thread or comment_id for comment_id, thread in zip(ids, threads, strict=True)]
            out["depth"] = [0] * len(ids)
            return out
        new_threads: list[str] = []
        depths: list[int] = []
        for comment_id, parent, thread in zip(ids, parents, threads, strict=True):
            depth = 0
            if parent:
                known = self._seen.get(parent)
                if known is None or parent == comment_id:
                    self.report.orphans += 1
                    if len(self.report.orphan_examples) < 5:
                        self.report.orphan_examples.append(f"{comment_id} -> {parent}")
                    thread = thread or parent
                else:
                    thread = thread or known[0]
                    depth = known[1] + 1
            thread = thread or comment_id
            if remember:
                self._seen.setdefault(comment_id, (thread, depth))
            new_threads.append(thread)
            depths.append(depth)
        out = frame.copy()
        out["thread_id"] = new_threads
        out["depth"] = depths
        return out
