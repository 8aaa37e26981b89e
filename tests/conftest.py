"""Shared fixtures: where the public corpora live, and what to do when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
