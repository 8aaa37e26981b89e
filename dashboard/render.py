"""Text from the dumps as safe HTML: the only road from a comment to the page.

Comment text, author names, thread titles, reasons and notes all come from dumps or from
moderators, so they are treated as hostile. Every function here splits the text first (at
the highlight boundaries), escapes each fragment with ``html.escape`` and only then adds our
own markup (``<mark>``, the card around it); bidirectional controls (U+202A-202E, U+2066-2069)
are replaced by a visible marker, so a right-to-left override cannot reorder what the
moderator reads. The pages pass the result to ``st.html``, which does not read Markdown, so
``[click](javascript:...)`` stays text. Widget labels and alerts, which Streamlit reads as
Markdown, get ``markdown_text`` instead, which backslash-escapes every ASCII punctuation mark.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from moderation import config

__all__ = [
    "BIDI_CONTROLS",
    "CSS",
    "INDENT_REM",
    "MAX_INDENT_LEVELS",
    "comment_card",
    "disagreement_card",
    "escape_text",
    "highlight",
    "indent_rem",
    "indent_style",
    "markdown_text",
    "score_bar",
    "thread_card",
    "title_html",
    "widget_key",
]

#: Bidirectional formatting characters and the marker shown in their place.
BIDI_CONTROLS = {
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
}
_BIDI = re.compile("[" + "".join(BIDI_CONTROLS) + "]")

INDENT_REM = config.THREAD_INDENT_REM
MAX_INDENT_LEVELS = config.THREAD_MAX_INDENT_LEVELS
QUEUE_SNIPPET_CHARS = config.QUEUE_SNIPPET_CHARS

# Our own styles (no user text): injected once per page with st.html.
CSS = """<style>
.mod-comment { font-size: 0.95rem; line-height: 1.45; }
.mod-comment.mod-focused { outline: 2px solid #f0a202; outline-offset: 4px; border-radius: 4px; }
.mod-meta { color: #666; font-size: 0.85rem; margin-bottom: 0.25rem; }
.mod-author { color: #222; font-weight: 600; }
.mod-text { white-space: pre-wrap; overflow-wrap: anywhere; unicode-bidi: isolate; }
.mod-text mark.insult { background: #ffc9c9; padding: 0 1px; }
.mod-text mark.troll { background: #ffe08a; padding: 0 1px; }
.mod-text mark.insult.troll { background: #ffb38a; }
.mod-bidi { background: #e7e7ff; color: #3b3bb3; font-family: monospace; font-size: 0.8em;
  border-radius: 3px; padding: 0 2px; }
.mod-reasons, .mod-note { color: #555; font-size: 0.82rem; margin-top: 0.25rem; }
.mod-scores { display: flex; gap: 1rem; margin: 0.2rem 0 0.35rem 0; font-size: 0.8rem; color: #444; }
.mod-bar { display: inline-block; width: 70px; height: 8px; background: #eee; border-radius: 4px;
  vertical-align: middle; margin-right: 4px; overflow: hidden; }
.mod-fill { display: block; height: 100%; background: #9aa5b1; }
.mod-fill.mod-over.insult { background: #e03131; }
.mod-fill.mod-over.troll { background: #f08c00; }
.mod-state { font-weight: 600; }
.mod-state.rejected { color: #c92a2a; }
.mod-state.approved, .mod-state.restored { color: #2b8a3e; }
.mod-state.escalated { color: #5f3dc4; }
.mod-title { margin: 0 0 0.5rem 0; }
.mod-thread-title { font-weight: 600; font-size: 1.05rem; }
.mod-counts { color: #555; font-size: 0.85rem; }
div[class*="st-key-comment_"] button { min-height: 1.8rem; padding: 0.1rem 0.55rem; }
div[class*="st-key-comment_"] button p { font-size: 0.82rem; }
</style>"""


def widget_key(prefix: str, value: str) -> str:
    """A stable widget key for ``value`` (a comment or thread id from a dump) that is safe in
    a CSS class name: Streamlit exposes keys as ``st-key-<key>`` classes."""
    digest = hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{prefix}_{digest}"


def _bidi_marker(match: re.Match) -> str:
    char = match.group(0)
    code = f"U+{ord(char):04X}"
    return (
        f'<span class="mod-bidi" title="bidirectional control {code} ({BIDI_CONTROLS[char]})">[{code}]</span>'
    )


def escape_text(text: Any) -> str:
    """``text`` as HTML that shows exactly its characters, bidi controls as visible markers."""
    return _BIDI.sub(_bidi_marker, html.escape("" if text is None else str(text), quote=True))


def markdown_text(text: Any) -> str:
    """``text`` for a place that reads Markdown (widget labels, alerts): every ASCII punctuation
    mark backslash-escaped, so no link, image, HTML, emphasis or directive can form."""
    plain = _BIDI.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", "" if text is None else str(text))
    escaped = re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", plain)
    return escaped.replace("\n", "  \n")


def highlight(text: str, spans: Iterable[Sequence[Any]]) -> str:
    """``text`` as escaped HTML with each span ``(start, end, label)`` wrapped in ``<mark>``.

    The text is cut at every span boundary first; each piece is escaped on its own, so an
    offset can never fall inside an entity and no markup from the text survives. Overlapping
    spans of the insult and troll heads give a piece both classes.
    """
    text = "" if text is None else str(text)
    size = len(text)
    clean = []
    for span in spans:
        start, end, label = max(0, int(span[0])), min(size, int(span[1])), str(span[2])
        if start < end and label in ("insult", "troll"):
            clean.append((start, end, label))
    cuts = sorted({0, size, *(s for s, _, _ in clean), *(e for _, e, _ in clean)})
    pieces = []
    for start, end in itertools.pairwise(cuts):
        fragment = escape_text(text[start:end])
        labels = sorted({label for s, e, label in clean if s <= start and end <= e})
        if labels:
            names = " ".join(labels)
            pieces.append(f'<mark class="{names}" title="{names}">{fragment}</mark>')
        else:
            pieces.append(fragment)
    return "".join(pieces)


def indent_rem(depth: int) -> float:
    """How far a comment at ``depth`` in the reply tree is indented (rem)."""
    return min(max(int(depth), 0), MAX_INDENT_LEVELS) * INDENT_REM


def indent_style(key: str, depth: int) -> str:
    """A style rule indenting the container keyed ``key`` (from ``widget_key``: hex, so safe in
    a selector) by ``depth`` reply levels, sent with the comment's card."""
    rem = indent_rem(depth)
    return f"<style>.st-key-{key} {{ margin-left: {rem}rem; max-width: calc(100% - {rem}rem); }}</style>"


def score_bar(label: str, score: float, threshold: float) -> str:
    """A small bar for one score; red or orange once it reaches the model's threshold."""
    score = min(max(float(score), 0.0), 1.0)
    over = " mod-over" if score >= threshold else ""
    return (
        f'<span class="mod-score" title="{label} score {score:.3f} (threshold {threshold:.2f})">'
        f'<span class="mod-bar"><span class="mod-fill {label}{over}" style="width: {score * 100:.0f}%">'
        f"</span></span>{label} {score:.2f}</span>"
    )


def title_html(title: Any, *, fallback: str = "") -> str:
    """A thread's title as a heading (the thread id stands in when it has none)."""
    return f'<h2 class="mod-title">{escape_text(title or fallback)}</h2>'


def _state(row: Mapping[str, Any]) -> str:
    parts = []
    decision = str(row.get("decision") or "")
    if decision:
        parts.append(f'<span class="mod-state {escape_text(decision)}">{escape_text(decision)}</span>')
    for label in ("insult", "troll"):
        value = str(row.get(f"{label}_label") or "")
        if value:
            parts.append(f"{label}: {escape_text(value)}")
    return " · ".join(parts) if parts else "not reviewed"


def comment_card(
    row: Mapping[str, Any],
    *,
    spans: Iterable[Sequence[Any]] = (),
    thresholds: Mapping[str, float] | None = None,
    depth: int = 0,
    focused: bool = False,
    thread_title: bool = False,
) -> str:
    """One comment as HTML: author and time, score bars, the highlighted text, reasons, state."""
    thresholds = thresholds or {"insult": 0.5, "troll": 0.5}
    author = str(row.get("author") or "")
    author_html = (
        f'<span class="mod-author">{escape_text(author)}</span>' if author else "<em>(no author)</em>"
    )
    meta = [author_html]
    if row.get("created_at"):
        meta.append(f"<time>{escape_text(row['created_at'])}</time>")
    if thread_title:
        meta.append(f"in <em>{escape_text(row.get('title') or row.get('thread_id') or '')}</em>")
    meta.append(_state(row))
    bars = "".join(
        score_bar(label, float(row.get(f"{label}_score") or 0.0), float(thresholds.get(label, 0.5)))
        for label in ("insult", "troll")
    )
    extra = ""
    if row.get("reasons"):
        extra += f'<div class="mod-reasons">why: {escape_text(row["reasons"])}</div>'
    if row.get("note"):
        extra += f'<div class="mod-note">note: {escape_text(row["note"])}</div>'
    classes = "mod-comment mod-focused" if focused else "mod-comment"
    return (
        f'<div class="{classes}" data-comment-id="{escape_text(row.get("comment_id", ""))}" '
        f'data-depth="{int(depth)}">'
        f'<div class="mod-meta">{" · ".join(meta)}</div>'
        f'<div class="mod-scores">{bars}</div>'
        f'<div class="mod-text" dir="auto">{highlight(str(row.get("text") or ""), spans)}</div>'
        f"{extra}</div>"
    )


def thread_card(row: Mapping[str, Any], *, thresholds: Mapping[str, float] | None = None) -> str:
    """One queue row: the thread's title, its counts and risk, and its worst comment."""
    thresholds = thresholds or {"insult": 0.5, "troll": 0.5}
    worst = str(row.get("worst_text") or "")
    if len(worst) > QUEUE_SNIPPET_CHARS:
        worst = worst[:QUEUE_SNIPPET_CHARS] + "…"
    author = str(row.get("worst_author") or "")
    counts = (
        f"risk {float(row.get('risk') or 0):.2f} · {int(row.get('n_comments') or 0)} comments · "
        f"{int(row.get('n_flagged') or 0)} flagged ({int(row.get('n_insult') or 0)} insult, "
        f"{int(row.get('n_troll') or 0)} troll) · {int(row.get('n_unreviewed') or 0)} unreviewed"
    )
    if row.get("last_comment_at"):
        counts += f" · last comment {escape_text(row['last_comment_at'])}"
    return (
        f'<div class="mod-thread" data-thread-id="{escape_text(row.get("thread_id", ""))}">'
        f'<div class="mod-thread-title">{escape_text(row.get("title") or row.get("thread_id") or "")}</div>'
        f'<div class="mod-counts">{counts}</div>'
        f'<div class="mod-scores">worst: '
        f"{score_bar('insult', float(row.get('worst_insult') or 0), float(thresholds['insult']))}"
        f"{score_bar('troll', float(row.get('worst_troll') or 0), float(thresholds['troll']))}</div>"
        f'<div class="mod-text" dir="auto">'
        f'<span class="mod-author">{escape_text(author) if author else "(no author)"}</span>: '
        f"{escape_text(worst)}</div></div>"
    )


def disagreement_card(row: Mapping[str, Any]) -> str:
    """One comment the moderators label differently: the label, who said yes and who said no,
    the thread's title and the start of the text."""
    text = str(row.get("text") or "")
    if len(text) > QUEUE_SNIPPET_CHARS:
        text = text[:QUEUE_SNIPPET_CHARS] + "…"
    label = escape_text(row.get("label") or "")
    return (
        f'<div class="mod-disagreement" data-comment-id="{escape_text(row.get("comment_id", ""))}" '
        f'data-label="{label}">'
        f'<div class="mod-meta"><span class="mod-state">{label}</span> · '
        f"yes: {escape_text(row.get('said_yes') or '')} · no: {escape_text(row.get('said_no') or '')} · "
        f"in <em>{escape_text(row.get('title') or row.get('thread_id') or '')}</em></div>"
        f'<div class="mod-text" dir="auto">{escape_text(text)}</div></div>'
    )
