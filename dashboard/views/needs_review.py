"""Needs review page: unlabelled, undecided comments whose score sits closest to the model's
threshold (``review.near_threshold``), where the model is least sure and a label teaches most.
"""

from __future__ import annotations

import streamlit as st

from dashboard import render, session, widgets
from moderation import config

ANY = "either"
PAGE_SIZE = config.NEEDS_REVIEW_PAGE_SIZE


def _first_page() -> None:
    st.session_state["review_page"] = 0


def _turn(step: int) -> None:
    st.session_state["review_page"] = max(int(st.session_state.get("review_page", 0)) + step, 0)


st.html(render.CSS)
st.title("Needs review")
st.caption(
    "Comments nobody has labelled or decided yet, closest to the model's threshold first "
    f"(at most {config.NEAR_THRESHOLD_PER_THREAD} per thread)."
)
session.show_flash()
label = st.selectbox(
    "closest to the threshold of", [ANY, *config.LABELS], key="review_label", on_change=_first_page
)
page = int(st.session_state.get("review_page", 0))
rows = session.read(
    "near_threshold", label=None if label == ANY else label, limit=PAGE_SIZE, offset=page * PAGE_SIZE
)
thresholds = session.model_thresholds()
st.caption(f"thresholds: insult {thresholds['insult']:.2f}, troll {thresholds['troll']:.2f}")
if rows.empty:
    st.info("Nothing left to review here.")
spans, warnings = session.spans_for(rows)
for warning in warnings:
    st.caption(render.markdown_text(warning))
for position, row in enumerate(rows.to_dict("records")):
    distance = f'<div class="mod-reasons">distance to the threshold: {float(row["distance"]):.3f}</div>'
    widgets.comment_block(row, spans=spans[position], thresholds=thresholds, show_thread=True, extra=distance)

with st.container(horizontal=True, vertical_alignment="center", key="review_pager"):
    st.button("‹ previous", key="review_prev", disabled=page == 0, on_click=_turn, args=(-1,))
    st.caption(f"page {page + 1}")
    st.button("next ›", key="review_next", disabled=len(rows) < PAGE_SIZE, on_click=_turn, args=(1,))
