"""Author page: one author's comments across threads, newest first (``review.author_comments``),
with their roll-up (``rollups.author_risk``: troll risk, flagged share, threads touched).
"""

from __future__ import annotations

import streamlit as st

from dashboard import render, session, widgets
from moderation import config
from moderation.rollups import author_risk

PAGE_SIZE = config.AUTHOR_PAGE_SIZE


def _sync_author() -> None:
    st.session_state["author"] = st.session_state.get("author_name", "").strip()


st.html(render.CSS)
st.title("Author")
session.show_flash()
if "author_name" not in st.session_state or st.session_state["author_name"] != st.session_state.get(
    "author", ""
):
    st.session_state["author_name"] = st.session_state.get("author", "")
st.text_input("author (exact name)", key="author_name", on_change=_sync_author)
author = str(st.session_state.get("author") or "")
if not author:
    st.info("Type an author's name, or open one from a comment on the Thread page.")
    st.stop()

rows = session.read("author_comments", author, limit=PAGE_SIZE)
st.html(f'<h2 class="mod-title">{render.escape_text(author)}</h2>')
if rows.empty:
    st.warning("No comment by this author is in the store.")
    st.stop()

risk = author_risk(rows).iloc[0]
with st.container(horizontal=True, key="author_figures"):
    st.metric("troll risk", f"{risk['troll_risk']:.2f}")
    st.metric("risk", f"{risk['risk']:.2f}")
    st.metric("comments", int(risk["n_comments"]))
    st.metric("threads", int(risk["n_threads"]))
    st.metric("flagged", f"{int(risk['n_flagged'])} ({risk['flagged_share']:.0%})")
    st.metric("threads with a flagged comment", int(risk["n_flagged_threads"]))
if len(rows) == PAGE_SIZE:
    st.caption(f"The {PAGE_SIZE} newest comments (the roll-up covers these).")

spans, warnings = session.spans_for(rows)
for warning in warnings:
    st.caption(render.markdown_text(warning))
thresholds = session.model_thresholds()
for position, row in enumerate(rows.to_dict("records")):
    widgets.comment_block(row, spans=spans[position], thresholds=thresholds, show_thread=True)
