"""Thread and author risk: per-thread and per-author roll-ups of scored comment rows.

Scoring (``moderation score --threads/--authors``) writes these roll-ups beside the scored
rows, and the store (``moderation.store``) keeps the thread roll-up of every thread to order
the flagged-thread queue (``moderation.review.flagged_threads``). Both call the functions
below, so a thread has the same risk in a scored file and in the queue.

Definitions (``k`` is ``config.ROLLUP_TOP_K``; ``hostility`` of a comment is the larger of its
``insult_score`` and ``troll_score``; a comment is *flagged* when its ``flag`` is not empty):

Per thread (``thread_risk``):
    - ``n_comments``; ``n_flagged``; ``n_insult`` and ``n_troll`` (flags naming each label);
    - ``flagged_share`` = ``n_flagged / n_comments``;
    - ``max_insult``, ``max_troll``: the highest score of each label;
    - ``top_insult``, ``top_troll``: the mean of the ``k`` highest scores of each label
      (of all the comments when the thread has fewer than ``k``);
    - ``worst``: the highest hostility; ``top_k``: the mean of the ``k`` highest hostilities;
    - ``risk`` = ``w_worst * worst + w_top_k * top_k + w_flagged_share * flagged_share`` with the
      weights of ``config.ROLLUP_RISK_WEIGHTS`` (0.4, 0.4, 0.2): one very hostile comment makes a
      thread risky, a sustained pile-on makes it riskier still. Risk lies between 0 and 1;
    - ``worst_comment_id``: the comment with the highest hostility (the first such row on a
      tie), when the rows carry ``comment_id``.

Per author (``author_risk``), over the author's comments in every thread; rows without an
author are left out, because an unknown author is not one person:
    - ``n_comments``, ``n_threads``, ``n_flagged``, ``n_flagged_threads`` (threads holding at
      least one flagged comment of theirs), ``flagged_share``;
    - ``max_insult``, ``max_troll``, ``top_insult``, ``top_troll``, ``worst``, ``top_k`` as above;
    - ``troll_risk`` = ``0.5 * top_troll + 0.25 * flagged_share + 0.25 * min(n_flagged_threads /
      AUTHOR_SPREAD_THREADS, 1)`` (``config.AUTHOR_TROLL_WEIGHTS``): trolling is a habit that
      shows across threads, not one heated reply;
    - ``risk``: the thread formula applied to the author's comments.

Threads come out sorted by ``risk`` (highest first), authors by ``troll_risk``; ties keep the
order in which each thread or author first appears.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moderation import config
from moderation.errors import InputError

__all__ = ["AUTHOR_COLUMNS", "THREAD_COLUMNS", "author_risk", "thread_risk"]

_REQUIRED = ("insult_score", "troll_score", "flag")

#: Output columns of ``thread_risk``, in order.
THREAD_COLUMNS = (
    "thread_id",
    "n_comments",
    "n_flagged",
    "n_insult",
    "n_troll",
    "flagged_share",
    "max_insult",
    "max_troll",
    "top_insult",
    "top_troll",
    "worst",
    "top_k",
    "risk",
    "worst_comment_id",
)

#: Output columns of ``author_risk``, in order.
AUTHOR_COLUMNS = (
    "author",
    "n_comments",
    "n_threads",
    "n_flagged",
    "n_flagged_threads",
    "flagged_share",
    "max_insult",
    "max_troll",
    "top_insult",
    "top_troll",
    "worst",
    "top_k",
    "troll_risk",
    "risk",
)


def thread_risk(scored: pd.DataFrame, *, top_k: int | None = None) -> pd.DataFrame:
    """One row per thread of ``scored`` (columns ``THREAD_COLUMNS``), riskiest first.

    ``scored`` needs ``thread_id``, ``insult_score``, ``troll_score`` and ``flag``;
    ``comment_id`` is optional (``worst_comment_id`` is empty without it).
    """
    _check(scored, "thread_id")
    k = _check_k(top_k)
    return _compute_thread_risk(scored, k)


def author_risk(scored: pd.DataFrame, *, top_k: int | None = None) -> pd.DataFrame:
    """One row per named author of ``scored`` (columns ``AUTHOR_COLUMNS``), most trollish first.

    ``scored`` needs ``author``, ``thread_id``, ``insult_score``, ``troll_score`` and ``flag``.
    """
    _check(scored, "author")
    _check(scored, "thread_id")
    k = _check_k(top_k)
    return _compute_author_risk(scored, k)


# --- checks --------------------------------------------------------------------------------------


def _check(scored: pd.DataFrame, key: str) -> None:
    if not isinstance(scored, pd.DataFrame):
        raise InputError(
            f"roll-ups need a frame of scored rows, not {type(scored).__name__}",
            hint="pass the output of ModerationModel.score_frame",
        )
    missing = [c for c in (key, *_REQUIRED) if c not in scored.columns]
    if missing:
        raise InputError(
            "the scored rows lack " + ", ".join(missing),
            hint="roll up rows that went through scoring (they carry the score columns and "
            f"{key}); columns present: " + ", ".join(map(str, scored.columns)),
        )


def _check_k(top_k: int | None) -> int:
    k = config.ROLLUP_TOP_K if top_k is None else top_k
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise InputError(f"top_k must be a positive whole number, not {top_k!r}", hint="pass top_k=3")
    return int(k)


# --- computation ---------------------------------------------------------------------------------


def _keys(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Group codes in order of first appearance, and the distinct keys."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    codes, uniques = pd.factorize(values.fillna(""), sort=False)
    return codes, np.asarray(uniques, dtype=object)


def _scores(scored: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(scored[column], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)


def _flags(scored: pd.DataFrame) -> np.ndarray:
    flag = scored["flag"]
    if isinstance(flag.dtype, pd.CategoricalDtype):
        flag = flag.astype(object)
    return flag.fillna("").astype(str).to_numpy(dtype=object)


def _top_k_mean(codes: np.ndarray, values: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """Mean of the ``k`` largest ``values`` of each group (all of them when fewer)."""
    if not len(codes):
        return np.zeros(n_groups)
    order = np.lexsort((-values, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = order[rank < k]
    sums = np.bincount(codes[keep], weights=values[keep], minlength=n_groups)
    counts = np.bincount(codes[keep], minlength=n_groups)
    return sums / np.maximum(counts, 1)


def _group_max(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.full(n_groups, -np.inf)
    np.maximum.at(out, codes, values)
    return np.where(np.isfinite(out), out, 0.0)


def _figures(codes: np.ndarray, n_groups: int, scored: pd.DataFrame, k: int) -> dict[str, np.ndarray]:
    """The figures threads and authors share, one array entry per group."""
    insult = _scores(scored, "insult_score")
    troll = _scores(scored, "troll_score")
    hostility = np.maximum(insult, troll)
    flags = _flags(scored)
    flagged = flags != ""
    n_comments = np.bincount(codes, minlength=n_groups)
    n_flagged = np.bincount(codes, weights=flagged, minlength=n_groups).astype(np.int64)
    flagged_share = n_flagged / np.maximum(n_comments, 1)
    worst = _group_max(codes, hostility, n_groups)
    top = _top_k_mean(codes, hostility, n_groups, k)
    weights = config.ROLLUP_RISK_WEIGHTS
    risk = weights["worst"] * worst + weights["top_k"] * top + weights["flagged_share"] * flagged_share
    return {
        "n_comments": n_comments.astype(np.int64),
        "n_flagged": n_flagged,
        "n_insult": np.bincount(
            codes, weights=np.char.find(flags.astype(str), "insult") >= 0, minlength=n_groups
        ).astype(np.int64),
        "n_troll": np.bincount(
            codes, weights=np.char.find(flags.astype(str), "troll") >= 0, minlength=n_groups
        ).astype(np.int64),
        "flagged_share": flagged_share,
        "max_insult": _group_max(codes, insult, n_groups),
        "max_troll": _group_max(codes, troll, n_groups),
        "top_insult": _top_k_mean(codes, insult, n_groups, k),
        "top_troll": _top_k_mean(codes, troll, n_groups, k),
        "worst": worst,
        "top_k": top,
        "risk": risk,
        "_hostility": hostility,
        "_flagged": flagged,
    }


def _compute_thread_risk(scored: pd.DataFrame, k: int) -> pd.DataFrame:
    codes, threads = _keys(scored["thread_id"])
    n = len(threads)
    figures = _figures(codes, n, scored, k)
    hostility = figures.pop("_hostility")
    figures.pop("_flagged")
    worst_ids = np.full(n, "", dtype=object)
    if "comment_id" in scored.columns and len(codes):
        # The first row holding the group's highest hostility: stable sort keeps row order.
        order = np.lexsort((np.arange(len(codes)), -hostility, codes))
        firsts = order[np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1]]
        ids = scored["comment_id"].to_numpy(dtype=object)
        worst_ids[codes[firsts]] = ids[firsts]
    out = pd.DataFrame({"thread_id": threads, **figures, "worst_comment_id": worst_ids})
    return _sorted(out, "risk", THREAD_COLUMNS)


def _compute_author_risk(scored: pd.DataFrame, k: int) -> pd.DataFrame:
    author = scored["author"]
    if isinstance(author.dtype, pd.CategoricalDtype):
        author = author.astype(object)
    named = author.fillna("").astype(str).to_numpy(dtype=object) != ""
    rows = scored.loc[named]
    codes, authors = _keys(rows["author"])
    n = len(authors)
    figures = _figures(codes, n, rows, k)
    figures.pop("_hostility")
    flagged = figures.pop("_flagged")
    thread_codes, _ = _keys(rows["thread_id"])
    pairs = pd.DataFrame({"author": codes, "thread": thread_codes, "flagged": flagged})
    n_threads = pairs.drop_duplicates(["author", "thread"])["author"].value_counts()
    n_flagged_threads = pairs[pairs["flagged"]].drop_duplicates(["author", "thread"])["author"].value_counts()
    figures["n_threads"] = n_threads.reindex(range(n), fill_value=0).to_numpy(dtype=np.int64)
    figures["n_flagged_threads"] = n_flagged_threads.reindex(range(n), fill_value=0).to_numpy(dtype=np.int64)
    weights = config.AUTHOR_TROLL_WEIGHTS
    spread = np.minimum(figures["n_flagged_threads"] / config.AUTHOR_SPREAD_THREADS, 1.0)
    figures["troll_risk"] = (
        weights["top_k_troll"] * figures["top_troll"]
        + weights["flagged_share"] * figures["flagged_share"]
        + weights["flagged_threads"] * spread
    )
    out = pd.DataFrame({"author": authors, **figures})
    return _sorted(out, "troll_risk", AUTHOR_COLUMNS)


def _sorted(out: pd.DataFrame, by: str, columns: tuple[str, ...]) -> pd.DataFrame:
    out = out.sort_values(by, ascending=False, kind="stable").reset_index(drop=True)
    return out[list(columns)]
