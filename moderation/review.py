"""The moderation workflow over the store: queues, relabels, decisions, undo, users and roles.

The dashboard and the CLI call these functions and hold no workflow logic of their own. Every
change goes through ``apply_changes``, which in one transaction checks the comment's version
(optimistic concurrency), updates the current state in ``comments``, and appends the change to
the audit log (who, when, field, before, after, the model version whose scores the moderator
saw). A change based on a stale version is refused with a ``ConflictError`` naming who changed
the comment, and the refused attempt is itself recorded in the log. Roles are enforced here:
moderators label and decide, admins also manage users and models.

Values from the user (filters, search text, author names) reach SQL only as bound parameters.
"""

from __future__ import annotations

import functools
import itertools
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from moderation import config
from moderation.errors import ConflictError, PermissionDeniedError, StoreError
from moderation.store import (
    Store,
    audit_log,
    comments,
    decisions,
    labels,
    model_comment_counts,
    models,
    refresh_thread_risk,
    scores,
    sources,
    threads,
    users,
    utc_now,
)

__all__ = [
    "ALL_MODERATORS",
    "DECISION_STATES",
    "Change",
    "User",
    "add_note",
    "add_user",
    "apply_changes",
    "authenticate",
    "author_comments",
    "closest_to_threshold",
    "comment",
    "decide",
    "decisions_frame",
    "decisions_over_time",
    "decisions_per_moderator",
    "disagreements",
    "export",
    "flagged_share_by_source",
    "flagged_threads",
    "get_user",
    "labelled_scores",
    "list_users",
    "model_agreement",
    "model_thresholds",
    "moderator_agreement",
    "moderator_labels",
    "near_threshold",
    "promote_model",
    "relabel",
    "rollback_model",
    "score_histogram",
    "scored_model_versions",
    "start_retraining",
    "thread_comments",
    "threshold_preview",
    "undo",
    "unreviewed_comments",
]

#: The decision state each action leaves a comment in.
DECISION_STATES = {
    "approve": "approved",
    "reject": "rejected",
    "escalate": "escalated",
    "restore": "restored",
}
_LABEL_FIELDS = {"insult": "insult_label", "troll": "troll_label"}
_OPERATOR = config.OPERATOR_ACTOR


