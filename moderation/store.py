"""The moderation store: comments, scores, labels, decisions, models, users and the audit log.

Where scored comments live once a site works them as a team (``moderation ingest``), and what
the workflow (``moderation.review``) and the dashboard read and write. The schema is declared
once below in SQLAlchemy Core and created by numbered migrations (``MIGRATIONS``), run in order
and recorded in ``schema_migrations``. SQLite is the default (WAL, foreign keys, a busy timeout,
and write transactions that take the write lock up front); any ``postgresql+psycopg://`` URL
works too. Every value reaches SQL as a bound parameter.

Tables:
    sources           one row per ingested file (path, format, row counts)
    threads           one row per thread, with its roll-up (``moderation.rollups.thread_risk``)
    comments          one row per comment: the text, the active model's scores, and the current
                      moderation state (labels, decision, note) with its ``version``
    scores            one row per comment and model version (rescoring keeps old scores)
    labels            every relabel, in order (append-only)
    decisions         every decision, in order (append-only)
    models            the model versions that scored comments, with their cards
    model_comment_counts  how many comments each model version's scores are current for (kept by
                      ingest and rescore in the transaction that moves them; read for the
                      store's default thresholds instead of counting every comment)
    users             moderators and admins, with argon2 password hashes
    audit_log         every change: who, when, field, before, after, active model (append-only;
                      triggers refuse UPDATE and DELETE)
    label_issues      the likely mislabels of the last ``moderation label-issues`` run (derived
                      data, replaced by each run; ``moderation.label_issues``)

The moderation state in ``comments`` is a cache of the audit log, written in the same
transaction; ``replay_state`` derives it from the log alone, and the tests check both agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from moderation import config
from moderation.errors import ModerationError, StoreError

__all__ = [
    "MIGRATIONS",
    "IngestSummary",
    "Store",
    "audit_log",
    "comments",
    "current_migration",
    "decisions",
    "ingest_files",
    "label_issues",
    "labels",
    "metadata",
    "model_comment_counts",
    "models",
    "open_store",
    "refresh_thread_risk",
    "replay_state",
    "rescore",
    "resolve_db_url",
    "scores",
    "sources",
    "text_sha256",
    "threads",
    "users",
    "utc_now",
]

metadata = sa.MetaData()

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("applied_at", sa.String(40), nullable=False),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("source_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("path", sa.Text, nullable=False, unique=True),
    sa.Column("format", sa.String(40), nullable=False, server_default=""),
    sa.Column("first_ingested_at", sa.String(40), nullable=False),
    sa.Column("last_ingested_at", sa.String(40), nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_rejected", sa.Integer, nullable=False, server_default="0"),
)

threads = sa.Table(
    "threads",
    metadata,
    sa.Column("thread_id", sa.String(500), primary_key=True),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.source_id"), nullable=True),
    sa.Column("n_comments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_flagged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_insult", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_troll", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_unreviewed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("flagged_share", sa.Float, nullable=False, server_default="0"),
    sa.Column("max_insult", sa.Float, nullable=False, server_default="0"),
    sa.Column("max_troll", sa.Float, nullable=False, server_default="0"),
    sa.Column("top_insult", sa.Float, nullable=False, server_default="0"),
    sa.Column("top_troll", sa.Float, nullable=False, server_default="0"),
    sa.Column("worst", sa.Float, nullable=False, server_default="0"),
    sa.Column("top_k", sa.Float, nullable=False, server_default="0"),
    sa.Column("risk", sa.Float, nullable=False, server_default="0"),
    sa.Column("worst_comment_id", sa.String(500), nullable=False, server_default=""),
    sa.Column("last_comment_at", sa.String(40), nullable=False, server_default=""),
    sa.Index("ix_threads_risk", "risk"),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("comment_id", sa.String(500), primary_key=True),
    sa.Column("thread_id", sa.String(500), sa.ForeignKey("threads.thread_id"), nullable=False),
    sa.Column("parent_id", sa.String(500), nullable=False, server_default=""),
    sa.Column("author", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", sa.String(40), nullable=False, server_default=""),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("text_original", sa.Text, nullable=False, server_default=""),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("source_status", sa.String(20), nullable=False, server_default=""),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.source_id"), nullable=True),
    sa.Column("record", sa.Integer, nullable=False, server_default="0"),
    # The active model's scores (every model's are in ``scores``).
    sa.Column("insult_score", sa.Float, nullable=False, server_default="0"),
    sa.Column("troll_score", sa.Float, nullable=False, server_default="0"),
    sa.Column("flag", sa.String(20), nullable=False, server_default=""),
    sa.Column("reasons", sa.Text, nullable=False, server_default=""),
    sa.Column("model_version", sa.String(200), nullable=False, server_default=""),
    # The moderation state, derived from the audit log (see ``replay_state``).
    sa.Column("insult_label", sa.String(10), nullable=False, server_default=""),
    sa.Column("troll_label", sa.String(10), nullable=False, server_default=""),
    sa.Column("decision", sa.String(20), nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_by", sa.String(100), nullable=False, server_default=""),
    sa.Column("updated_at", sa.String(40), nullable=False, server_default=""),
    sa.Index("ix_comments_thread", "thread_id", "position"),
    sa.Index("ix_comments_author", "author"),
    sa.Index("ix_comments_decision", "decision"),
    # No index on the scores: every score query is a range over most rows or an expression of
    # both scores, and two more indexes cost ingest about a tenth of its rate.
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("comment_id", sa.String(500), sa.ForeignKey("comments.comment_id"), primary_key=True),
    sa.Column("model_version", sa.String(200), primary_key=True),
    sa.Column("insult_score", sa.Float, nullable=False),
    sa.Column("troll_score", sa.Float, nullable=False),
    sa.Column("flag", sa.String(20), nullable=False, server_default=""),
    sa.Column("reasons", sa.Text, nullable=False, server_default=""),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("scored_at", sa.String(40), nullable=False),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("label_event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("comment_id", sa.String(500), sa.ForeignKey("comments.comment_id"), nullable=False),
    sa.Column("label", sa.String(20), nullable=False),
    sa.Column("value", sa.String(10), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("moderator", sa.String(100), nullable=False),
    sa.Column("labelled_at", sa.String(40), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False, server_default=""),
    sa.Index("ix_labels_comment", "comment_id"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("comment_id", sa.String(500), sa.ForeignKey("comments.comment_id"), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("moderator", sa.String(100), nullable=False),
    sa.Column("decided_at", sa.String(40), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False, server_default=""),
    sa.Index("ix_decisions_comment", "comment_id"),
    sa.Index("ix_decisions_at", "decided_at"),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("version", sa.String(200), primary_key=True),
    sa.Column("registered_at", sa.String(40), nullable=False),
    sa.Column("card", sa.Text, nullable=False),
)

model_comment_counts = sa.Table(
    "model_comment_counts",
    metadata,
    sa.Column("model_version", sa.String(200), primary_key=True),
    # Comments whose current scores (``comments.model_version``) are this version's.
    sa.Column("n_comments", sa.Integer, nullable=False, server_default="0"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("comment_id", sa.String(500), nullable=False, server_default=""),
    sa.Column("field", sa.String(40), nullable=False, server_default=""),
    sa.Column("before", sa.Text, nullable=False, server_default=""),
    sa.Column("after", sa.Text, nullable=False, server_default=""),
    sa.Column("comment_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("model_version", sa.String(200), nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    # For an undo: the event it reverts (0 otherwise).
    sa.Column("undoes", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_audit_comment", "comment_id", "event_id"),
    sa.Index("ix_audit_actor", "actor"),
)

label_issues = sa.Table(
    "label_issues",
    metadata,
    sa.Column("issue_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("label", sa.String(20), nullable=False),
    # The position among all suspects of the run for this label, 1 = most likely mislabelled.
    sa.Column("rank", sa.Integer, nullable=False),
    # A moderator's label; NULL for a row of a public corpus.
    sa.Column("comment_id", sa.String(500), nullable=True),
    sa.Column("corpus", sa.String(100), nullable=False, server_default=""),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("given", sa.String(10), nullable=False),
    sa.Column("suggested", sa.String(10), nullable=False),
    sa.Column("self_confidence", sa.Float, nullable=False),
    sa.Index("ix_label_issues_label_rank", "label", "rank"),
    sa.Index("ix_label_issues_comment", "comment_id"),
)

#: Tables created by a migration after 0001, which therefore leaves them out.
_LATER_TABLES = ("label_issues", "model_comment_counts")

#: The moderation state fields of ``comments`` that the audit log rebuilds.
STATE_FIELDS = ("insult_label", "troll_label", "decision", "note")


def utc_now() -> str:
    """The current time as ISO 8601 UTC with microseconds (sorts as text)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- migrations ---------------------------------------------------------------------------------

