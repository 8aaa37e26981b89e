"""Disqus XML and WordPress WXR exports: whole-document readers over a hardened XML parser.

Both formats are parsed with defusedxml, which refuses entity declarations (billion laughs)
and external entities (XXE): nothing is expanded and nothing is fetched. Real WordPress.com
exports use the ``atom:`` prefix without declaring it, which strict parsers reject; before
parsing, every prefix that is used but not declared gets a placeholder declaration on the
root element, so such a file is still read (and nothing else about it changes).
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from moderation import config
from moderation.errors import InputError, InputTooLargeError
from moderation.ingest.base import ReadOptions, ReadReport, register, to_iso_utc
from moderation.ingest.rejects import RejectsSink
from moderation.ingest.source import open_binary
from moderation.normalize import normalize_text

__all__ = ["parse_xml"]

_DISQUS = "{http://disqus.com}"
_DSQ_ID = "{http://disqus.com/disqus-internals}id"
_WP_NAMESPACE = re.compile(r"^\{(https?://wordpress\.org/export/[\d.]+/)\}")

_USED_PREFIX = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]|\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*=")
_DECLARED_PREFIX = re.compile(rb"xmlns:([A-Za-z_][\w.-]*)\s*=")
_ROOT_TAG = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)")


def _declare_missing_prefixes(data: bytes) -> bytes:
    """Add a placeholder xmlns declaration to the root element for every undeclared prefix."""
    used = {m.group(1) or m.group(2) for m in _USED_PREFIX.finditer(data)}
    missing = used - set(_DECLARED_PREFIX.findall(data)) - {b"xml", b"xmlns"}
    if not missing:
        return data
    root = _ROOT_TAG.search(data)
    if root is None:
        return data
    declarations = b"".join(b' xmlns:%s="urn:undeclared:%s"' % (p, p) for p in sorted(missing))
    return data[: root.end()] + declarations + data[root.end() :]


def parse_xml(path: Path) -> Element:
    """Read and parse an XML export safely, or raise an InputError naming the file and line."""
    with open_binary(path) as handle:
        data = handle.read(config.MAX_XML_BYTES + 1)
    if len(data) > config.MAX_XML_BYTES:
        raise InputTooLargeError(
            f"is larger than {config.MAX_XML_BYTES:,} bytes",
            path=path,
            hint="split the export, or raise MAX_XML_BYTES in moderation/config.py",
        )
    if not data.strip():
        raise InputError("the file is empty", path=path, hint="check that the export finished")
    try:
        return fromstring(_declare_missing_prefixes(data), forbid_dtd=False, forbid_entities=True)
    except DefusedXmlException as exc:
        raise InputError(
            f"refused: the XML declares entities or external references ({exc.__class__.__name__})",
            path=path,
            hint="real Disqus and WordPress exports have none; re-export the file from the site",
        ) from None
    except ParseError as exc:
        line, column = exc.position
        raise InputError(
            f"is not well-formed XML at line {line}, column {column} ({exc})",
            path=path,
            hint="the export is probably truncated or edited; export it again",
        ) from None


def _text(element: Element | None, tag: str) -> str:
    if element is None:
        return ""
    found = element.find(tag)
    return (found.text or "") if found is not None else ""


# --- Disqus -----------------------------------------------------------------------------------


def _sniff_disqus(head: bytes, path: Path) -> int:
    return 95 if b"<disqus" in head[:4096] else 0


@register("disqus", kind="document", sniff=_sniff_disqus, description="Disqus XML export")
def read_disqus(path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport) -> pd.DataFrame:
    root = parse_xml(path)
    threads: dict[str, tuple[str, str]] = {}
    for thread in root.iter(f"{_DISQUS}thread"):
        key = thread.get(_DSQ_ID)
        if key and thread.find(f"{_DISQUS}title") is not None:
            threads[key] = (_text(thread, f"{_DISQUS}title"), _text(thread, f"{_DISQUS}link"))
    rows = []
    for record, post in enumerate(root.iter(f"{_DISQUS}post"), start=1):
        post_id = post.get(_DSQ_ID, "")
        thread = post.find(f"{_DISQUS}thread")
        parent = post.find(f"{_DISQUS}parent")
        thread_id = thread.get(_DSQ_ID, "") if thread is not None else ""
        if not post_id:
            rejects.add(source=path, record=record, reason="post without a dsq:id")
            continue
        message = _text(post, f"{_DISQUS}message")
        status = ""
        if _text(post, f"{_DISQUS}isDeleted") == "true":
            status = "deleted"
        elif _text(post, f"{_DISQUS}isSpam") == "true":
            status = "spam"
        title, link = threads.get(thread_id, ("", ""))
        rows.append(
            {
                "comment_id": post_id,
                "thread_id": thread_id,
                "parent_id": parent.get(_DSQ_ID, "") if parent is not None else "",
                "author": _text(post.find(f"{_DISQUS}author"), f"{_DISQUS}name"),
                "created_at": _text(post, f"{_DISQUS}createdAt"),
                "text": normalize_text(message, is_html=True),
                "thread_title": title,
                "status": status,
                "source": str(path),
                "record": record,
                "text_original": message,
                "thread_link": link,
            }
        )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["created_at"] = to_iso_utc(frame["created_at"])
    return frame


# --- WordPress WXR ----------------------------------------------------------------------------


def _sniff_wxr(head: bytes, path: Path) -> int:
    return 95 if b"<rss" in head and b"wordpress.org/export" in head else 0


_WXR_STATUS = {"1": "approved", "0": "unapproved", "spam": "spam", "trash": "deleted"}


@register("wxr", kind="document", sniff=_sniff_wxr, description="WordPress WXR export")
def read_wxr(path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport) -> pd.DataFrame:
    root = parse_xml(path)
    # WXR 1.0-1.2 differ in the namespace URI (and its scheme): take the one the file uses.
    wp = next(
        (f"{{{m.group(1)}}}" for el in root.iter() if (m := _WP_NAMESPACE.match(str(el.tag)))),
        "{http://wordpress.org/export/1.2/}",
    )
    rows = []
    record = 0
    skipped = 0
    for item in root.iter("item"):
        post_id = _text(item, f"{wp}post_id")
        title = _text(item, "title")
        for comment in item.findall(f"{wp}comment"):
            record += 1
            kind = _text(comment, f"{wp}comment_type").strip() or "comment"
            if kind in ("pingback", "trackback") and not options.include_pingbacks:
                skipped += 1
                continue
            approved = _text(comment, f"{wp}comment_approved").strip()
            status = kind if kind in ("pingback", "trackback") else _WXR_STATUS.get(approved, "")
            parent = _text(comment, f"{wp}comment_parent").strip()
            content = _text(comment, f"{wp}comment_content")
            stamp = _text(comment, f"{wp}comment_date_gmt").strip()
            if not stamp or stamp.startswith("0000"):
                stamp = _text(comment, f"{wp}comment_date").strip()
            rows.append(
                {
                    "comment_id": _text(comment, f"{wp}comment_id").strip(),
                    "thread_id": f"post-{post_id}" if post_id else _text(item, "link"),
                    "parent_id": "" if parent in ("", "0") else parent,
                    "author": _text(comment, f"{wp}comment_author").strip(),
                    "created_at": stamp,
                    "text": normalize_text(content, is_html=True),
                    "thread_title": title,
                    "status": status,
                    "source": str(path),
                    "record": record,
                    "text_original": content,
                    "thread_link": _text(item, "link"),
                    "comment_type": kind,
                }
            )
    if skipped:
        report.warn(
            f"{path}: left out {skipped:,} pingbacks/trackbacks (pass --include-pingbacks to keep them)"
        )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["created_at"] = to_iso_utc(frame["created_at"])
    return frame
