"""Thread page: every comment of one thread in reading order, each reply indented under its
parent (``review.thread_comments`` gives ``tree_depth``), with score bars, highlighted spans,
reasons and the moderator's actions; a bulk bar acts on the selected comments at once.

Keyboard: j / k next / previous comment; a approve, r reject, i insult yes, t troll yes,
u undo, all on the focused comment (``st.session_state["cursor"]``). A long thread is shown a
page at a time (``thread_page_size`` comments, the page holding the focused comment); j / k
cross from one page to the next.
"""

from __future__ import annotations

import streamlit as st

from dashboard import render, session, widgets
from dashboard.shortcuts import keyboard_shortcuts
from moderation import config

PAGE_SIZES = config.THREAD_PAGE_SIZES

#: Key -> the action (suffix of ``widgets.action_key``) it clicks on the focused comment.
SHORTCUTS = {"a": "approve", "r": "reject", "i": "insult_yes", "t": "troll_yes", "u": "undo"}


def _move(ids: list[str], step: int) -> None:
    if not ids:
        return
    current = st.session_state.get("cursor")
    index = ids.index(current) if current in ids else -step if step > 0 else 0
    st.session_state["cursor"] = ids[min(max(index + step, 0), len(ids) - 1)]


def _focus(comment_id: str) -> None:
    st.session_state["cursor"] = comment_id


def _thread_id() -> str:
    # A link such as ?thread=ID opens a thread directly; otherwise the Queue set it.
    linked = st.query_params.get("thread")
    if linked and linked != st.session_state.get("thread_id"):
        st.session_state["thread_id"] = linked
        st.session_state.pop("cursor", None)
    thread_id = str(st.session_state.get("thread_id") or "")
    if thread_id:
        st.query_params["thread"] = thread_id
    return thread_id


st.html(render.CSS)
thread_id = _thread_id()
if not thread_id:
    st.info("Pick a thread in the Queue first.")
    st.page_link("views/queue.py", label="Open the Queue")
    st.stop()

rows = session.read("thread_comments", thread_id)
if rows.empty:
    st.warning("This thread has no comments in the store (it may have been removed).")
    st.stop()

st.html(render.title_html(rows.at[0, "title"], fallback=thread_id))
flagged = int((rows["flag"].astype(str) != "").sum())
undecided = int(((rows["flag"].astype(str) != "") & (rows["decision"].astype(str) == "")).sum())
st.caption(
    f"{len(rows)} comments, {flagged} flagged, {undecided} flagged and undecided. "
    "Keys: j / k next / previous, a approve, r reject, i insult yes, t troll yes, u undo."
)
session.show_flash()

ids = rows["comment_id"].astype(str).tolist()
if st.session_state.get("cursor") not in ids:
    st.session_state["cursor"] = ids[0]
cursor = st.session_state["cursor"]
versions = session.versions_of(rows)
size = int(st.session_state.get("thread_page_size", PAGE_SIZES[1]))
start = ids.index(cursor) // size * size
shown = rows.iloc[start : start + size]

with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key="thread_bar"):
    st.button("↑ previous (k)", key="thread_prev", on_click=_move, args=(ids, -1))
    st.button("↓ next (j)", key="thread_next", on_click=_move, args=(ids, 1))
    chosen = session.selected_ids(shown["comment_id"].astype(str).tolist())
    st.selectbox("bulk action", list(widgets.BULK_ACTIONS), key="bulk_action", width=180)
    st.button(
        f"apply to {len(chosen)} selected",
        key="bulk_apply",
        type="primary",
        disabled=not chosen,
        on_click=widgets.apply_bulk,
        args=(session.versions_of(shown),),
    )
    st.selectbox("comments per page", PAGE_SIZES, key="thread_page_size", index=1, width=140)

if len(rows) > size:
    st.caption(f"comments {start + 1}-{start + len(shown)} of {len(rows)}")
spans, warnings = session.spans_for(shown)
for warning in warnings:
    st.caption(render.markdown_text(warning))
thresholds = session.model_thresholds()
for position, row in enumerate(shown.to_dict("records")):
    widgets.comment_block(
        row,
        spans=spans[position],
        thresholds=thresholds,
        depth=int(row["tree_depth"]),
        focused=row["comment_id"] == cursor,
        selectable=True,
        indent=True,
    )

if len(rows) > size:
    with st.container(horizontal=True, gap="small", key="thread_pager"):
        st.button(
            "‹ earlier comments",
            key="thread_page_prev",
            disabled=start == 0,
            on_click=_focus,
            args=(ids[max(start - size, 0)],),
        )
        st.button(
            "later comments ›",
            key="thread_page_next",
            disabled=start + size >= len(ids),
            on_click=_focus,
            args=(ids[min(start + size, len(ids) - 1)],),
        )

keys = {"j": "thread_next", "k": "thread_prev"}
keys.update({key: widgets.action_key(cursor, action) for key, action in SHORTCUTS.items()})
keyboard_shortcuts(keys, focus=render.widget_key("comment", cursor))
