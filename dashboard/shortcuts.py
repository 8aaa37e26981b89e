"""Keyboard shortcuts for the Thread page: a key press clicks a keyed button.

Streamlit's own ``shortcut=`` reserves ``r`` (rerun) and the ``streamlit-shortcuts`` package
fires inside text fields too (typing "a" in a note would approve the comment), so this small
listener does the job instead. It ignores presses with Ctrl, Alt or Cmd and presses inside
inputs, text areas and selects; it listens in the capture phase and stops the presses it
handles, so Streamlit's own ``r`` never sees them. The script holds no user text: the map is
built from our widget keys (hex digests, see ``render.widget_key``) and JSON-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import streamlit as st

__all__ = ["keyboard_shortcuts"]

_SCRIPT = """<script>
(function () {
  const w = window;
  w.__moderationKeys = %(keys)s;
  w.__moderationFocus = %(focus)s;
  if (!w.__moderationKeysInstalled) {
    w.__moderationKeysInstalled = true;
    w.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
      const target = event.target;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      const key = (w.__moderationKeys || {})[event.key];
      if (!key) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      const button = document.querySelector(".st-key-" + key + " button");
      if (button && !button.disabled) button.click();
    }, true);
  }
  if (w.__moderationFocus) {
    const focused = document.querySelector(".st-key-" + w.__moderationFocus);
    if (focused) focused.scrollIntoView({block: "nearest"});
  }
})();
</script>"""


def _json(value: object) -> str:
    # "<" never reaches the script as such, so no "</script>" can close it early.
    return json.dumps(value).replace("<", "\\u003c")


def keyboard_shortcuts(keys: Mapping[str, str], *, focus: str = "") -> None:
    """Make each key in ``keys`` (e.g. ``"a"``) click the button with that widget key, and
    scroll the container keyed ``focus`` into view."""
    st.html(
        _SCRIPT % {"keys": _json(dict(keys)), "focus": _json(focus)},
        unsafe_allow_javascript=True,
        width="content",
    )
