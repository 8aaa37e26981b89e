"""What every page shares: the store, the signed-in moderator, cached reads, and ``act``, the
one way a page changes anything.

Environment (set by ``moderation dashboard``):
    MODERATION_DB              the store's URL (``moderation.store.resolve_db_url``)
    MODERATION_DASHBOARD_AUTH  ``off`` turns the login off; the app then acts as the local
                               admin and refuses to run unless it listens on 127.0.0.1 only

Session state (``st.session_state``), by name:
    user         the signed-in ``moderation.review.User`` (absent until the login form succeeds)
    thread_id    the thread the Thread page shows
    author       the author the Author page shows
    cursor       the comment_id with keyboard focus on the Thread page
    flash        messages ``[(kind, text)]`` to show once, on the run after an action
    queue_page   the page of the Queue; ``review_page`` the page of Needs review

Widget keys are stable too: ``queue_*`` (Queue filters and pager), ``thread_*`` and
``bulk_action``/``bulk_apply`` (the Thread page's bar), ``author_name``, ``review_label``,
``models_*`` (the Models page), ``login_name``/``login_password``, and per comment the keys listed in
``dashboard.widgets`` (derived from the comment id by ``render.widget_key``).

Reads go through ``read`` (``st.cache_data`` with a short TTL) and are dropped by ``act``
after every change, so a moderator sees their own change at once and everyone else's within
``QUERY_TTL_SECONDS``; a change made on a stale version is refused by the store anyway
(``ConflictError``), and ``act`` shows its message, which names who changed the comment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st
from streamlit import config as streamlit_config

from dashboard import render
from moderation import config, registry, review
from moderation.errors import ConflictError, ModelError, ModerationError, PermissionDeniedError
from moderation.review import User
from moderation.store import Store, open_store, resolve_db_url

__all__ = [
    "AUTH_ENV_VAR",
    "LOOPBACK_HOSTS",
    "QUERY_TTL_SECONDS",
    "act",
    "auth_off",
    "db_url",
    "flash",
    "listens_on_loopback_only",
    "model_thresholds",
    "models",
    "read",
    "selected_ids",
    "show_flash",
    "spans_for",
    "store",
    "user",
    "versions_of",
]

# The settings live in moderation/config.py; these names are kept for the pages and tests.
AUTH_ENV_VAR = config.DASHBOARD_AUTH_ENV_VAR
LOOPBACK_HOSTS = config.LOOPBACK_HOSTS
QUERY_TTL_SECONDS = config.DASHBOARD_QUERY_TTL_SECONDS
SPANS_TTL_SECONDS = config.DASHBOARD_SPANS_TTL_SECONDS

#: The ``moderation.review`` functions that pages read through ``read``.
_READERS = {
    "author_comments",
    "decisions_over_time",
    "decisions_per_moderator",
    "disagreements",
    "flagged_share_by_source",
    "flagged_threads",
    "list_users",
    "model_agreement",
    "model_thresholds",
    "moderator_agreement",
    "moderator_labels",
    "near_threshold",
    "score_histogram",
    "scored_model_versions",
    "thread_comments",
    "threshold_preview",
}


def db_url() -> str:
    return resolve_db_url(None)


@st.cache_resource(show_spinner=False)
def _open(url: str) -> Store:
    return open_store(url)


def store() -> Store:
    """The store of ``MODERATION_DB``, opened once per process and shared by every session."""
    return _open(db_url())


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False)
def _read(url: str, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    return getattr(review, name)(_open(url), *args, **kwargs)


def read(name: str, *args: Any, **kwargs: Any) -> Any:
    """``moderation.review.<name>(store, *args, **kwargs)``, cached for a few seconds."""
    if name not in _READERS:
        raise ValueError(f"{name} is not a read of moderation.review")
    return _read(db_url(), name, args, kwargs)


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False)
def _models(root: str) -> list[dict[str, Any]]:
    out = []
    for entry in registry.list_models(models_dir=root):
        try:
            card = registry.read_card(entry["version"], models_dir=root)
        except ModelError:
            card = {}
        out.append({**entry, "metrics": card.get("metrics", {}), "card": card})
    return out


def models() -> list[dict[str, Any]]:
    """``moderation.registry.list_models()`` with each card (``card``) and its metrics, cached per
    models directory; ``models.clear()`` drops the cache."""
    return _models(str(config.MODELS_DIR))


models.clear = _models.clear  # type: ignore[attr-defined]


def model_thresholds() -> dict[str, float]:
    return read("model_thresholds")


# --- who is acting -------------------------------------------------------------------------------


def auth_off() -> bool:
    return os.environ.get(AUTH_ENV_VAR, "").strip().lower() == "off"


def listens_on_loopback_only() -> bool:
    return str(streamlit_config.get_option("server.address") or "") in LOOPBACK_HOSTS


def user() -> User | None:
    """Who is acting: the local admin when authentication is off, else the signed-in user.

    The signed-in user is looked up again on every run, so a role changed or an account
    disabled by an admin takes effect at once, not at the next sign-in.
    """
    if auth_off():
        return User.operator()
    found = st.session_state.get("user")
    if not isinstance(found, User):
        return None
    try:
        current = review.get_user(store(), found.name)
    except PermissionDeniedError:
        st.session_state.pop("user", None)
        return None
    if current != found:
        st.session_state["user"] = current
    return current


# --- changes ---------------------------------------------------------------------------------------


def flash(kind: str, text: str) -> None:
    st.session_state.setdefault("flash", []).append((kind, text))


def show_flash() -> None:
    """Show (once) the messages left by the last action: errors keep their hint."""
    for kind, text in st.session_state.pop("flash", []):
        body = render.markdown_text(text)
        if kind == "error":
            st.error(body, icon=":material/error:")
        elif kind == "info":
            st.info(body)
        else:
            st.success(body)


def act(done: str, change: Callable[[], Any], *, nothing_done: str = "") -> Any:
    """Run one change for the signed-in moderator, then drop every cached read.

    Meant for widget callbacks. A ``ConflictError`` (someone changed the comment first: the
    message names them) and any other ``ModerationError`` become an error message with its hint;
    anything else is a bug and is raised. When the change returns None (an undo with nothing
    left to undo), ``nothing_done`` is shown instead of ``done``.
    """
    try:
        result = change()
    except ConflictError as error:
        flash("error", f"Not saved: {error}")
        result = None
    except ModerationError as error:
        flash("error", str(error))
        result = None
    else:
        if result is None and nothing_done:
            flash("info", nothing_done)
        else:
            flash("success", done)
    finally:
        _read.clear()
        models.clear()
    return result


# --- explanations ------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _model(version: str) -> Any:
    # The version comes from the store (comments.model_version), which anyone who can write to a
    # shared store can set: only a version name under models/ is loaded, never a path (a model
    # folder is a pickle, a program). Anything else raises ModelError: no highlights, no load.
    return registry.load_model(registry.version_dir(version) if version else None)


@st.cache_data(ttl=SPANS_TTL_SECONDS, show_spinner=False)
def _spans(version: str, texts: tuple[str, ...]) -> tuple[list[list[tuple[int, int, str]]], str]:
    from moderation.explain import explain_spans

    try:
        model = _model(version)
    except ModelError as error:
        return [[] for _ in texts], f"no highlights for model {version}: {error}"
    insult = explain_spans(model, list(texts), label="insult")
    troll = explain_spans(model, list(texts), label="troll")
    return [a + b for a, b in zip(insult, troll, strict=True)], ""


def spans_for(rows: pd.DataFrame) -> tuple[list[list[tuple[int, int, str]]], list[str]]:
    """The spans to highlight in each row's text (by the model that scored it), and warnings."""
    out: list[list[tuple[int, int, str]]] = [[] for _ in range(len(rows))]
    warnings: list[str] = []
    if rows.empty:
        return out, warnings
    versions = rows["model_version"].fillna("").astype(str).tolist()
    texts = rows["text"].fillna("").astype(str).tolist()
    for version in sorted(set(versions)):
        positions = [i for i, v in enumerate(versions) if v == version]
        found, warning = _spans(version, tuple(texts[i] for i in positions))
        for position, spans in zip(positions, found, strict=True):
            out[position] = spans
        if warning:
            warnings.append(warning)
    return out, warnings


def versions_of(rows: pd.DataFrame) -> dict[str, int]:
    """comment_id -> the version the moderator is looking at (what a change is based on)."""
    return dict(zip(rows["comment_id"].astype(str), rows["version"].astype(int), strict=True))


def selected_ids(ids: Sequence[str]) -> list[str]:
    """The comments whose "select" box is ticked."""
    return [cid for cid in ids if st.session_state.get(render.widget_key("select", cid))]
