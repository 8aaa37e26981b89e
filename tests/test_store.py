"""The store: migrations, idempotent ingest with history, rescoring, append-only log, bound parameters.

Every test runs on SQLite and on a throwaway PostgreSQL cluster (``db_url`` in conftest).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from moderation import config
from moderation.errors import StoreError
from moderation.registry import load_model
from moderation.review import flagged_threads, thread_comments
from moderation.store import (
    MIGRATIONS,
    audit_log,
    comments,
    current_migration,
    ingest_files,
    model_comment_counts,
    open_store,
    replay_state,
    rescore,
    resolve_db_url,
    schema_migrations,
    scores,
    sources,
    threads,
)

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_comments.jsonl"


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _count(store, table) -> int:
    return int(store.read(sa.select(sa.func.count()).select_from(table)).iloc[0, 0])


def test_resolve_db_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.DB_ENV_VAR, raising=False)
    assert resolve_db_url(None) == f"sqlite:///{config.DEFAULT_DB_FILE}"
    monkeypatch.setenv(config.DB_ENV_VAR, "postgresql://u@h/db")
    assert resolve_db_url(None) == "postgresql+psycopg://u@h/db"
    assert resolve_db_url("x.db") == "sqlite:///x.db"  # --db wins over the environment


def test_migrations_run_in_order_once_and_upgrade_an_old_database(db_url: str) -> None:
    from moderation.store import _create_engine, _migrate

    engine = _create_engine(db_url)
    assert _migrate(engine, target=MIGRATIONS[0][0]) == [MIGRATIONS[0][0]]
    assert current_migration(engine) == MIGRATIONS[0][0]
    with engine.begin() as conn:  # at 0001 the log can still be edited
        conn.execute(sa.insert(audit_log).values(at="t", actor="a", action="x"))
        conn.execute(sa.delete(audit_log))
    engine.dispose()
    store = open_store(db_url)
    assert current_migration(store.engine) == MIGRATIONS[-1][0]
    names = store.read(sa.select(schema_migrations.c.name).order_by(schema_migrations.c.name))["name"]
    assert names.tolist() == [name for name, _ in MIGRATIONS]
    assert store.read(sa.select(schema_migrations)).shape[0] == len(MIGRATIONS)
    store.close()
    open_store(db_url).close()  # a second open applies nothing
    store = open_store(db_url)
    assert _count(store, schema_migrations) == len(MIGRATIONS)
    with store.transaction() as conn:
        conn.execute(sa.insert(schema_migrations).values(name="9999_from_the_future", applied_at="t"))
    store.close()
    with pytest.raises(StoreError, match="9999_from_the_future") as error:
        open_store(db_url)
    assert "upgrade" in str(error.value)


def _counts_kept(store) -> dict[str, int]:
    kept = store.read(sa.select(model_comment_counts))
    return {str(v): int(n) for v, n in zip(kept["model_version"], kept["n_comments"], strict=True) if n}


def _counts_of_comments(store) -> dict[str, int]:
    counted = store.read(
        sa.select(comments.c.model_version, sa.func.count().label("n")).group_by(comments.c.model_version)
    )
    return {str(v): int(n) for v, n in zip(counted["model_version"], counted["n"], strict=True)}


def test_migration_0004_counts_the_comments_of_each_model_version_already_stored(
    db_url: str, model, tmp_path: Path
) -> None:
    from moderation.store import _create_engine, _migrate

    engine = _create_engine(db_url)
    _migrate(engine, target="0003_label_issues")
    engine.dispose()
    store = open_store(db_url)  # at the latest migration: ingest keeps the counts from here on
    ingest_files(store, [DEMO], model=model, rejects_path=tmp_path / "r.jsonl")
    with store.transaction() as conn:  # back to a store of 0003, holding comments but no counts
        conn.execute(sa.delete(schema_migrations).where(schema_migrations.c.name == MIGRATIONS[3][0]))
        model_comment_counts.drop(conn)
    store.close()
    store = open_store(db_url)
    rows = sum(1 for line in DEMO.read_text().splitlines() if line.strip())
    assert _counts_kept(store) == _counts_of_comments(store) == {model.version: rows}
    store.close()


def test_the_counts_of_each_model_version_follow_ingest_edits_and_rescoring(
    db_url: str, tmp_path: Path
) -> None:
    old = load_model()
    new = load_model()
    new.version = "candidate-for-counts"
    store = open_store(db_url)
    assert _counts_kept(store) == {}
    first = [{"id": f"c{i}", "thread_id": f"t{i % 3}", "text": f"comment number {i}"} for i in range(7)]
    path = _write_jsonl(tmp_path / "dump.jsonl", first)
    ingest_files(store, [path], model=old, rejects_path=tmp_path / "r.jsonl")
    assert _counts_kept(store) == _counts_of_comments(store) == {old.version: 7}
    # Two texts edited and three new comments, scored by the new model: five move to it.
    edited = [{**row, "text": "edited, you idiot"} if row["id"] in ("c1", "c4") else row for row in first]
    more = [{"id": f"d{i}", "thread_id": "t9", "text": f"another comment {i}"} for i in range(3)]
    summary = ingest_files(
        store, [_write_jsonl(path, edited + more)], model=new, rejects_path=tmp_path / "r.jsonl"
    )
    assert (summary.added, summary.updated, summary.unchanged) == (3, 2, 5)
    assert _counts_kept(store) == _counts_of_comments(store) == {old.version: 5, new.version: 5}
    assert rescore(store, model=old) == 10
    assert _counts_kept(store) == _counts_of_comments(store) == {old.version: 10}
    store.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "m.db"))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == config.SQLITE_BUSY_TIMEOUT_MS
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as conn:
        conn.execute(
            sa.insert(comments).values(comment_id="x", thread_id="no-such-thread", text="t", text_sha256="0")
        )
    store.close()


def test_ingest_is_idempotent_and_scores_with_the_model_version(db_url: str, model, tmp_path: Path) -> None:
    store = open_store(db_url)
    first = ingest_files(store, [DEMO], model=model, rejects_path=tmp_path / "r.jsonl")
    rows = sum(1 for line in DEMO.read_text().splitlines() if line.strip())
    assert first.added == rows and first.rows_read == rows and first.rows_rejected == 0
    assert _count(store, comments) == rows
    assert _count(store, scores) == rows
    assert set(store.read(sa.select(scores.c.model_version))["model_version"]) == {model.version}
    assert _count(store, threads) == store.read(sa.select(comments.c.thread_id).distinct()).shape[0]
    again = ingest_files(store, [DEMO], model=model, rejects_path=tmp_path / "r.jsonl")
    assert (again.added, again.updated, again.unchanged) == (0, 0, rows)
    assert _count(store, comments) == rows and _count(store, scores) == rows
    assert _count(store, sources) == 1
    store.close()


def test_a_comment_id_repeated_in_one_dump_keeps_the_later_row_and_the_line_says_so(
    db_url: str, model, tmp_path: Path
) -> None:
    rows = [
        {"id": "a1", "thread_id": "t", "author": "ann", "text": "First draft of my comment."},
        {"id": "a2", "thread_id": "t", "author": "bob", "text": "Nice garden."},
        {"id": "a1", "thread_id": "t", "author": "ann", "text": "Edited: what a lovely garden."},
    ]
    store = open_store(db_url)
    path = _write_jsonl(tmp_path / "dump.jsonl", rows)
    summary = ingest_files(store, [path], model=model, rejects_path=tmp_path / "r.jsonl")
    assert (summary.rows_read, summary.added, summary.duplicates) == (3, 2, 1)
    assert "added 2" in summary.line() and "superseded 1" in summary.line()
    kept = store.read(sa.select(comments.c.text).where(comments.c.comment_id == "a1"))["text"].tolist()
    assert kept == ["Edited: what a lovely garden."]
    again = ingest_files(store, [path], model=model, rejects_path=tmp_path / "r.jsonl")
    assert "superseded 1" in again.line() and "unchanged 2" in again.line()
    store.close()


def test_a_changed_comment_is_updated_rescored_and_its_history_kept(
    db_url: str, model, tmp_path: Path
) -> None:
    base = [
        {"id": "a1", "thread_id": "t", "author": "ann", "text": "What a lovely garden you have."},
        {"id": "a2", "thread_id": "t", "parent_id": "a1", "author": "bob", "text": "Thanks, it took years."},
    ]
    store = open_store(db_url)
    path = _write_jsonl(tmp_path / "dump.jsonl", base)
    ingest_files(store, [path], model=model, rejects_path=tmp_path / "r.jsonl")
    before = store.read(sa.select(comments).where(comments.c.comment_id == "a2")).iloc[0]
    edited = [base[0], {**base[1], "text": "Shut up, you pathetic idiot."}]
    summary = ingest_files(
        store, [_write_jsonl(path, edited)], model=model, rejects_path=tmp_path / "r.jsonl"
    )
    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 1)
    after = store.read(sa.select(comments).where(comments.c.comment_id == "a2")).iloc[0]
    assert after["text"] == "Shut up, you pathetic idiot."
    assert after["version"] == before["version"] + 1
    assert after["insult_score"] > before["insult_score"]  # scored again, on the new text
    edit = store.read(sa.select(audit_log).where(audit_log.c.action == "edit"))
    assert edit[["comment_id", "field", "before", "after"]].values.tolist() == [
        ["a2", "text", "Thanks, it took years.", "Shut up, you pathetic idiot."]
    ]
    stored = store.read(sa.select(scores).where(scores.c.comment_id == "a2"))
    assert len(stored) == 1 and stored.iloc[0]["insult_score"] == pytest.approx(after["insult_score"])
    store.close()


def test_rescoring_with_a_new_model_keeps_the_old_scores(db_url: str, tmp_path: Path) -> None:
    old = load_model()
    store = open_store(db_url)
    ingest_files(store, [DEMO], model=old, rejects_path=tmp_path / "r.jsonl")
    old_scores = store.read(
        sa.select(scores.c.comment_id, scores.c.insult_score).order_by(scores.c.comment_id)
    )
    new = load_model()
    new.version = "candidate-for-test"
    new.thresholds = {"insult": 0.99, "troll": 0.99}  # a stricter model flags fewer comments
    assert rescore(store, model=new) == len(old_scores)
    versions = store.read(
        sa.select(scores.c.model_version, sa.func.count().label("n")).group_by("model_version")
    )
    assert dict(zip(versions["model_version"], versions["n"], strict=True)) == {
        old.version: len(old_scores),
        new.version: len(old_scores),
    }
    kept = store.read(
        sa.select(scores.c.comment_id, scores.c.insult_score)
        .where(scores.c.model_version == old.version)
        .order_by(scores.c.comment_id)
    )
    assert kept.equals(old_scores)
    current = store.read(sa.select(comments.c.model_version, comments.c.flag))
    assert set(current["model_version"]) == {new.version}
    flagged_before = store.read(sa.select(scores.c.flag).where(scores.c.model_version == old.version))
    assert (current["flag"] != "").sum() < (flagged_before["flag"] != "").sum()
    store.close()


def test_rejected_rows_are_counted_and_nothing_is_lost(db_url: str, model, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"id": "1", "thread_id": "t", "text": "fine"})
        + "\n{not json\n"
        + json.dumps({"id": "2", "thread_id": "t", "text": "also fine"})
        + "\n",
        encoding="utf-8",
    )
    store = open_store(db_url)
    summary = ingest_files(store, [path], model=model, rejects_path=tmp_path / "rejects.jsonl")
    assert summary.rows_rejected == 1 and summary.added == 2
    rejected = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["record"] for r in rejected] == [2]
    source = store.read(sa.select(sources)).iloc[0]
    assert (source["rows_read"], source["rows_rejected"]) == (summary.rows_read, 1)
    store.close()


def test_the_audit_log_labels_and_decisions_are_append_only(db_url: str, model, tmp_path: Path) -> None:
    store = open_store(db_url)
    ingest_files(store, [DEMO], model=model, rejects_path=tmp_path / "r.jsonl")
    assert _count(store, audit_log) == 1  # the ingest itself
    for statement in (sa.update(audit_log).values(actor="someone else"), sa.delete(audit_log)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.transaction() as conn:
            conn.execute(statement)
    assert _count(store, audit_log) == 1
    store.close()


def test_user_text_reaches_sql_only_as_bound_parameters(db_url: str, model, tmp_path: Path) -> None:
    hostile = "'; DROP TABLE comments; --"
    rows = [
        {"id": "x1", "thread_id": "t'1", "author": "o'brien", "text": "You are a complete idiot, o'brien."},
        {
            "id": "x2",
            "thread_id": "t'1",
            "author": hostile,
            "text": "Robert'); DROP TABLE comments;-- is a moron",
        },
    ]
    store = open_store(db_url)
    ingest_files(store, [_write_jsonl(tmp_path / "d.jsonl", rows)], model=model, rejects_path=tmp_path / "r")
    assert flagged_threads(store, search=hostile).empty
    assert flagged_threads(store, author=hostile, limit=5)["thread_id"].tolist() == ["t'1"]
    assert flagged_threads(store, search="100%").empty  # LIKE wildcards are literal
    assert flagged_threads(store, search="o'BRIEN")["thread_id"].tolist() == ["t'1"]
    assert flagged_threads(store, source="'; DROP TABLE threads; --").empty
    assert thread_comments(store, "t'1")["author"].tolist() == ["o'brien", hostile]
    assert _count(store, comments) == 2 and _count(store, threads) == 1
    store.close()


def test_replay_of_an_empty_log_is_empty(db_url: str) -> None:
    store = open_store(db_url)
    assert replay_state(store).empty
    store.close()


def test_unreachable_postgres_is_a_clear_error_through_the_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "moderation.cli", "ingest", str(DEMO),
         "--db", f"postgresql+psycopg://nobody@/none?host={tmp_path}&port=1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot open the database" in result.stderr and "Traceback" not in result.stderr
    assert "check that the server is running" in result.stderr


def test_ingest_cli_then_export_cli(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    run = [sys.executable, "-m", "moderation.cli"]
    first = subprocess.run(
        [*run, "ingest", str(DEMO), "--db", str(db), "--rejects", str(tmp_path / "r.jsonl")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    rows = sum(1 for line in DEMO.read_text().splitlines() if line.strip())
    assert f"added {rows}" in first.stdout
    second = subprocess.run(
        [*run, "ingest", str(DEMO), "--db", str(db), "--rejects", str(tmp_path / "r.jsonl")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "added 0" in second.stdout and f"unchanged {rows}" in second.stdout
    exported = subprocess.run(
        [*run, "export", "audit", "-o", str(tmp_path / "audit.csv"), "--db", str(db)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "wrote 2 rows" in exported.stdout


def test_ingest_with_two_scoring_workers_stores_the_same_rows(model, tmp_path: Path) -> None:
    rows = [
        {"id": f"c{i}", "thread_id": f"t{i % 7}", "author": f"u{i % 5}", "text": text}
        for i, text in enumerate(["You are an idiot.", "Nice photo!", "Troll harder, loser.", "Agreed."] * 60)
    ]
    dump = _write_jsonl(tmp_path / "d.jsonl", rows)
    frames = {}
    for jobs in (1, 2):
        store = open_store(str(tmp_path / f"jobs{jobs}.db"))
        summary = ingest_files(
            store, [dump], model=model, jobs=jobs, chunk_rows=50, rejects_path=tmp_path / "r"
        )
        assert summary.added == len(rows)
        frames[jobs] = store.read(
            sa.select(comments.c.comment_id, comments.c.insult_score, comments.c.troll_score, comments.c.flag,
                      comments.c.reasons).order_by(comments.c.comment_id)
        )  # fmt: skip
        store.close()
    assert frames[1].equals(frames[2])