_APPEND_ONLY_MESSAGE = "the audit log is append-only"


def _m0001_tables(conn: Connection) -> None:
    tables = [t for t in metadata.sorted_tables if t.name not in ("schema_migrations", *_LATER_TABLES)]
    metadata.create_all(conn, tables=tables, checkfirst=True)


def _m0002_audit_append_only(conn: Connection) -> None:
    for table in ("audit_log", "labels", "decisions"):
        if conn.dialect.name == "sqlite":
            for event in ("UPDATE", "DELETE"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END"
                )
        elif conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION moderation_append_only() RETURNS trigger AS $$ "
                f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION moderation_append_only()"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION moderation_append_only()"
            )


def _m0003_label_issues(conn: Connection) -> None:
    label_issues.create(conn, checkfirst=True)


def _m0004_model_comment_counts(conn: Connection) -> None:
    # One scan of the comments now, so that no page has to count them all again.
    model_comment_counts.create(conn, checkfirst=True)
    conn.execute(
        sa.insert(model_comment_counts).from_select(
            ["model_version", "n_comments"],
            sa.select(comments.c.model_version, sa.func.count()).group_by(comments.c.model_version),
        )
    )


#: Numbered migrations, applied in order; never edit one that has shipped, add a new one.
MIGRATIONS: tuple[tuple[str, Callable[[Connection], None]], ...] = (
    ("0001_tables", _m0001_tables),
    ("0002_audit_append_only", _m0002_audit_append_only),
    ("0003_label_issues", _m0003_label_issues),
    ("0004_model_comment_counts", _m0004_model_comment_counts),
)


