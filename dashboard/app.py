"""The moderation dashboard's entry file: ``moderation dashboard`` runs it with Streamlit.

It opens the store named by ``MODERATION_DB`` (see ``dashboard.session`` for the environment
and the session-state names), asks for a sign-in unless authentication is off, and routes to
one module per page in ``views/`` with ``st.navigation``. With ``MODERATION_DASHBOARD_AUTH=off``
everyone who reaches the page acts as the local admin, so the app then refuses to run unless
Streamlit listens on 127.0.0.1 only, and says so in the sidebar.

The page modules live in ``views/``, not ``pages/``: a ``pages/`` folder beside the entry file
switches Streamlit into its legacy multipage mode, where each file there has its own URL and
runs without this file, that is without the sign-in (and AppTest then never reruns this file).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit puts this folder on sys.path; the pages import ``dashboard.*`` from the checkout.
_CHECKOUT = str(Path(__file__).resolve().parent.parent)
if _CHECKOUT not in sys.path:
    sys.path.insert(0, _CHECKOUT)

import streamlit as st  # noqa: E402

from dashboard import render, session  # noqa: E402
from moderation.errors import ModerationError  # noqa: E402

st.set_page_config(page_title="Moderation", page_icon=":material/shield:", layout="wide")

if session.auth_off() and not session.listens_on_loopback_only():
    st.error(
        "Authentication is off, so the dashboard only runs when it listens on 127.0.0.1. "
        "Start it with: moderation dashboard --no-auth (without --host), or turn authentication on."
    )
    st.stop()

try:
    session.store()
except ModerationError as error:
    st.error(render.markdown_text(f"Cannot open the store: {error}"))
    st.stop()

user = session.user()
if user is None:
    page = st.navigation([st.Page("views/login.py", title="Sign in", url_path="login")], position="hidden")
else:
    page = st.navigation(
        [
            st.Page("views/queue.py", title="Queue", icon=":material/inbox:", url_path="queue", default=True),
            st.Page("views/thread.py", title="Thread", icon=":material/forum:", url_path="thread"),
            st.Page("views/author.py", title="Author", icon=":material/person:", url_path="author"),
            st.Page("views/needs_review.py", title="Needs review", icon=":material/help:", url_path="review"),
            st.Page(
                "views/label_issues.py", title="Label issues", icon=":material/rule:", url_path="label-issues"
            ),
            st.Page("views/stats.py", title="Stats", icon=":material/bar_chart:", url_path="stats"),
            st.Page("views/models.py", title="Models", icon=":material/model_training:", url_path="models"),
        ]
    )
    with st.sidebar:
        if session.auth_off():
            st.warning(
                "Authentication is off: you act as the local admin "
                f"({render.markdown_text(user.name)}). The dashboard listens on 127.0.0.1 only."
            )
        else:
            st.caption(render.markdown_text(f"signed in as {user.name} ({user.role})"))
            if st.button("sign out", key="sign_out"):
                st.session_state.clear()
                st.rerun()
page.run()
