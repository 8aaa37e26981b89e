"""Sign-in page: users come from the store (``review.authenticate``; passwords are argon2
hashes). Shown instead of every other page until the moderator signs in.
"""

from __future__ import annotations

import streamlit as st

from dashboard import render, session
from moderation import review
from moderation.errors import ModerationError

st.title("Moderation: sign in")
if session.read("list_users").empty:
    st.warning(render.markdown_text("There is no user in this store yet. Add an admin first:"))
    st.code("moderation users add NAME --role admin", language="bash")

with st.form("login", border=True):
    name = st.text_input("user name", key="login_name")
    password = st.text_input("password", type="password", key="login_password")
    submitted = st.form_submit_button("sign in", type="primary")

if submitted:
    try:
        st.session_state["user"] = review.authenticate(session.store(), name.strip(), password)
    except ModerationError as error:
        st.error(render.markdown_text(str(error)))
    else:
        st.rerun()