def current_migration(engine: Engine) -> str:
    """The last migration applied to the database ("" for an empty database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_migrations"):
            return ""
        names = conn.execute(sa.select(schema_migrations.c.name)).scalars().all()
    return max(names, default="")


def _migrate(engine: Engine, *, target: str | None = None) -> list[str]:
    known = [name for name, _ in MIGRATIONS]
    applied_now = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # One migrator at a time, however many processes open the store at once.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7263001)"))
        schema_migrations.create(conn, checkfirst=True)
        applied = set(conn.execute(sa.select(schema_migrations.c.name)).scalars())
        unknown = sorted(applied - set(known))
        if unknown:
            raise StoreError(
                f"the database has migrations this version does not know: {', '.join(unknown)}",
                hint="upgrade the moderation package to the version that created this database",
            )
        for name, step in MIGRATIONS:
            if name in applied:
                continue
            step(conn)
            conn.execute(sa.insert(schema_migrations).values(name=name, applied_at=utc_now()))
            applied_now.append(name)
            if name == target:
                break
    return applied_now


# --- connecting ----------------------------------------------------------------------------------


def resolve_db_url(db: str | None = None) -> str:
    """``--db``, else ``$MODERATION_DB``, else a SQLite file in the working directory.

    A plain path means a SQLite file; ``postgresql://`` is read as ``postgresql+psycopg://``.
    """
    url = db or os.environ.get(config.DB_ENV_VAR) or config.DEFAULT_DB_FILE
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def _create_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as error:
        raise StoreError(
            f"cannot read the database URL {url!r}",
            hint="pass --db sqlite:///path/to/moderation.db or postgresql+psycopg://user@host/db",
        ) from error
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        memory = database in ("", ":memory:")
        if not memory:
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                raise StoreError(
                    f"the folder of the SQLite database {database} does not exist",
                    hint=f"create {folder} first, or pass --db with another path",
                )
        kwargs: dict[str, Any] = {"connect_args": {"timeout": config.SQLITE_BUSY_TIMEOUT_MS / 1000}}
        if memory:
            kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        engine = sa.create_engine(parsed, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from the driver, so a write transaction can take
            # the write lock when it begins (BEGIN IMMEDIATE) instead of failing to upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(config.SQLITE_BUSY_TIMEOUT_MS)}")
            cursor.execute(f"PRAGMA synchronous={config.SQLITE_SYNCHRONOUS}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() not in ("psycopg",):
            raise StoreError(
                f"the PostgreSQL driver {parsed.get_driver_name()!r} is not supported",
                hint="use a postgresql+psycopg:// URL (pip install 'moderation[postgres]')",
            )
        try:
            import psycopg  # noqa: F401
        except ImportError as error:
            raise StoreError(
                "PostgreSQL needs the psycopg driver, which is not installed",
                hint="pip install 'moderation[postgres]'",
            ) from error
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise StoreError(
        f"unsupported database {parsed.get_backend_name()!r}",
        hint="use sqlite:///path/to/moderation.db or postgresql+psycopg://user@host/db",
    )


@dataclass
class Store:
    """An open store: the engine plus what every query needs to know."""

    engine: Engine
    url: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction (on SQLite it holds the write lock from the start)."""
        with self.engine.begin() as conn:
            yield conn

    def read(self, query: sa.Executable, params: dict | None = None) -> pd.DataFrame:
        """Run a SELECT and return its rows as a frame."""
        with self.engine.connect() as conn:
            result = conn.execute(query, params or {})
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(db: str | None = None) -> Store:
    """Connect to the store at ``db`` (see ``resolve_db_url``) and bring its schema up to date."""
    url = resolve_db_url(db)
    engine = _create_engine(url)
    try:
        _migrate(engine)
    except ModerationError:
        engine.dispose()
        raise
    except sa.exc.OperationalError as error:
        engine.dispose()
        raise StoreError(
            f"cannot open the database {_safe_url(url)}: {str(error.orig).strip()}",
            hint="check that the server is running and the URL, user and password are right",
        ) from error
    return Store(engine=engine, url=url)


