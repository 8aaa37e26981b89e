"""Shared fixtures: where the public corpora live, and what to do when they are absent."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import ClusterError, throwaway_cluster, url_for

from moderation import config


def _shared_missing_reason() -> str | None:
    if (config.SHARED_DATA_DIR / "README.md").is_file():
        return None
    return f"needs the public corpora in {config.SHARED_DATA_DIR} (absent on a fresh clone)"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder; skips (or fails under REQUIRE_SHARED=1) when it is absent."""
    reason = _shared_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_SHARED") == "1":
            pytest.fail(f"REQUIRE_SHARED=1 but {reason}")
        pytest.skip(reason)
    return config.SHARED_DATA_DIR


@pytest.fixture(scope="session")
def example_page() -> Path:
    """The scraped article page in ../shared/examples."""
    reason = _shared_missing_reason()
    path = config.SHARED_DIR / "examples" / "000_e8111e19a90c6981.txt"
    if reason or not path.is_file():
        if os.environ.get("REQUIRE_SHARED") == "1":
            pytest.fail(f"REQUIRE_SHARED=1 but {path} is missing")
        pytest.skip(reason or f"{path} is missing")
    return path


# --- databases: SQLite files and a throwaway PostgreSQL cluster --------------------------------


@pytest.fixture(scope="session")
def postgres_socket() -> Iterator[Path]:
    """A PostgreSQL cluster started for this test session, reachable on a unix socket only.

    It runs from a temporary folder and is destroyed afterwards. When it cannot start, the
    tests that need it fail loudly (set MODERATION_SKIP_POSTGRES=1 to skip them on purpose).
    """
    if os.environ.get("MODERATION_SKIP_POSTGRES") == "1":
        pytest.skip("MODERATION_SKIP_POSTGRES=1: the PostgreSQL half of the store tests is skipped")
    try:
        with throwaway_cluster() as socket_dir:
            yield socket_dir
    except ClusterError as error:
        pytest.fail(str(error))


_database_counter = itertools.count()


def _new_postgres_database(socket_dir: Path) -> str:
    import sqlalchemy as sa

    name = f"t{os.getpid()}_{next(_database_counter)}"
    admin = sa.create_engine(url_for(socket_dir), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return url_for(socket_dir, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each engine: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'moderation.db'}"
    return _new_postgres_database(request.getfixturevalue("postgres_socket"))


# --- the shipped model and a store holding the demo threads -----------------------------------

DEMO_COMMENTS = Path(__file__).resolve().parents[1] / "data" / "demo_comments.jsonl"


@pytest.fixture(scope="module")
def model():
    """The shipped default model (loaded once per test module; tests must not change it)."""
    from moderation.registry import load_model

    return load_model()


@pytest.fixture
def store(db_url: str, model, tmp_path: Path):
    """A fresh store on each engine holding the demo threads, scored by the default model."""
    from moderation.store import ingest_files, open_store

    store = open_store(db_url)
    ingest_files(store, [DEMO_COMMENTS], model=model, rejects_path=tmp_path / "r.jsonl")
    yield store
    store.close()
