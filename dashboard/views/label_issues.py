"""Label issues page: the review queue of likely mislabels found by the last
``moderation label-issues`` run (``moderation.label_issues``), the moderators' labels first.

Each suspect shows its text (escaped), the label it was given, the one the out-of-fold model
suggests and how likely it found the given one; a moderator's label opens its thread, where it
can be relabelled. Rows of public corpora are listed for reading only: they are not in the store.

Session state: ``issues_page`` (the page shown). Widget keys: ``issues_label``,
``issues_source``, ``issues_prev`` / ``issues_next``, and per suspect ``issue_<h>`` (its
container) and ``issue_thread_<h>`` (its "open thread" button), derived by ``render.widget_key``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import render, session
from moderation import config
from moderation.label_issues import stored_label_issues

BOTH = "both"
SOURCES = {"moderators' labels": True, "moderators' labels, then public corpora": False}
PAGE_SIZE = config.LABEL_ISSUES_PAGE_SIZE


@st.cache_data(ttl=session.QUERY_TTL_SECONDS, show_spinner=False)
def _suspects(url: str, label: str, moderators_only: bool, offset: int) -> pd.DataFrame:
    # ``url`` keys the cache: one process may serve one store only, but tests open several.
    return stored_label_issues(
        session.store(), label=label, moderators_only=moderators_only, limit=PAGE_SIZE, offset=offset
    )


def _first_page() -> None:
    st.session_state["issues_page"] = 0


def _turn(step: int) -> None:
    st.session_state["issues_page"] = max(int(st.session_state.get("issues_page", 0)) + step, 0)


def _card(row: dict[str, Any]) -> str:
    where = (
        f"comment {render.escape_text(row['comment_id'])}"
        if row["comment_id"]
        else f"corpus {render.escape_text(row['corpus'])}"
    )
    meta = [
        f"#{int(row['rank'])}",
        f"<b>{render.escape_text(row['label'])}</b>",
        f"given <b>{render.escape_text(row['given'])}</b> → suggested "
        f"<b>{render.escape_text(row['suggested'])}</b>",
        f"model's probability of the given label {float(row['self_confidence']):.3f}",
        where,
    ]
    current = str(row.get(f"{row['label']}_label") or "")
    if row["comment_id"] and current != row["given"]:
        meta.append(
            f'<span class="mod-state">relabelled since: {render.escape_text(current or "none")}</span>'
        )
    return (
        f'<div class="mod-comment mod-issue" data-comment-id="{render.escape_text(row["comment_id"])}" '
        f'data-label="{render.escape_text(row["label"])}">'
        f'<div class="mod-meta">{" · ".join(meta)}</div>'
        f'<div class="mod-text" dir="auto">{render.escape_text(row["text"])}</div></div>'
    )


st.html(render.CSS)
st.title("Label issues")
st.caption(
    "Labels that a model trained without them finds unlikely (cleanlab's confident learning on "
    "grouped out-of-fold probabilities), most likely wrong first. Open the thread to relabel."
)
session.show_flash()
with st.container(horizontal=True):
    label = st.selectbox("label", [BOTH, *config.LABELS], key="issues_label", on_change=_first_page)
    source = st.selectbox("show", list(SOURCES), key="issues_source", on_change=_first_page)
page = int(st.session_state.get("issues_page", 0))
rows = _suspects(session.db_url(), label, SOURCES[source], page * PAGE_SIZE)

if rows.empty and page == 0:
    st.info(
        render.markdown_text(
            "No label issues stored for this choice. Find them with: moderation label-issues "
            "--data default (judges the moderators' labels against the public corpora)"
        )
    )
else:
    st.caption(render.markdown_text(f"found by run {rows['run_id'].iloc[0]} at {rows['created_at'].iloc[0]}"))
for row in rows.to_dict("records"):
    ident = f"{row['label']}:{row['comment_id'] or row['corpus'] + ':' + str(row['rank'])}"
    with st.container(border=True, key=render.widget_key("issue", ident)):
        st.html(_card(row))
        if row["comment_id"] and st.button(
            "open thread ›", key=render.widget_key("issue_thread", ident), type="primary"
        ):
            st.session_state["thread_id"] = str(row["thread_id"])
            st.session_state["cursor"] = str(row["comment_id"])
            st.switch_page("views/thread.py", query_params={"thread": str(row["thread_id"])})

with st.container(horizontal=True, vertical_alignment="center", key="issues_pager"):
    st.button("‹ previous", key="issues_prev", disabled=page == 0, on_click=_turn, args=(-1,))
    st.caption(f"page {page + 1}")
    st.button("next ›", key="issues_next", disabled=len(rows) < PAGE_SIZE, on_click=_turn, args=(1,))