# --- models ----------------------------------------------------------------------------------------


def register_model(conn: Connection, model: Any) -> None:
    """Record a model version (and its card) the first time it scores comments."""
    exists = conn.execute(sa.select(models.c.version).where(models.c.version == model.version)).first()
    if exists is None:
        card = getattr(model, "card", None) or {"version": model.version}
        conn.execute(
            sa.insert(models).values(
                version=model.version, registered_at=utc_now(), card=json.dumps(card, default=str)
            )
        )


def _count_current_scores(conn: Connection, deltas: dict[str, int]) -> None:
    """Add ``deltas`` (model version -> comments gained, negative for lost) to
    ``model_comment_counts``, in the caller's transaction: the counts move with the scores."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # In one order, so two writers moving the same versions wait for each other, never deadlock.
    for version, delta in sorted(deltas.items()):
        if not delta:
            continue
        statement = insert(model_comment_counts).values(model_version=version, n_comments=int(delta))
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[model_comment_counts.c.model_version],
                set_={"n_comments": model_comment_counts.c.n_comments + statement.excluded.n_comments},
            )
        )


def _version_deltas(before: Iterable[str], after: Iterable[str]) -> dict[str, int]:
    """Comments gained by each model version when scores of ``before`` become ``after``."""
    deltas = Counter(after)
    deltas.subtract(before)
    return dict(deltas)


# --- roll-ups ----------------------------------------------------------------------------------


def _rollup_fields() -> tuple[str, ...]:
    from moderation.rollups import THREAD_COLUMNS

    return tuple(name for name in THREAD_COLUMNS if name != "thread_id")


def _batches(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def refresh_thread_risk(conn: Connection, thread_ids: Iterable[str]) -> None:
    """Recompute the roll-up of each thread from its comments' current scores and decisions."""
    from moderation.rollups import thread_risk

    ids = sorted(set(thread_ids))
    for batch in _batches(ids, config.STORE_THREAD_BATCH):
        result = conn.execute(
            sa.select(
                comments.c.comment_id,
                comments.c.thread_id,
                comments.c.author,
                comments.c.insult_score,
                comments.c.troll_score,
                comments.c.flag,
                comments.c.decision,
                comments.c.created_at,
            )
            .where(comments.c.thread_id.in_(batch))
            .order_by(comments.c.thread_id, comments.c.position)
        )
        rows = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if rows.empty:
            continue
        risk = thread_risk(rows)
        flagged = rows["flag"].astype(str) != ""
        unreviewed = (flagged & (rows["decision"].astype(str) == "")).groupby(rows["thread_id"]).sum()
        last = rows.groupby("thread_id")["created_at"].max()
        updates = []
        for record in risk.to_dict("records"):
            values = {name: record[name] for name in _rollup_fields()}
            values = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}
            values["worst_comment_id"] = str(values["worst_comment_id"] or "")
            values["n_unreviewed"] = int(unreviewed.get(record["thread_id"], 0))
            values["last_comment_at"] = str(last.get(record["thread_id"], "") or "")
            values["b_thread_id"] = record["thread_id"]
            updates.append(values)
        statement = (
            sa.update(threads)
            .where(threads.c.thread_id == sa.bindparam("b_thread_id"))
            .values(
                {name: sa.bindparam(name) for name in (*_rollup_fields(), "n_unreviewed", "last_comment_at")}
            )
        )
        conn.execute(statement, updates)


# --- ingest ------------------------------------------------------------------------------------------


@dataclass
class IngestSummary:
    """What ``ingest_files`` did; the CLI prints ``line()``."""

    rows_read: int = 0
    rows_rejected: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    threads: int = 0
    model_version: str = ""
    rejects_path: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        rejected = f"rejected {self.rows_rejected:,}"
        if self.rows_rejected:
            rejected += f" (see {self.rejects_path})"
        rate = self.rows_read / self.seconds if self.seconds else 0.0
        # Rows whose comment id comes again later in the same dump: the later row is kept.
        superseded = f", superseded {self.duplicates:,}" if self.duplicates else ""
        return (
            f"read {self.rows_read:,} rows: added {self.added:,}, updated {self.updated:,}, "
            f"unchanged {self.unchanged:,}{superseded}, {rejected}; {self.threads:,} threads; "
            f"model {self.model_version}; {rate:,.0f} rows/s"
        )


