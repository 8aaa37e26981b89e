"""The comment block shared by the Thread, Author and Needs review pages: the escaped card and
the moderator's actions on it (relabel, decide, note, undo, select for a bulk action).

Each action is a button whose callback calls ``moderation.review`` through ``session.act``
with ``expected_version`` set to the version of the row the moderator is looking at, so a
change on top of someone else's is refused and shown. Widget keys derive from the comment id
(``render.widget_key``), so they are stable and the keyboard shortcuts can find them:

    comment_<h>            the comment's container (indented by the Thread page)
    select_<h>             its "select" box for bulk actions
    c_<h>_insult_yes ...   relabel buttons (insult/troll x yes/no/unsure)
    c_<h>_approve ...      decisions (approve, reject, escalate, restore)
    c_<h>_undo             undo the moderator's own last change
    c_<h>_note, c_<h>_note_save   the note field and its save button
    c_<h>_author, c_<h>_thread    open the author's page / the comment's thread
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import render, session
from moderation import config, review
from moderation.review import Change

__all__ = ["BULK_ACTIONS", "action_key", "apply_bulk", "comment_block"]

#: What the bulk bar can do to the selected comments: label -> (field, value).
BULK_ACTIONS: dict[str, tuple[str, str]] = {
    "approve": ("decision", "approve"),
    "reject": ("decision", "reject"),
    "escalate": ("decision", "escalate"),
    "restore": ("decision", "restore"),
    **{
        f"{label} {value}": (f"{label}_label", value)
        for label in ("insult", "troll")
        for value in config.LABEL_VALUES
    },
}


def action_key(comment_id: str, action: str) -> str:
    """The widget key of one action button of a comment (``insult_yes``, ``approve``, ...)."""
    return f"{render.widget_key('c', comment_id)}_{action}"


def _focus(comment_id: str) -> None:
    st.session_state["cursor"] = comment_id


def _relabel(comment_id: str, label: str, value: str, version: int) -> None:
    _focus(comment_id)
    current = session.user()
    session.act(
        f"{label} label set to {value}",
        lambda: review.relabel(
            session.store(), current, comment_id, label=label, value=value, expected_version=version
        ),
    )


def _decide(comment_id: str, action: str, version: int) -> None:
    _focus(comment_id)
    current = session.user()
    session.act(
        f"comment {review.DECISION_STATES[action]}",
        lambda: review.decide(session.store(), current, comment_id, action=action, expected_version=version),
    )


def _undo(comment_id: str, version: int) -> None:
    _focus(comment_id)
    current = session.user()
    session.act(
        "your last change to the comment was undone",
        lambda: review.undo(session.store(), current, comment_id, expected_version=version),
        nothing_done="nothing of yours to undo on this comment",
    )


def _save_note(comment_id: str, version: int) -> None:
    _focus(comment_id)
    current = session.user()
    note_key = action_key(comment_id, "note")
    text = str(st.session_state.get(note_key, ""))
    session.act(
        "note saved",
        lambda: review.add_note(session.store(), current, comment_id, note=text, expected_version=version),
    )
    st.session_state.pop(note_key, None)  # shows the stored note again on the next run


def apply_bulk(versions: Mapping[str, int]) -> None:
    """Callback of the bulk bar: one ``apply_changes`` (all or none) over the selected comments."""
    action = str(st.session_state.get("bulk_action", ""))
    if action not in BULK_ACTIONS:
        return
    field, value = BULK_ACTIONS[action]
    chosen = session.selected_ids(list(versions))
    if not chosen:
        session.flash("info", "select some comments first")
        return
    changes = [Change(cid, field, value, versions[cid]) for cid in chosen]
    current = session.user()
    result = session.act(
        f"{action}: {len(changes)} comments changed",
        lambda: review.apply_changes(session.store(), current, changes),
    )
    if result is not None:
        for cid in chosen:
            st.session_state[render.widget_key("select", cid)] = False


def _open_thread(thread_id: str) -> None:
    st.session_state["thread_id"] = str(thread_id)
    st.session_state.pop("cursor", None)


def comment_block(
    row: Mapping[str, Any],
    *,
    spans: Sequence[Sequence[Any]] = (),
    thresholds: Mapping[str, float] | None = None,
    depth: int = 0,
    focused: bool = False,
    selectable: bool = False,
    show_thread: bool = False,
    indent: bool = False,
    extra: str = "",
) -> None:
    """One comment in a bordered, keyed container: the escaped card, then its action buttons.

    With ``indent`` the container is indented by ``depth`` reply levels (the Thread page).
    """
    comment_id = str(row["comment_id"])
    version = int(row["version"])
    key = render.widget_key("comment", comment_id)
    with st.container(border=True, key=key):
        card = render.comment_card(
            row, spans=spans, thresholds=thresholds, depth=depth, focused=focused, thread_title=show_thread
        )
        st.html((render.indent_style(key, depth) if indent else "") + card + extra)
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            if selectable:
                st.checkbox("select", key=render.widget_key("select", comment_id))
            for label in ("insult", "troll"):
                current = str(row.get(f"{label}_label") or "")
                for value in config.LABEL_VALUES:
                    st.button(
                        f"{label} {value}",
                        key=action_key(comment_id, f"{label}_{value}"),
                        type="primary" if current == value else "secondary",
                        on_click=_relabel,
                        args=(comment_id, label, value, version),
                    )
            decision = str(row.get("decision") or "")
            for action in config.DECISION_ACTIONS:
                st.button(
                    action,
                    key=action_key(comment_id, action),
                    type="primary" if decision == review.DECISION_STATES[action] else "secondary",
                    disabled=action == "restore" and decision != "rejected",
                    on_click=_decide,
                    args=(comment_id, action, version),
                )
            st.button("undo", key=action_key(comment_id, "undo"), on_click=_undo, args=(comment_id, version))
            with st.popover("note", key=action_key(comment_id, "note_popover")):
                note_key = action_key(comment_id, "note")
                if note_key not in st.session_state:
                    st.session_state[note_key] = str(row.get("note") or "")
                st.text_area("note for the other moderators", key=note_key)
                st.button(
                    "save note",
                    key=action_key(comment_id, "note_save"),
                    on_click=_save_note,
                    args=(comment_id, version),
                )
            if row.get("author") and st.button("author ›", key=action_key(comment_id, "author")):
                st.session_state["author"] = str(row["author"])
                st.switch_page("views/author.py")
            if show_thread and st.button("thread ›", key=action_key(comment_id, "thread")):
                _open_thread(str(row["thread_id"]))
                st.session_state["cursor"] = comment_id
                st.switch_page("views/thread.py", query_params={"thread": str(row["thread_id"])})
