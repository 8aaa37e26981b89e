"""Sign-in page: users come from the store (``review.authenticate``; passwords are argon2
hashes). Shown instead of every other page until the moderator signs in.

The password is checked in the form's submit callback, which Streamlit runs before the script:
the run the click starts already has the user, so the Queue is drawn in that run rather than
after a second one (``st.rerun``).
"""

from __future__ import annotations

import streamlit as st

from dashboard import render, session
from moderation import review
from moderation.errors import ModerationError


def _sign_in() -> None:
    name = str(st.session_state.get("login_name") or "").strip()
    password = str(st.session_state.get("login_password") or "")
    try:
        st.session_state["user"] = review.authenticate(session.store(), name, password)
    except ModerationError as error:
        session.flash("error", str(error))


st.title("Moderation: sign in")
if session.read("list_users").empty:
    st.warning(render.markdown_text("There is no user in this store yet. Add an admin first:"))
    st.code("moderation users add NAME --role admin", language="bash")

with st.form("login", border=True):
    st.text_input("user name", key="login_name")
    st.text_input("password", type="password", key="login_password")
    st.form_submit_button("sign in", type="primary", on_click=_sign_in)
session.show_flash()