_COMMENT_VALUES = (
    "comment_id",
    "thread_id",
    "parent_id",
    "author",
    "created_at",
    "depth",
    "position",
    "text",
    "text_original",
    "text_sha256",
    "source_status",
    "source_id",
    "record",
    "insult_score",
    "troll_score",
    "flag",
    "reasons",
    "model_version",
)


def _source_id(conn: Connection, path: str, format: str) -> int:
    now = utc_now()
    row = conn.execute(sa.select(sources.c.source_id).where(sources.c.path == path)).first()
    if row is not None:
        conn.execute(sa.update(sources).where(sources.c.source_id == row[0]).values(last_ingested_at=now))
        return int(row[0])
    result = conn.execute(
        sa.insert(sources).values(path=path, format=format, first_ingested_at=now, last_ingested_at=now)
    )
    return int(result.inserted_primary_key[0])


def _existing(conn: Connection, ids: list[str]) -> dict[str, tuple[str, int]]:
    """comment_id -> (text_sha256, version) for the ids the store already holds."""
    found: dict[str, tuple[str, int]] = {}
    for batch in _batches(ids, config.STORE_LOOKUP_BATCH):
        rows = conn.execute(
            sa.select(comments.c.comment_id, comments.c.text_sha256, comments.c.version).where(
                comments.c.comment_id.in_(batch)
            )
        )
        for comment_id, sha, version in rows:
            found[comment_id] = (sha, version)
    return found


def _bulk_insert(conn: Connection, table: sa.Table, columns: dict[str, list]) -> None:
    """INSERT many rows given as one list per column, as bound parameters.

    The statement is compiled once for the dialect and the rows go straight to the driver's
    executemany: per-row parameter processing in SQLAlchemy cost more than the insert itself.
    """
    names = list(columns)
    compiled = sa.insert(table).compile(dialect=conn.dialect, column_keys=names)
    if compiled.positional:
        rows: list = list(zip(*(columns[name] for name in compiled.positiontup), strict=True))
    else:
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    if rows:
        conn.exec_driver_sql(str(compiled), rows)


def _values(frame: pd.DataFrame, column: str) -> list:
    """A column as plain Python values (ints, floats, str, None)."""
    series = frame[column]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy().tolist()
    return series.to_numpy(dtype=object).tolist()


def _needs_scores(conn: Connection, frame: pd.DataFrame) -> bool:
    """Whether any comment of the frame is new or has a changed text."""
    ids = frame["comment_id"].astype(str).tolist()
    existing = _existing(conn, ids)
    if len(existing) < len(set(ids)):
        return True
    return any(existing[i][0] != sha for i, sha in zip(ids, frame["text_sha256"], strict=True))