# --- users and roles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """Who is acting; ``User.operator()`` is whoever runs the CLI on the database itself."""

    name: str
    role: str

    @classmethod
    def operator(cls) -> User:
        return cls(name=_OPERATOR, role="admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _require(user: User, role: str, doing: str) -> None:
    if config.ROLES.index(user.role) < config.ROLES.index(role):
        raise PermissionDeniedError(
            f"{user.name} is a {user.role} and cannot {doing}",
            hint=f"ask an {role} to do it, or to give you the {role} role",
        )


def _check_user_fields(name: str, role: str) -> None:
    if not re.fullmatch(config.USER_NAME_PATTERN, name):
        raise StoreError(
            f"{name!r} is not a valid user name",
            hint="use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    if role not in config.ROLES:
        raise StoreError(f"unknown role {role!r}", hint=f"use one of: {', '.join(config.ROLES)}")


def add_user(store: Store, *, name: str, password: str, role: str, actor: User | None = None) -> User:
    """Create a user (or reset their password and role); only an admin may do it."""
    from argon2 import PasswordHasher

    actor = actor or User.operator()
    _require(actor, "admin", "add users")
    _check_user_fields(name, role)
    if len(password) < config.MIN_PASSWORD_LENGTH:
        raise StoreError(
            f"the password is shorter than {config.MIN_PASSWORD_LENGTH} characters",
            hint="choose a longer password",
        )
    hashed = PasswordHasher().hash(password)
    now = utc_now()
    with store.transaction() as conn:
        existing = conn.execute(sa.select(users.c.role).where(users.c.name == name)).first()
        if existing is None:
            conn.execute(sa.insert(users).values(name=name, role=role, password_hash=hashed, created_at=now))
        else:
            conn.execute(
                sa.update(users)
                .where(users.c.name == name)
                .values(role=role, password_hash=hashed, disabled=False)
            )
        conn.execute(
            sa.insert(audit_log).values(
                at=now,
                actor=actor.name,
                action="user",
                field="role",
                before="" if existing is None else existing[0],
                after=role,
                note=f"user {name} {'added' if existing is None else 'updated'}",
            )
        )
    return User(name=name, role=role)


def get_user(store: Store, name: str) -> User:
    row = store.read(
        sa.select(users.c.name, users.c.role).where(users.c.name == name, users.c.disabled.is_(False))
    )
    if row.empty:
        raise PermissionDeniedError(
            f"there is no user {name!r}", hint="add one with: moderation users add NAME"
        )
    return User(name=str(row.at[0, "name"]), role=str(row.at[0, "role"]))


def list_users(store: Store) -> pd.DataFrame:
    """Users and roles (never the password hashes)."""
    return store.read(
        sa.select(users.c.name, users.c.role, users.c.created_at, users.c.disabled).order_by(users.c.name)
    )


def authenticate(store: Store, name: str, password: str) -> User:
    """The user, when the password matches; otherwise PermissionDeniedError (same for both cases)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    row = store.read(
        sa.select(users.c.role, users.c.password_hash).where(
            users.c.name == name, users.c.disabled.is_(False)
        )
    )
    refused = PermissionDeniedError(
        "wrong user name or password", hint="try again, or ask an admin to reset it"
    )
    # An unknown name is checked against a stand-in hash, so that it takes as long as a wrong
    # password and the time of a refusal does not tell which user names exist.
    known = not row.empty
    hashed = str(row.at[0, "password_hash"]) if known else _stand_in_hash()
    try:
        PasswordHasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        raise refused from None
    if not known:
        raise refused
    return User(name=name, role=str(row.at[0, "role"]))


@functools.cache
def _stand_in_hash() -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(secrets.token_urlsafe(32))


# --- reading: queues, threads, authors ---------------------------------------------------------------


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (escape char is backslash)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _page(limit: int, offset: int) -> tuple[int, int]:
    if not 1 <= limit <= config.MAX_PAGE_SIZE:
        raise StoreError(f"page size {limit} is out of range", hint=f"use 1 to {config.MAX_PAGE_SIZE}")
    if offset < 0:
        raise StoreError("the page offset cannot be negative", hint="start at 0")
    return limit, offset


def _hostility() -> sa.ColumnElement:
    return sa.case(
        (comments.c.insult_score >= comments.c.troll_score, comments.c.insult_score),
        else_=comments.c.troll_score,
    )


def flagged_threads(
    store: Store,
    *,
    label: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    status: str | None = None,
    author: str | None = None,
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
    model_version: str | None = None,
    search: str | None = None,
    limit: int = config.QUEUE_PAGE_SIZE,
    offset: int = 0,
) -> pd.DataFrame:
    """Threads holding flagged comments, riskiest first, with counts and the worst comment.

    ``label`` (insult or troll) keeps threads with comments flagged for it; ``min_score`` and
    ``max_score`` bound the score of that label (or the higher of the two) of some comment;
    ``status`` is ``unreviewed`` (some flagged comment has no decision) or ``decided``;
    ``author``, ``model_version`` and ``search`` (text, case-insensitive substring) keep threads
    with a matching comment; ``source`` is a substring of the dump's path; ``since``/``until``
    bound the comment times (ISO 8601).
    """
    limit, offset = _page(limit, offset)
    if label is not None and label not in _LABEL_FIELDS:
        raise StoreError(f"unknown label {label!r}", hint="use insult or troll")
    if status not in (None, "unreviewed", "decided"):
        raise StoreError(f"unknown status {status!r}", hint="use unreviewed or decided")
    worst = comments.alias("worst")
    query = (
        sa.select(
            threads.c.thread_id,
            threads.c.title,
            threads.c.risk,
            threads.c.n_comments,
            threads.c.n_flagged,
            threads.c.n_insult,
            threads.c.n_troll,
            threads.c.n_unreviewed,
            threads.c.max_insult,
            threads.c.max_troll,
            threads.c.last_comment_at,
            threads.c.worst_comment_id,
            worst.c.author.label("worst_author"),
            worst.c.text.label("worst_text"),
            worst.c.insult_score.label("worst_insult"),
            worst.c.troll_score.label("worst_troll"),
            worst.c.model_version.label("worst_model_version"),
        )
        .select_from(threads.outerjoin(worst, worst.c.comment_id == threads.c.worst_comment_id))
        .where(threads.c.n_flagged > 0)
    )
    if label == "insult":
        query = query.where(threads.c.n_insult > 0)
    elif label == "troll":
        query = query.where(threads.c.n_troll > 0)
    if status == "unreviewed":
        query = query.where(threads.c.n_unreviewed > 0)
    elif status == "decided":
        query = query.where(threads.c.n_unreviewed == 0)
    if source:
        query = query.where(
            threads.c.source_id.in_(
                sa.select(sources.c.source_id).where(sources.c.path.like(_like(source), escape="\\"))
            )
        )
    conditions = []
    score = {"insult": comments.c.insult_score, "troll": comments.c.troll_score}.get(
        label or "", _hostility()
    )
    if min_score is not None:
        conditions.append(score >= float(min_score))
    if max_score is not None:
        conditions.append(score <= float(max_score))
    if author:
        conditions.append(comments.c.author == author)
    if model_version:
        conditions.append(comments.c.model_version == model_version)
    if since:
        conditions.append(comments.c.created_at >= since)
    if until:
        conditions.append(comments.c.created_at <= until)
    if search:
        conditions.append(sa.func.lower(comments.c.text).like(_like(search.lower()), escape="\\"))
    if conditions:
        # IN (not a correlated EXISTS): the database finds the matching comments first through
        # their own index (author, scores), instead of probing every thread in risk order.
        query = query.where(threads.c.thread_id.in_(sa.select(comments.c.thread_id).where(*conditions)))
    query = query.order_by(threads.c.risk.desc(), threads.c.thread_id).limit(limit).offset(offset)
    return store.read(query)


def thread_comments(store: Store, thread_id: str) -> pd.DataFrame:
    """Every comment of a thread in reading order (each reply under its parent), with its title.

    Adds ``tree_depth`` (the indent: depth in the rebuilt tree) and ``title``.
    """
    frame = store.read(
        sa.select(comments, threads.c.title)
        .select_from(comments.join(threads, comments.c.thread_id == threads.c.thread_id))
        .where(comments.c.thread_id == thread_id)
        .order_by(comments.c.position, comments.c.comment_id)
    )
    if frame.empty:
        return frame.assign(tree_depth=pd.Series(dtype="int64"))
    ids = set(frame["comment_id"])
    children: dict[str, list[int]] = {}
    roots = []
    for index, (comment_id, parent_id) in enumerate(
        zip(frame["comment_id"], frame["parent_id"], strict=True)
    ):
        if parent_id and parent_id in ids and parent_id != comment_id:
            children.setdefault(parent_id, []).append(index)
        else:
            roots.append(index)
    order: list[int] = []
    depth: list[int] = []
    seen: set[int] = set()
    stack = [(index, 0) for index in reversed(roots)]
    while stack:
        index, level = stack.pop()
        if index in seen:
            continue
        seen.add(index)
        order.append(index)
        depth.append(level)
        stack.extend(
            (child, level + 1) for child in reversed(children.get(frame.at[index, "comment_id"], []))
        )
    # Rows caught in a cycle (never reached from a root) still show, at the top level.
    for index in range(len(frame)):
        if index not in seen:
            order.append(index)
            depth.append(0)
    out = frame.iloc[order].reset_index(drop=True)
    out["tree_depth"] = depth
    return out


def comment(store: Store, comment_id: str) -> dict[str, Any]:
    """One comment's row (scores, current labels and decision, version)."""
    frame = store.read(sa.select(comments).where(comments.c.comment_id == comment_id))
    if frame.empty:
        raise StoreError(f"there is no comment {comment_id!r}", hint="check the id, or ingest its dump first")
    return frame.iloc[0].to_dict()


def _comment_page(query: sa.Select, limit: int, offset: int, store: Store) -> pd.DataFrame:
    limit, offset = _page(limit, offset)
    return store.read(query.limit(limit).offset(offset))


def _comment_columns() -> list:
    return [*comments.c, threads.c.title]


def unreviewed_comments(
    store: Store, *, label: str | None = None, limit: int = config.QUEUE_PAGE_SIZE, offset: int = 0
) -> pd.DataFrame:
    """Flagged comments that nobody has decided on yet, most hostile first."""
    query = (
        sa.select(*_comment_columns())
        .select_from(comments.join(threads, comments.c.thread_id == threads.c.thread_id))
        .where(comments.c.flag != "", comments.c.decision == "")
    )
    if label in _LABEL_FIELDS:
        query = query.where(comments.c.flag.like(f"%{label}%"))
    query = query.order_by(_hostility().desc(), comments.c.comment_id)
    return _comment_page(query, limit, offset, store)


def author_comments(
    store: Store, author: str, *, limit: int = config.MAX_PAGE_SIZE, offset: int = 0
) -> pd.DataFrame:
    """All of one author's comments across threads, newest first, with each thread's title."""
    query = (
        sa.select(*_comment_columns())
        .select_from(comments.join(threads, comments.c.thread_id == threads.c.thread_id))
        .where(comments.c.author == author)
        .order_by(comments.c.created_at.desc(), comments.c.comment_id)
    )
    return _comment_page(query, limit, offset, store)


def model_thresholds(store: Store, version: str | None = None) -> dict[str, float]:
    """The thresholds in the card of ``version`` (default: the model behind most current scores).

    The default reads the per-version counts that ingest and rescore keep
    (``store.model_comment_counts``): a few rows, where counting ``comments`` by version took
    0.7 s at a million, each time a page's cached thresholds expired.
    """
    import json

    if version is None:
        counts = store.read(
            sa.select(model_comment_counts.c.model_version)
            .where(model_comment_counts.c.n_comments > 0)
            .order_by(model_comment_counts.c.n_comments.desc(), model_comment_counts.c.model_version)
            .limit(1)
        )
        version = str(counts.at[0, "model_version"]) if len(counts) else ""
    row = store.read(sa.select(models.c.card).where(models.c.version == version))
    card = json.loads(row.at[0, "card"]) if len(row) else {}
    return {**config.DEFAULT_THRESHOLDS, **card.get("thresholds", {})}


def near_threshold(
    store: Store,
    *,
    label: str | None = None,
    limit: int = config.QUEUE_PAGE_SIZE,
    offset: int = 0,
    per_thread: int = config.NEAR_THRESHOLD_PER_THREAD,
) -> pd.DataFrame:
    """Unlabelled, undecided comments whose score is closest to the threshold: where the model
    is least sure, so where a label teaches it most. At most ``per_thread`` per thread, so one
    thread cannot fill the queue. Adds ``distance`` (to the nearer threshold)."""
    limit, offset = _page(limit, offset)
    thresholds = model_thresholds(store)
    insult = sa.func.abs(comments.c.insult_score - float(thresholds["insult"]))
    troll = sa.func.abs(comments.c.troll_score - float(thresholds["troll"]))
    if label == "insult":
        distance = insult
    elif label == "troll":
        distance = troll
    elif label is None:
        distance = sa.case((insult <= troll, insult), else_=troll)
    else:
        raise StoreError(f"unknown label {label!r}", hint="use insult or troll")
    ranked = (
        sa.select(
            comments.c.comment_id,
            distance.label("distance"),
            sa.func.row_number()
            .over(partition_by=comments.c.thread_id, order_by=(distance, comments.c.comment_id))
            .label("rank_in_thread"),
        )
        .where(comments.c.decision == "", comments.c.insult_label == "", comments.c.troll_label == "")
        .subquery()
    )
    query = (
        sa.select(*_comment_columns(), ranked.c.distance)
        .select_from(
            ranked.join(comments, comments.c.comment_id == ranked.c.comment_id).join(
                threads, comments.c.thread_id == threads.c.thread_id
            )
        )
        .where(ranked.c.rank_in_thread <= per_thread)
        .order_by(ranked.c.distance, comments.c.comment_id)
        .limit(limit)
        .offset(offset)
    )
    return store.read(query)


def closest_to_threshold(
    scores: Sequence[float] | np.ndarray,
    threshold: float,
    *,
    groups: Sequence[object] | np.ndarray,
    size: int,
    per_group: int = 1,
) -> np.ndarray:
    """Positions of the ``size`` scores closest to ``threshold``, at most ``per_group`` from each
    group, closest first (ties by position): ``near_threshold``'s rule for rows in memory, such
    as a scored file or an active-learning pool, where a group is a thread or a duplicate text.
    """
    distance = np.abs(np.asarray(scores, dtype=float) - float(threshold))
    groups = np.asarray(groups, dtype=object)
    if distance.ndim != 1 or groups.shape != distance.shape:
        raise ValueError(
            f"scores and groups must be 1-D and of one length, not {distance.shape} and {groups.shape}"
        )
    if np.isnan(distance).any():
        raise ValueError("scores and threshold must not be NaN")
    if size < 0 or per_group < 1:
        raise ValueError(f"size must be >= 0 and per_group >= 1, not {size} and {per_group}")
    return _compute_closest(distance, groups, size=size, per_group=per_group)


def _compute_closest(distance: np.ndarray, groups: np.ndarray, *, size: int, per_group: int) -> np.ndarray:
    order = np.argsort(distance, kind="stable")
    ordered = pd.Series(groups[order])
    rank_in_group = ordered.groupby(ordered, sort=False, dropna=False).cumcount().to_numpy()
    return order[rank_in_group < per_group][:size]


# --- changes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One change to one comment, made on top of ``expected_version`` of it.

    ``field`` is ``insult_label``, ``troll_label``, ``decision`` or ``note``; ``value`` is the new
    value (a label value, a decision action, or the note text).
    """

    comment_id: str
    field: str
    value: str
    expected_version: int
    note: str = ""


def _validate(change: Change) -> tuple[str, str]:
    """(stored value, audit action) of a change, or a StoreError saying what is allowed."""
    if change.field in _LABEL_FIELDS.values():
        if change.value not in config.LABEL_VALUES:
            raise StoreError(
                f"{change.value!r} is not a label value", hint=f"use one of: {', '.join(config.LABEL_VALUES)}"
            )
        return change.value, "relabel"
    if change.field == "decision":
        if change.value not in DECISION_STATES:
            raise StoreError(
                f"{change.value!r} is not a decision",
                hint=f"use one of: {', '.join(config.DECISION_ACTIONS)}",
            )
        return DECISION_STATES[change.value], "decide"
    if change.field == "note":
        return change.value, "note"
    raise StoreError(f"{change.field!r} cannot be changed", hint="change a label, the decision or the note")


def _conflict_message(change: Change, current: int, by: str) -> ConflictError:
    who = by or "someone"
    return ConflictError(
        f"comment {change.comment_id} was changed by {who} (now version {current}) after you loaded "
        f"version {change.expected_version}; your change to {change.field} was not saved",
        changed_by=who,
        hint="reload the comment, check what changed, and make your change again",
    )


def _apply_one(conn: Connection, user: User, change: Change, now: str, *, undoes: int = 0) -> int:
    """Apply one change on top of its expected version; returns the comment's new version.

    With ``undoes`` (the audit event reverted), ``change.value`` is the stored value to put
    back exactly as it was, recorded as an ``undo``; no label or decision event is added.
    """
    value, action = (change.value, "undo") if undoes else _validate(change)
    field = comments.c[change.field]
    row = conn.execute(
        sa.select(
            comments.c.version, comments.c.updated_by, field, comments.c.decision, comments.c.model_version
        )
        .where(comments.c.comment_id == change.comment_id)
        .with_for_update()
    ).first()
    if row is None:
        raise StoreError(f"there is no comment {change.comment_id!r}", hint="reload the queue")
    version, updated_by, before, decision, model_version = row
    if version != change.expected_version:
        raise _conflict_message(change, version, updated_by)
    if action == "decide" and change.value == "restore" and decision != "rejected":
        raise StoreError(
            f"comment {change.comment_id} is not rejected, so it cannot be restored",
            hint="only a rejected comment can be restored",
        )
    new_version = version + 1
    conn.execute(
        sa.update(comments)
        .where(comments.c.comment_id == change.comment_id, comments.c.version == version)
        .values({change.field: value, "version": new_version, "updated_by": user.name, "updated_at": now})
    )
    conn.execute(
        sa.insert(audit_log).values(
            at=now,
            actor=user.name,
            action=action,
            comment_id=change.comment_id,
            field=change.field,
            before=before,
            after=value,
            comment_version=new_version,
            model_version=model_version,
            note=change.note,
            undoes=undoes,
        )
    )
    if action == "relabel":
        label = next(name for name, column in _LABEL_FIELDS.items() if column == change.field)
        conn.execute(
            sa.insert(labels).values(
                comment_id=change.comment_id,
                label=label,
                value=value,
                note=change.note,
                moderator=user.name,
                labelled_at=now,
                model_version=model_version,
            )
        )
    elif action == "decide":
        conn.execute(
            sa.insert(decisions).values(
                comment_id=change.comment_id,
                action=value,
                note=change.note,
                moderator=user.name,
                decided_at=now,
                model_version=model_version,
            )
        )
    return new_version


def _record_conflict(store: Store, user: User, change: Change, error: ConflictError) -> None:
    with store.transaction() as conn:
        conn.execute(
            sa.insert(audit_log).values(
                at=utc_now(),
                actor=user.name,
                action="conflict",
                comment_id=change.comment_id,
                field=change.field,
                after=change.value,
                comment_version=change.expected_version,
                note=f"refused: changed by {error.changed_by}",
            )
        )


def apply_changes(
    store: Store,
    user: User,
    changes: Sequence[Change],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Apply every change in one transaction: all of them, or none (a conflict undoes the rest).

    Returns the new version of each changed comment. A stale change raises ``ConflictError``
    (after recording the refused attempt in the audit log).
    """
    _require(user, "moderator", "change comments")
    for change in changes:
        _validate(change)
    now = utc_now()
    versions: dict[str, int] = {}
    failed: tuple[Change, ConflictError] | None = None
    try:
        with store.transaction() as conn:
            touched = set()
            for index, change in enumerate(changes):
                expected = versions.get(change.comment_id, change.expected_version)
                if change.comment_id in versions:
                    change = Change(change.comment_id, change.field, change.value, expected, change.note)
                try:
                    versions[change.comment_id] = _apply_one(conn, user, change, now)
                except ConflictError as error:
                    failed = (change, error)
                    raise
                if change.field == "decision":
                    touched.add(change.comment_id)
                if on_progress is not None:
                    on_progress(index + 1)
            if touched:
                thread_ids = conn.execute(
                    sa.select(comments.c.thread_id)
                    .where(comments.c.comment_id.in_(sorted(touched)))
                    .distinct()
                ).scalars()
                refresh_thread_risk(conn, list(thread_ids))
    except ConflictError as error:
        if failed is not None:
            _record_conflict(store, user, failed[0], error)
        raise
    return versions


def relabel(
    store: Store,
    user: User,
    comment_id: str,
    *,
    label: str,
    value: str,
    expected_version: int,
    note: str = "",
) -> int:
    """Set the insult or troll label of a comment (yes, no or unsure); returns its new version."""
    if label not in _LABEL_FIELDS:
        raise StoreError(f"unknown label {label!r}", hint="use insult or troll")
    change = Change(comment_id, _LABEL_FIELDS[label], value, expected_version, note)
    return apply_changes(store, user, [change])[comment_id]


def decide(
    store: Store, user: User, comment_id: str, *, action: str, expected_version: int, note: str = ""
) -> int:
    """Approve, reject, escalate or restore a comment; returns its new version."""
    return apply_changes(store, user, [Change(comment_id, "decision", action, expected_version, note)])[
        comment_id
    ]


def add_note(store: Store, user: User, comment_id: str, *, note: str, expected_version: int) -> int:
    """Set the moderators' note on a comment; returns its new version."""
    return apply_changes(store, user, [Change(comment_id, "note", note, expected_version)])[comment_id]


def undo(store: Store, user: User, comment_id: str, *, expected_version: int) -> int | None:
    """Revert ``user``'s latest change to the comment that is not undone yet; None when none is left."""
    _require(user, "moderator", "change comments")
    undone = sa.select(audit_log.c.undoes).where(audit_log.c.comment_id == comment_id, audit_log.c.undoes > 0)
    last = store.read(
        sa.select(audit_log.c.event_id, audit_log.c.field, audit_log.c.before)
        .where(
            audit_log.c.comment_id == comment_id,
            audit_log.c.actor == user.name,
            audit_log.c.action.in_(("relabel", "decide", "note")),
            audit_log.c.event_id.not_in(undone),
        )
        .order_by(audit_log.c.event_id.desc())
        .limit(1)
    )
    if last.empty:
        return None
    field, before, event_id = str(last.at[0, "field"]), str(last.at[0, "before"]), int(last.at[0, "event_id"])
    now = utc_now()
    change = Change(comment_id, field, before, expected_version, note=f"undo of event {event_id}")
    try:
        with store.transaction() as conn:
            version = _apply_one(conn, user, change, now, undoes=event_id)
            if field == "decision":
                thread_id = conn.execute(
                    sa.select(comments.c.thread_id).where(comments.c.comment_id == comment_id)
                ).scalar_one()
                refresh_thread_risk(conn, [thread_id])
    except ConflictError as error:
        _record_conflict(store, user, change, error)
        raise
    return version


# --- models (admins only) ------------------------------------------------------------------------------


def _log_model_change(store: Store, user: User, action: str, before: str, after: str) -> None:
    with store.transaction() as conn:
        conn.execute(
            sa.insert(audit_log).values(
                at=utc_now(), actor=user.name, action=action, before=before, after=after, model_version=after
            )
        )


def promote_model(
    store: Store,
    user: User,
    version: str,
    *,
    models_dir: str | Path | None = None,
    force: bool = False,
) -> tuple[str, Any]:
    """Make ``version`` the active model (admins only) if it passes the gate (``moderation.gate``)
    on the public test splits and this store's held-out labels, or ``force``.

    Returns (the previously active version, the gate's result); a failed gate without ``force``
    raises ``GateError`` and changes nothing. A forced promotion is logged as ``promote-forced``.
    """
    from moderation import gate

    _require(user, "admin", "promote a model")
    previous, result = gate.promote(
        version, models_dir=models_dir, moderators=moderator_labels(store), force=force
    )
    action = "promote" if result.passed else "promote-forced"
    _log_model_change(store, user, action, previous, version)
    return previous, result


def rollback_model(store: Store, user: User, *, models_dir: str | Path | None = None) -> str:
    """Make the previously active model active again (admins only); returns it."""
    from moderation.registry import active_version, rollback

    _require(user, "admin", "roll back the model")
    current = active_version(models_dir=models_dir)
    previous = rollback(models_dir=models_dir)
    _log_model_change(store, user, "rollback", current, previous)
    return previous


def start_retraining(store: Store, user: User, *, models_dir: str | Path | None = None) -> Any:
    """Start ``moderation train`` on this store's labels in the background (admins only); returns
    the ``moderation.jobs.Job``. Refused with ``JobError`` while another training job runs."""
    from moderation import jobs

    _require(user, "admin", "retrain the model")
    url = store.engine.url.render_as_string(hide_password=False)
    return jobs.start_training(url, models_dir=models_dir, started_by=user.name)


# --- export and statistics -----------------------------------------------------------------------------

#: What ``export`` can write, and the query of each.
EXPORTS = ("labels", "decisions", "audit")


def decisions_frame(store: Store) -> pd.DataFrame:
    """Every decision with its comment's thread, for the Stats page and exports."""
    return store.read(
        sa.select(
            decisions.c.decision_event_id,
            decisions.c.comment_id,
            comments.c.thread_id,
            decisions.c.action,
            decisions.c.moderator,
            decisions.c.decided_at,
            decisions.c.model_version,
            decisions.c.note,
        )
        .select_from(decisions.join(comments, comments.c.comment_id == decisions.c.comment_id))
        .order_by(decisions.c.decision_event_id)
    )


def _export_frame(store: Store, what: str) -> pd.DataFrame:
    if what == "labels":
        return store.read(
            sa.select(
                labels.c.label_event_id,
                labels.c.comment_id,
                comments.c.thread_id,
                labels.c.label,
                labels.c.value,
                labels.c.moderator,
                labels.c.labelled_at,
                labels.c.model_version,
                labels.c.note,
                comments.c.text,
            )
            .select_from(labels.join(comments, comments.c.comment_id == labels.c.comment_id))
            .order_by(labels.c.label_event_id)
        )
    if what == "decisions":
        return decisions_frame(store)
    if what == "audit":
        return store.read(sa.select(audit_log).order_by(audit_log.c.event_id))
    raise StoreError(f"cannot export {what!r}", hint=f"export one of: {', '.join(EXPORTS)}")


def export(store: Store, what: str, output: str | Path) -> int:
    """Write labels, decisions or the audit log to CSV, JSONL or Parquet; returns the row count.

    CSV cells that a spreadsheet would run as a formula are neutralised by the writer.
    """
    from moderation.output import FrameWriter

    frame = _export_frame(store, what)
    with FrameWriter(output) as writer:
        writer.write(frame)
    return len(frame)


def decisions_over_time(store: Store) -> pd.DataFrame:
    """Decisions per UTC day and action (columns ``day``, ``action``, ``n``), oldest day first."""
    day = sa.func.substr(decisions.c.decided_at, 1, 10).label("day")
    return store.read(
        sa.select(day, decisions.c.action, sa.func.count().label("n"))
        .group_by("day", decisions.c.action)
        .order_by("day", decisions.c.action)
    )


def decisions_per_moderator(store: Store) -> pd.DataFrame:
    """Decisions per moderator and action (columns ``moderator``, ``action``, ``n``), by name."""
    return store.read(
        sa.select(decisions.c.moderator, decisions.c.action, sa.func.count().label("n"))
        .group_by(decisions.c.moderator, decisions.c.action)
        .order_by(decisions.c.moderator, decisions.c.action)
    )


def score_histogram(store: Store, *, bins: int = config.SCORE_BINS) -> pd.DataFrame:
    """How the current scores of all comments spread over ``bins`` equal bins from 0 to 1.

    One row per label and bin, empty bins included: ``label``, ``bin_start``, ``bin_end``, ``n``.
    Bins are closed on the left; a score of exactly 1 falls in the last bin.
    """
    if not 1 <= bins <= 1_000:
        raise StoreError(f"{bins} histogram bins is out of range", hint="use 1 to 1000 bins")
    edges = [i / bins for i in range(bins + 1)]
    frames = []
    for label in config.LABELS:
        score = comments.c[f"{label}_score"]
        # One CASE over the inner edges: a single scan, the same on SQLite and PostgreSQL.
        inner = [(score < edge, i) for i, edge in enumerate(edges[1:-1])]
        which = sa.case(*inner, else_=bins - 1) if inner else sa.literal(0)
        counts = store.read(
            sa.select(which.label("bin"), sa.func.count().label("n")).select_from(comments).group_by("bin")
        )
        n = dict(zip(counts["bin"].astype(int), counts["n"].astype(int), strict=True))
        frames.append(
            pd.DataFrame(
                {
                    "label": label,
                    "bin_start": edges[:-1],
                    "bin_end": edges[1:],
                    "n": [n.get(i, 0) for i in range(bins)],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def flagged_share_by_source(store: Store) -> pd.DataFrame:
    """Per ingested dump: ``source`` (its path; "" when unknown), ``format``, ``n_comments``,
    ``n_flagged`` and ``flagged_share``; highest share first."""
    flagged = sa.func.sum(sa.case((comments.c.flag != "", 1), else_=0))
    frame = store.read(
        sa.select(
            sa.func.coalesce(sources.c.path, "").label("source"),
            sa.func.coalesce(sources.c.format, "").label("format"),
            sa.func.count().label("n_comments"),
            flagged.label("n_flagged"),
        )
        .select_from(comments.outerjoin(sources, comments.c.source_id == sources.c.source_id))
        .group_by(sources.c.path, sources.c.format)
    )
    if frame.empty:
        return frame.assign(flagged_share=pd.Series(dtype="float64"))
    frame["n_comments"] = frame["n_comments"].astype(int)
    frame["n_flagged"] = frame["n_flagged"].astype(int)
    frame["flagged_share"] = frame["n_flagged"] / frame["n_comments"]
    return frame.sort_values(["flagged_share", "source"], ascending=[False, True], ignore_index=True)


# --- agreement: moderators with each other and with the model ------------------------------------

#: The ``moderator`` of ``model_agreement``'s overall rows (not a valid user name: no clash).
ALL_MODERATORS = "(all)"
_YES_NO = ("yes", "no")
_LATEST_COLUMNS = ["comment_id", "thread_id", "label", "moderator", "value", "event_id", "model_flag"]


def _latest_labels(store: Store) -> pd.DataFrame:
    """Each moderator's latest yes/no label of each comment, with the model's flag as they saw it.

    Read from the audit log's relabel events, not from ``comments`` (which holds only the last
    writer's value) nor from ``labels`` (which an undo leaves alone): a relabel the moderator
    undid does not count, and their earlier label of the comment, if any, counts again. A latest
    label of ``unsure`` leaves the moderator out for that comment. ``model_flag`` is the score of
    the model version that had scored the comment when it was labelled, at that version's
    threshold (the current score when that version's scores are gone).

    Columns: comment_id, thread_id, label, moderator, value (yes/no), event_id, model_flag (bool).
    """
    undone = sa.select(audit_log.c.undoes).where(audit_log.c.undoes > 0)
    ranked = (
        sa.select(
            audit_log.c.event_id,
            audit_log.c.comment_id,
            audit_log.c.field,
            audit_log.c.actor,
            audit_log.c.after,
            audit_log.c.model_version,
            sa.func.row_number()
            .over(
                partition_by=(audit_log.c.comment_id, audit_log.c.field, audit_log.c.actor),
                order_by=audit_log.c.event_id.desc(),
            )
            .label("recency"),
        )
        .where(
            audit_log.c.action == "relabel",
            audit_log.c.field.in_(tuple(_LABEL_FIELDS.values())),
            audit_log.c.event_id.not_in(undone),
        )
        .subquery()
    )
    seen = sa.and_(
        scores.c.comment_id == ranked.c.comment_id, scores.c.model_version == ranked.c.model_version
    )
    frame = store.read(
        sa.select(
            ranked.c.event_id,
            ranked.c.comment_id,
            comments.c.thread_id,
            ranked.c.field,
            ranked.c.actor.label("moderator"),
            ranked.c.after.label("value"),
            sa.case(
                (scores.c.comment_id.is_(None), comments.c.model_version), else_=ranked.c.model_version
            ).label("scored_by"),
            sa.func.coalesce(scores.c.insult_score, comments.c.insult_score).label("insult_score"),
            sa.func.coalesce(scores.c.troll_score, comments.c.troll_score).label("troll_score"),
        )
        .select_from(
            ranked.join(comments, comments.c.comment_id == ranked.c.comment_id).outerjoin(scores, seen)
        )
        .where(ranked.c.recency == 1, ranked.c.after.in_(_YES_NO))
        .order_by(ranked.c.event_id)
    )
    if frame.empty:
        return pd.DataFrame({column: pd.Series(dtype="bool" if column == "model_flag" else "object")
                             for column in _LATEST_COLUMNS})  # fmt: skip
    by_field = {column: name for name, column in _LABEL_FIELDS.items()}
    frame["label"] = frame["field"].map(by_field)
    thresholds = {version: model_thresholds(store, version or None) for version in set(frame["scored_by"])}
    threshold = [thresholds[v][label] for v, label in zip(frame["scored_by"], frame["label"], strict=True)]
    score = frame["insult_score"].where(frame["label"] == "insult", frame["troll_score"])
    frame["model_flag"] = score.astype(float).to_numpy() >= pd.Series(threshold, dtype="float64").to_numpy()
    frame["event_id"] = frame["event_id"].astype(int)
    return frame[_LATEST_COLUMNS]


def _compute_kappa(first: pd.Series, second: pd.Series, names: tuple[str, str]) -> tuple[float, str]:
    """Cohen's kappa of two aligned yes/no series, or NaN and why it is not shown."""
    from sklearn.metrics import cohen_kappa_score

    n = len(first)
    if n == 0:
        return float("nan"), f"no comment labelled by both {names[0]} and {names[1]}"
    if n < config.MIN_KAPPA_ITEMS:
        return float("nan"), f"only {n} in common; kappa needs {config.MIN_KAPPA_ITEMS}"
    constant = [
        f"{name} said {values.iat[0]} to all {n}"
        for name, values in zip(names, (first, second), strict=True)
        if values.nunique() == 1
    ]
    if constant:
        # Kappa is undefined (both constant) or stuck at 0 (one constant): it says nothing.
        return float("nan"), "; ".join(constant)
    return float(cohen_kappa_score(first.to_numpy(), second.to_numpy(), labels=list(_YES_NO))), ""


def moderator_agreement(store: Store) -> pd.DataFrame:
    """How often each pair of moderators agrees, per label, on the comments both labelled yes/no.

    Each moderator's latest label of a comment counts (see ``_latest_labels``). One row per
    label and pair of moderators who gave that label: ``label``, ``moderator_a``,
    ``moderator_b`` (a before b by name), ``n`` (comments in common), ``agreement`` (share of
    them labelled alike), ``kappa`` (Cohen's; NaN when fewer than ``config.MIN_KAPPA_ITEMS``
    are in common or one side gave a single value) and ``note`` (why kappa is NaN).
    """
    latest = _latest_labels(store)
    rows = []
    for label in config.LABELS:
        given = latest[latest["label"] == label]
        by_moderator = {
            name: group.set_index("comment_id")["value"]
            for name, group in given.groupby("moderator", sort=True)
        }
        for a, b in itertools.combinations(sorted(by_moderator), 2):
            both = pd.concat([by_moderator[a].rename("a"), by_moderator[b].rename("b")], axis=1, join="inner")
            kappa, note = _compute_kappa(both["a"], both["b"], (a, b))
            rows.append(
                {
                    "label": label,
                    "moderator_a": a,
                    "moderator_b": b,
                    "n": len(both),
                    "agreement": float((both["a"] == both["b"]).mean()) if len(both) else float("nan"),
                    "kappa": kappa,
                    "note": note,
                }
            )
    columns = ["label", "moderator_a", "moderator_b", "n", "agreement", "kappa", "note"]
    return pd.DataFrame(rows, columns=columns).astype(
        {"n": "int64", "agreement": "float64", "kappa": "float64"}
    )


def model_agreement(store: Store) -> pd.DataFrame:
    """How each moderator's yes/no labels compare with the model's flags, and how often they
    overturn it, per label; then one overall row per label (``moderator`` is ``ALL_MODERATORS``)
    pooling every moderator's labels.

    The model's flag is the one the moderator saw (``_latest_labels``). Columns: ``moderator``,
    ``label``, ``n`` (comments labelled), ``agreement``, ``kappa`` (NaN with a ``note`` as in
    ``moderator_agreement``), ``n_flag_overturned`` (the model flagged it, the moderator said no),
    ``n_flag_missed`` (the model did not flag it, the moderator said yes), ``n_overturned`` (both)
    and ``overturn_rate`` (``n_overturned / n``).
    """
    latest = _latest_labels(store)
    rows = []
    for label in config.LABELS:
        given = latest[latest["label"] == label]
        groups = [*given.groupby("moderator", sort=True)]
        if groups:
            groups.append((ALL_MODERATORS, given))
        for name, group in groups:
            said = group["value"].reset_index(drop=True)
            model = group["model_flag"].map({True: "yes", False: "no"}).reset_index(drop=True)
            kappa, note = _compute_kappa(said, model, (str(name), "the model"))
            overturned = int(((said == "no") & (model == "yes")).sum())
            missed = int(((said == "yes") & (model == "no")).sum())
            rows.append(
                {
                    "moderator": name,
                    "label": label,
                    "n": len(group),
                    "agreement": float((said == model).mean()),
                    "kappa": kappa,
                    "note": note,
                    "n_flag_overturned": overturned,
                    "n_flag_missed": missed,
                    "n_overturned": overturned + missed,
                    "overturn_rate": (overturned + missed) / len(group),
                }
            )
    columns = [
        "moderator",
        "label",
        "n",
        "agreement",
        "kappa",
        "note",
        "n_flag_overturned",
        "n_flag_missed",
        "n_overturned",
        "overturn_rate",
    ]
    counts = dict.fromkeys(("n", "n_flag_overturned", "n_flag_missed", "n_overturned"), "int64")
    return pd.DataFrame(rows, columns=columns).astype(
        {**counts, "agreement": "float64", "kappa": "float64", "overturn_rate": "float64"}
    )


def disagreements(store: Store, *, limit: int = 50) -> pd.DataFrame:
    """Comments whose moderators' latest labels disagree (one said yes, another no), per label,
    most recently labelled first: ``comment_id``, ``thread_id``, ``title``, ``text``, ``label``,
    ``said_yes`` and ``said_no`` (the moderators' names, comma-separated, by name)."""
    limit, _ = _page(limit, 0)
    columns = ["comment_id", "thread_id", "title", "text", "label", "said_yes", "said_no"]
    latest = _latest_labels(store)
    if latest.empty:
        return pd.DataFrame(columns=columns, dtype="object")
    keys = ["comment_id", "label"]

    def names(value: str) -> pd.Series:
        said = latest[latest["value"] == value]
        return said.groupby(keys)["moderator"].agg(lambda who: ", ".join(sorted(who)))

    split = pd.concat(
        [names("yes").rename("said_yes"), names("no").rename("said_no")], axis=1, join="inner"
    ).join(latest.groupby(keys)["event_id"].max().rename("last_event_id"))
    split = split.reset_index()
    split = split.sort_values(["last_event_id", "comment_id"], ascending=[False, True]).head(limit)
    if split.empty:
        return pd.DataFrame(columns=columns, dtype="object")
    texts = store.read(
        sa.select(comments.c.comment_id, comments.c.thread_id, threads.c.title, comments.c.text)
        .select_from(comments.join(threads, comments.c.thread_id == threads.c.thread_id))
        .where(comments.c.comment_id.in_(sorted(set(split["comment_id"]))))
    )
    out = split.merge(texts, on="comment_id", how="left")
    return out[columns].reset_index(drop=True)


def scored_model_versions(store: Store) -> list[str]:
    """The model versions that have scored comments in this store, by name (for a queue filter).

    Read from ``models``, where ingest and rescore register each version the first time it
    scores: a few rows, where a DISTINCT over ``comments`` scanned every comment (0.7 s at a
    million, on each Queue load). A version whose scores a rescore has since replaced on every
    comment stays listed; filtering on it finds nothing.
    """
    frame = store.read(sa.select(models.c.version).order_by(models.c.version))
    return [str(v) for v in frame["version"] if v]


def _check_label(label: str) -> None:
    if label not in config.LABELS:
        raise StoreError(f"unknown label {label!r}", hint=f"use one of: {', '.join(config.LABELS)}")


def labelled_scores(store: Store, *, label: str) -> pd.DataFrame:
    """Every comment a moderator labelled yes or no for ``label``: ``comment_id``, ``y`` (1 for
    yes, 0 for no) and ``score`` (its current ``<label>_score``), by comment id."""
    _check_label(label)
    value, score = comments.c[f"{label}_label"], comments.c[f"{label}_score"]
    frame = store.read(
        sa.select(comments.c.comment_id, value.label("value"), score.label("score"))
        .where(value.in_(("yes", "no")))
        .order_by(comments.c.comment_id)
    )
    return pd.DataFrame(
        {
            "comment_id": frame["comment_id"].astype(str),
            "y": (frame["value"] == "yes").astype("int64"),
            "score": frame["score"].astype("float64"),
        }
    )


def threshold_preview(store: Store, *, label: str, threshold: float) -> dict[str, Any]:
    """What flagging ``label`` at ``threshold`` would mean here, on the moderators' own labels:
    ``n_labelled``, ``positives`` (labelled yes), ``true_positives`` and ``false_positives``
    among them, ``precision`` (None when no labelled comment would be flagged), ``recall``
    (None without a yes label), and ``would_flag``: every stored comment at or above it."""
    if not 0.0 <= float(threshold) <= 1.0:
        raise StoreError(f"threshold {threshold} is not a probability", hint="use a value from 0 to 1")
    scored = labelled_scores(store, label=label)
    flagged = scored["score"] >= float(threshold)
    true_positives = int((flagged & (scored["y"] == 1)).sum())
    false_positives = int((flagged & (scored["y"] == 0)).sum())
    positives = int(scored["y"].sum())
    would_flag = store.read(
        sa.select(sa.func.count().label("n")).where(comments.c[f"{label}_score"] >= float(threshold))
    )
    return {
        "label": label,
        "threshold": float(threshold),
        "n_labelled": len(scored),
        "positives": positives,
        "true_positives": true_positives,
        "false_positives": false_positives,
        "precision": true_positives / (true_positives + false_positives) if flagged.any() else None,
        "recall": true_positives / positives if positives else None,
        "would_flag": int(would_flag.at[0, "n"]),
    }


# --- the moderators' labels as training data ---------------------------------------------------------


def moderator_labels(store: Store, *, weight: float = config.MODERATOR_LABEL_WEIGHT) -> pd.DataFrame:
    """The current labels of every comment a moderator labelled yes or no, as training rows.

    Columns follow ``moderation.training.CORPUS_COLUMNS``: ``insult``/``troll`` are 1.0 (yes),
    0.0 (no) or NaN (unsure or unlabelled: that head does not train on the row); both weights
    are ``weight``; the group is the thread, so grouped splits keep a thread on one side.
    """
    labelled = (comments.c.insult_label.in_(("yes", "no"))) | (comments.c.troll_label.in_(("yes", "no")))
    frame = store.read(
        sa.select(
            comments.c.comment_id,
            comments.c.thread_id,
            comments.c.parent_id,
            comments.c.author,
            comments.c.depth,
            comments.c.text,
            comments.c.insult_label,
            comments.c.troll_label,
            threads.c.title.label("thread_title"),
        )
        .select_from(comments.join(threads, comments.c.thread_id == threads.c.thread_id))
        .where(labelled)
        .order_by(comments.c.comment_id)
    )
    values = {"yes": 1.0, "no": 0.0}
    out = pd.DataFrame(
        {
            "text": frame["text"].astype(str),
            "insult": frame["insult_label"].map(values).astype("float64"),
            "troll": frame["troll_label"].map(values).astype("float64"),
            "insult_weight": float(weight),
            "troll_weight": float(weight),
            "group": "thread:" + frame["thread_id"].astype(str),
            "corpus": "moderators",
            "split": "train",
            "subset": "",
        }
    )
    for column in ("comment_id", "thread_id", "parent_id", "author", "depth", "thread_title"):
        out[column] = frame[column].to_numpy()
    return out
