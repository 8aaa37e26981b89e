"""Queue page: threads holding flagged comments, riskiest first (``review.flagged_threads``),
filtered by label, score range, status, author, source, dates, model version and text, a page
at a time; each row shows the thread's counts and its worst comment, and opens the thread.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard import render, session
from moderation import config

ANY = "any"
PAGE_SIZES = config.QUEUE_PAGE_SIZES


def _first_page() -> None:
    st.session_state["queue_page"] = 0


def _turn(step: int) -> None:
    st.session_state["queue_page"] = max(int(st.session_state.get("queue_page", 0)) + step, 0)


def _filters() -> dict:
    with st.sidebar.expander("Queue filters", expanded=True):
        label = st.selectbox("label", [ANY, *config.LABELS], key="queue_label", on_change=_first_page)
        low, high = st.slider(
            "score range", 0.0, 1.0, (0.0, 1.0), step=0.05, key="queue_score", on_change=_first_page
        )
        status = st.selectbox(
            "status", [ANY, "unreviewed", "decided"], key="queue_status", on_change=_first_page
        )
        author = st.text_input("author (exact name)", key="queue_author", on_change=_first_page)
        source = st.text_input("source file contains", key="queue_source", on_change=_first_page)
        dates = st.date_input("comment dates", value=(), key="queue_dates", on_change=_first_page)
        versions = session.read("scored_model_versions")
        model = st.selectbox("model version", [ANY, *versions], key="queue_model", on_change=_first_page)
        search = st.text_input("text contains", key="queue_search", on_change=_first_page)
    filters: dict = {
        "label": None if label == ANY else label,
        "min_score": low if low > 0 else None,
        "max_score": high if high < 1 else None,
        "status": None if status == ANY else status,
        "author": author.strip() or None,
        "source": source.strip() or None,
        "model_version": None if model == ANY else model,
        "search": search.strip() or None,
    }
    if isinstance(dates, date):
        dates = (dates,)
    if dates:
        filters["since"] = dates[0].isoformat()
        filters["until"] = f"{dates[-1].isoformat()}T23:59:59.999999Z"
    return filters


st.html(render.CSS)
st.title("Queue")
session.show_flash()
filters = _filters()
size = st.sidebar.selectbox(
    "threads per page", PAGE_SIZES, index=1, key="queue_page_size", on_change=_first_page
)
page = int(st.session_state.get("queue_page", 0))
threads = session.read("flagged_threads", limit=size, offset=page * size, **filters)

if threads.empty and page == 0:
    st.info("No flagged thread matches these filters.")
# The bars of each row use the thresholds of the model that scored its worst comment: one
# lookup in ``models`` per version, where the store-wide default counts every comment's version.
versions = threads["worst_model_version"].fillna("").astype(str)
thresholds = {version: session.read("model_thresholds", version) for version in set(versions)}
for row, version in zip(threads.to_dict("records"), versions, strict=True):
    key = render.widget_key("thread", row["thread_id"])
    with st.container(border=True, key=key):
        st.html(render.thread_card(row, thresholds=thresholds[version]))
        if st.button("open thread", key=render.widget_key("open", row["thread_id"]), type="primary"):
            st.session_state["thread_id"] = str(row["thread_id"])
            st.session_state.pop("cursor", None)
            st.switch_page("views/thread.py", query_params={"thread": str(row["thread_id"])})

with st.container(horizontal=True, vertical_alignment="center", key="queue_pager"):
    st.button("‹ previous", key="queue_prev", disabled=page == 0, on_click=_turn, args=(-1,))
    st.caption(
        f"page {page + 1} · threads {page * size + 1 if len(threads) else 0}-{page * size + len(threads)}"
    )
    st.button("next ›", key="queue_next", disabled=len(threads) < size, on_click=_turn, args=(1,))