def _store_frame(
    conn: Connection,
    frame: pd.DataFrame,
    *,
    score: Callable[[], pd.DataFrame],
    source_ids: dict[str, int],
    summary: IngestSummary,
) -> set[str]:
    """Add new comments and update changed ones of one frame; returns the threads touched.

    ``frame`` comes from ``_scored_lazily`` (unique ids, ``text_sha256`` filled). ``score()``
    returns the whole frame scored (so context features saw the thread); it is called only
    when some comment is new or changed.
    """
    ids = frame["comment_id"].astype(str).tolist()
    shas = frame["text_sha256"].tolist()
    existing = _existing(conn, ids)
    is_new = np.array([i not in existing for i in ids], dtype=bool)
    is_changed = np.array([i in existing and existing[i][0] != s for i, s in zip(ids, shas, strict=True)])
    summary.unchanged += int((~is_new & ~is_changed).sum())
    if not (is_new.any() or is_changed.any()):
        return set()
    scored = score()  # carries the frame's text_sha256
    scored["position"] = frame["record"].to_numpy() if "record" in frame else np.arange(len(frame))
    scored["source_status"] = scored.get("status", "")
    scored["source_id"] = [source_ids.get(str(s)) for s in scored["source"]] if "source" in scored else None
    for column in ("parent_id", "author", "created_at", "text_original", "thread_title"):
        if column not in scored:
            scored[column] = ""
    now = utc_now()

    new_rows = scored[is_new]
    touched = set(scored.loc[is_new | is_changed, "thread_id"].astype(str))
    if len(new_rows):
        _ensure_threads(conn, new_rows, source_ids)
        _bulk_insert(conn, comments, {name: _values(new_rows, name) for name in _COMMENT_VALUES})
        _bulk_insert(conn, scores, _score_columns(new_rows, now))
        summary.added += len(new_rows)

    changed_rows = scored[is_changed]
    old_texts: dict[str, str] = {}
    old_versions: list[str] = []
    if len(changed_rows):
        changed_ids = changed_rows["comment_id"].astype(str).tolist()
        for comment_id, text, model_version in conn.execute(
            sa.select(comments.c.comment_id, comments.c.text, comments.c.model_version).where(
                comments.c.comment_id.in_(changed_ids)
            )
        ):
            old_texts[comment_id] = text
            old_versions.append(model_version)
    for record in changed_rows.to_dict("records"):
        comment_id = str(record["comment_id"])
        version = existing[comment_id][1]
        conn.execute(
            sa.update(comments)
            .where(comments.c.comment_id == comment_id)
            .values(
                text=record["text"],
                text_original=record["text_original"],
                text_sha256=record["text_sha256"],
                insult_score=float(record["insult_score"]),
                troll_score=float(record["troll_score"]),
                flag=record["flag"],
                reasons=record["reasons"],
                model_version=record["model_version"],
                version=version + 1,
                updated_by=config.INGEST_ACTOR,
                updated_at=now,
            )
        )
        conn.execute(
            sa.delete(scores).where(
                (scores.c.comment_id == comment_id) & (scores.c.model_version == record["model_version"])
            )
        )
        conn.execute(
            sa.insert(audit_log).values(
                at=now,
                actor=config.INGEST_ACTOR,
                action="edit",
                comment_id=comment_id,
                field="text",
                before=old_texts.get(comment_id, ""),
                after=record["text"],
                comment_version=version + 1,
                model_version=record["model_version"],
                note="the source's text changed; the comment was rescored",
            )
        )
    if len(changed_rows):
        _bulk_insert(conn, scores, _score_columns(changed_rows, now))
        summary.updated += len(changed_rows)
    gained = pd.concat([new_rows["model_version"], changed_rows["model_version"]]).astype(str)
    _count_current_scores(conn, _version_deltas(old_versions, gained))
    return touched


def _score_columns(scored: pd.DataFrame, now: str) -> dict[str, list]:
    columns = {"comment_id": [str(i) for i in _values(scored, "comment_id")]}
    for name in ("model_version", "insult_score", "troll_score", "flag", "reasons", "text_sha256"):
        columns[name] = _values(scored, name)
    columns["scored_at"] = [now] * len(scored)
    return columns


def _ensure_threads(conn: Connection, rows: pd.DataFrame, source_ids: dict[str, int]) -> None:
    firsts = rows.drop_duplicates("thread_id")
    wanted = firsts["thread_id"].astype(str).tolist()
    known: set[str] = set()
    for batch in _batches(wanted, config.STORE_LOOKUP_BATCH):
        known.update(
            conn.execute(sa.select(threads.c.thread_id).where(threads.c.thread_id.in_(batch))).scalars()
        )
    missing = firsts[~firsts["thread_id"].astype(str).isin(known)]
    if len(missing):
        conn.execute(
            sa.insert(threads),
            [
                {
                    "thread_id": str(r["thread_id"]),
                    "title": str(r["thread_title"] or ""),
                    "source_id": source_ids.get(str(r.get("source", ""))),
                }
                for r in missing.to_dict("records")
            ],
        )


def _scoring_pool(model: Any, jobs: int) -> Any:
    """Worker processes that score frames with ``model`` (handed over when they fork)."""
    import multiprocessing

    from moderation.scoring import _use_model

    return multiprocessing.get_context("fork").Pool(jobs, initializer=_use_model, initargs=(model,))


def _scored_lazily(
    store: Store, frames: Iterable[pd.DataFrame], *, model: Any, pool: Any, window: int
) -> Iterator[tuple[pd.DataFrame, Callable[[], pd.DataFrame]]]:
    """Yield each frame (deduplicated by comment id, with ``text_sha256``) and a function
    returning it scored.

    Without a pool, scoring happens only when called, i.e. only for frames holding new or
    changed comments. With a pool, frames that need scores are sent to the workers as they are
    read, and up to ``window`` frames are in flight while the caller writes earlier ones.
    """
    from collections import deque

    from moderation.scoring import _score_in_worker

    def inline(frame: pd.DataFrame) -> Callable[[], pd.DataFrame]:
        return lambda: model.score_frame(frame)

    pending: deque = deque()
    for raw in frames:
        frame = raw.drop_duplicates("comment_id", keep="last").reset_index(drop=True)
        frame["text_sha256"] = [text_sha256(t) for t in frame["text"].astype(str).tolist()]
        if pool is None:
            yield frame, inline(frame)
            continue
        with store.engine.connect() as conn:
            needed = _needs_scores(conn, frame)
        job = pool.apply_async(_score_in_worker, (frame,)) if needed else None
        pending.append((frame, job))
        while len(pending) > window:
            frame, job = pending.popleft()
            yield frame, (job.get if job is not None else inline(frame))
    while pending:
        frame, job = pending.popleft()
        yield frame, (job.get if job is not None else inline(frame))


def ingest_files(
    store: Store,
    inputs: Iterable[str | Path],
    *,
    format: str = "auto",
    text_column: str | None = None,
    encoding: str | None = None,
    include_pingbacks: bool = False,
    model_ref: str | None = None,
    model: Any = None,
    rejects_path: str | Path | None = None,
    chunk_rows: int | None = None,
    jobs: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Load dump files into the store, scored by the active model (or ``model_ref``).

    Idempotent: a comment already stored with the same text is left alone; one whose text
    changed is updated, rescored and its old text kept in the audit log. Each frame is one
    transaction, so an interrupted ingest keeps every frame it finished and a rerun completes it.
    With ``jobs`` > 1, frames are scored in that many worker processes while this one reads
    and writes; what is stored is the same as with ``jobs=1``.
    """
    from moderation.ingest import ReadReport, RejectsSink, read_comments
    from moderation.registry import load_model

    inputs = [Path(p) for p in inputs]
    if model is None:
        model = load_model(model_ref)
    started = time.perf_counter()  # the rate excludes loading the model
    summary = IngestSummary(model_version=model.version)
    if rejects_path is None and inputs:
        rejects_path = Path.cwd() / (inputs[0].name + ".rejects.jsonl")
    summary.rejects_path = str(rejects_path or "")
    report = ReadReport()
    touched: set[str] = set()
    with store.transaction() as conn:
        register_model(conn, model)
    if jobs < 1:
        raise StoreError(f"--jobs must be at least 1, not {jobs}", hint="pass --jobs 1 or more")
    pool = _scoring_pool(model, jobs) if jobs > 1 else None
    with RejectsSink(rejects_path) as rejects, pool or nullcontext():
        for path in inputs:
            with store.transaction() as conn:
                source_ids = {str(path): _source_id(conn, str(path.resolve()), format)}
            rows_before, rejected_before = report.rows, rejects.count
            frames = read_comments(
                [path],
                format=format,
                text_column=text_column,
                encoding=encoding,
                include_pingbacks=include_pingbacks,
                chunk_rows=chunk_rows,
                rejects=rejects,
                report=report,
            )
            for frame, score in _scored_lazily(store, frames, model=model, pool=pool, window=jobs):
                with store.transaction() as conn:
                    touched |= _store_frame(conn, frame, score=score, source_ids=source_ids, summary=summary)
                if on_progress is not None:
                    on_progress(len(frame))
            with store.transaction() as conn:
                conn.execute(
                    sa.update(sources)
                    .where(sources.c.source_id == source_ids[str(path)])
                    .values(
                        rows_read=report.rows - rows_before,
                        rows_rejected=rejects.count - rejected_before,
                    )
                )
        summary.rows_rejected = rejects.count
    summary.duplicates = max(
        report.rows - rejects.count - summary.added - summary.updated - summary.unchanged, 0
    )
    with store.transaction() as conn:
        refresh_thread_risk(conn, touched)
        conn.execute(
            sa.insert(audit_log).values(
                at=utc_now(),
                actor=config.INGEST_ACTOR,
                action="ingest",
                model_version=model.version,
                note=json.dumps(
                    {
                        "files": [str(p) for p in inputs],
                        "rows_read": report.rows,
                        "added": summary.added,
                        "updated": summary.updated,
                        "unchanged": summary.unchanged,
                        "rejected": summary.rows_rejected,
                    }
                ),
            )
        )
    summary.rows_read = report.rows
    summary.threads = len(touched)
    summary.warnings = list(report.warnings)
    summary.seconds = time.perf_counter() - started
    return summary


def rescore(
    store: Store,
    *,
    model_ref: str | None = None,
    model: Any = None,
    actor: str = config.INGEST_ACTOR,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Score every stored comment with ``model`` and make its scores current.

    The scores of earlier models stay in ``scores``; only the current columns of ``comments``
    and the thread roll-ups move to the new model. Returns the number of comments scored.
    """
    from moderation.registry import load_model

    if model is None:
        model = load_model(model_ref)
    with store.transaction() as conn:
        register_model(conn, model)
    columns = [
        comments.c.comment_id,
        comments.c.thread_id,
        comments.c.parent_id,
        comments.c.author,
        comments.c.created_at,
        comments.c.depth,
        comments.c.text,
        comments.c.text_sha256,
        threads.c.title.label("thread_title"),
        comments.c.model_version.label("scored_by"),
    ]
    # Every thread holding comments with its size: whole threads are scored together (context),
    # about RESCORE_CHUNK_ROWS comments at a time.
    sizes = store.read(
        sa.select(comments.c.thread_id, sa.func.count().label("n"))
        .group_by(comments.c.thread_id)
        .order_by(comments.c.thread_id)
    )
    done = 0
    now = utc_now()
    batch: list[str] = []
    batch_rows = 0
    last = len(sizes) - 1
    for position, (thread_id, size) in enumerate(zip(sizes["thread_id"], sizes["n"], strict=True)):
        batch.append(thread_id)
        batch_rows += int(size)
        if batch_rows < config.RESCORE_CHUNK_ROWS and position < last:
            continue
        frame = store.read(
            sa.select(*columns)
            .select_from(comments.join(threads, comments.c.thread_id == threads.c.thread_id))
            .where(comments.c.thread_id.in_(batch))
            .order_by(comments.c.thread_id, comments.c.position)
        )
        batch, batch_rows = [], 0
        if frame.empty:
            continue
        previous = frame.pop("scored_by").astype(str)
        scored_by = dict(zip(frame["comment_id"].astype(str), previous, strict=True))
        scored = model.score_frame(frame)
        before = [scored_by[str(c)] for c in scored["comment_id"]]
        with store.transaction() as conn:
            conn.execute(
                sa.delete(scores).where(
                    scores.c.comment_id.in_(sa.bindparam("ids", expanding=True))
                    & (scores.c.model_version == model.version)
                ),
                {"ids": scored["comment_id"].tolist()},
            )
            _bulk_insert(conn, scores, _score_columns(scored, now))
            conn.execute(
                sa.update(comments)
                .where(comments.c.comment_id == sa.bindparam("b_comment_id"))
                .values(
                    insult_score=sa.bindparam("insult_score"),
                    troll_score=sa.bindparam("troll_score"),
                    flag=sa.bindparam("flag"),
                    reasons=sa.bindparam("reasons"),
                    model_version=sa.bindparam("model_version"),
                ),
                [
                    {
                        "b_comment_id": str(r["comment_id"]),
                        "insult_score": float(r["insult_score"]),
                        "troll_score": float(r["troll_score"]),
                        "flag": r["flag"],
                        "reasons": r["reasons"],
                        "model_version": r["model_version"],
                    }
                    for r in scored[
                        ["comment_id", "insult_score", "troll_score", "flag", "reasons", "model_version"]
                    ].to_dict("records")
                ],
            )
            refresh_thread_risk(conn, set(scored["thread_id"].astype(str)))
            _count_current_scores(conn, _version_deltas(before, scored["model_version"].astype(str)))
        done += len(scored)
        if on_progress is not None:
            on_progress(len(scored))
    with store.transaction() as conn:
        conn.execute(
            sa.insert(audit_log).values(
                at=utc_now(),
                actor=actor,
                action="rescore",
                model_version=model.version,
                note=json.dumps({"comments": done}),
            )
        )
    return done


# --- the audit log as the source of truth --------------------------------------------------------------


def replay_state(store: Store) -> pd.DataFrame:
    """The moderation state of every comment the log touches, derived from the audit log alone.

    Columns: ``comment_id`` and ``STATE_FIELDS``; the value of each field is the ``after`` of
    its latest applied change (by comment version), as the ``comments`` table should hold.
    """
    log = store.read(
        sa.select(audit_log.c.comment_id, audit_log.c.field, audit_log.c.after, audit_log.c.comment_version)
        .where(audit_log.c.field.in_(STATE_FIELDS) & (audit_log.c.action != "conflict"))
        .order_by(audit_log.c.comment_id, audit_log.c.comment_version, audit_log.c.event_id)
    )
    if log.empty:
        return pd.DataFrame(columns=["comment_id", *STATE_FIELDS])
    last = log.groupby(["comment_id", "field"], sort=False)["after"].last().unstack("field")
    for name in STATE_FIELDS:
        if name not in last:
            last[name] = ""
    return last[list(STATE_FIELDS)].fillna("").reset_index().rename_axis(columns=None)
