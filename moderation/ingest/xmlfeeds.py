"""Readers for XML comment exports: Disqus (``disqus``) and WordPress WXR (``wxr``).

Both are document readers: the whole export is parsed (incrementally, so memory holds the
rows, not the tree) and returned as one frame; ``read_comments`` then rebuilds the threads,
which matters because a Disqus reply may come before its parent in the file.

Parsing is done by defusedxml, so a file that declares entities (billion laughs, external
entities) is refused before anything is expanded or fetched. Real exports are not always
well-formed: WordPress.com writes ``atom:link`` without declaring the ``atom`` prefix, which
a strict parser rejects. When that is the only problem, the missing declarations are added to
the root element (declaring a prefix changes nothing else) and the file is parsed again.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar
from xml.parsers import expat

import pandas as pd
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import iterparse

from moderation import config
from moderation.errors import EmptyInputError, InputError, InputTooLargeError
from moderation.ingest.base import ReadOptions, ReadReport, register, stable_comment_id, to_iso_utc
from moderation.ingest.rejects import RejectsSink
from moderation.ingest.source import open_binary
from moderation.normalize import normalize_text

__all__ = ["read_disqus", "read_wxr"]

T = TypeVar("T")
Events = Iterator[tuple[str, ET.Element]]

_UNBOUND_PREFIX = expat.errors.codes[expat.errors.XML_ERROR_UNBOUND_PREFIX]
_NAME = rb"[A-Za-z_][\w.\-]*"
_ROOT_START = re.compile(rb"<(" + _NAME + rb"(?::" + _NAME + rb")?)")
_ATTRIBUTE = re.compile(rb"\s+(" + _NAME + rb"(?::" + _NAME + rb")?)\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_DECLARED_PREFIX = re.compile(rb"xmlns:(" + _NAME + rb")\s*=")
_ELEMENT_PREFIX = re.compile(rb"</?(" + _NAME + rb"):" + _NAME)
_ATTRIBUTE_PREFIX = re.compile(rb"\s(" + _NAME + rb"):" + _NAME + rb"\s*=\s*[\"']")
_DOCTYPE_END = re.compile(rb"\]\s*>")
_WP_NAMESPACE = "wordpress.org/export/"


# --- safe, size-limited parsing ----------------------------------------------------------------


class _XmlSource:
    """The file-like object the parser reads: enforces MAX_XML_BYTES and, when asked, adds
    namespace declarations to the root element's start tag."""

    def __init__(self, raw: BinaryIO, path: Path, declarations: bytes = b"") -> None:
        self._raw = raw
        self._path = path
        self._declarations = declarations
        self._pending = b""
        self._started = False
        self._total = 0
        self.blank = True  # only whitespace so far: an empty export, not a broken one

    def read(self, size: int = -1) -> bytes:
        if not self._started:
            self._started = True
            if self._declarations:
                head = self._take(config.XML_PROLOG_BYTES)
                spot = _root_name_end(head)
                # _missing_declarations found the root in this same head, so spot is known;
                # without it the head goes through unchanged and the parse fails as before.
                self._pending = head if spot is None else head[:spot] + self._declarations + head[spot:]
        if self._pending:
            size = len(self._pending) if size is None or size < 0 else size
            out, self._pending = self._pending[:size], self._pending[size:]
            return out
        return self._take(size)

    def _take(self, size: int) -> bytes:
        data = self._raw.read(size)
        self._total += len(data)
        if self.blank and data.strip(b" \t\r\n\x00\xef\xbb\xbf"):
            self.blank = False
        if self._total > config.MAX_XML_BYTES:
            raise InputTooLargeError(
                f"is larger than {config.MAX_XML_BYTES:,} bytes of XML",
                path=self._path,
                hint="split the export into smaller files, or raise MAX_XML_BYTES in moderation/config.py",
            )
        return data


def _root_name_end(head: bytes) -> int | None:
    """Offset just after the root element's name in ``head`` (None: not found, or an encoding
    where inserting ASCII bytes would corrupt the text)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head[:4]:
        return None
    position = 3 if head.startswith(codecs.BOM_UTF8) else 0
    while True:
        start = head.find(b"<", position)
        if start < 0:
            return None
        if head.startswith(b"<?", start):
            end = head.find(b"?>", start)
            position = -1 if end < 0 else end + 2
        elif head.startswith(b"<!--", start):
            end = head.find(b"-->", start + 4)
            position = -1 if end < 0 else end + 3
        elif head.startswith(b"<!", start):
            close = head.find(b">", start)
            bracket = head.find(b"[", start)
            if 0 <= bracket < close:  # a DOCTYPE with an internal subset ends at "]>"
                match = _DOCTYPE_END.search(head, bracket)
                position = -1 if match is None else match.end()
            else:
                position = -1 if close < 0 else close + 1
        else:
            match = _ROOT_START.match(head, start)
            return None if match is None else match.end()
        if position < 0:
            return None


def _missing_declarations(path: Path) -> tuple[list[str], bytes]:
    """Prefixes the document uses that its root element does not declare, and the attribute
    text declaring them. One pass over the file, done only after a strict parse failed."""
    with open_binary(path) as raw:
        head = raw.read(config.XML_PROLOG_BYTES)
        spot = _root_name_end(head)
        if spot is None:
            return [], b""
        tag_end = spot
        for match in _ATTRIBUTE.finditer(head, spot):
            if match.start() != tag_end:
                break
            tag_end = match.end()
        declared = {m.decode() for m in _DECLARED_PREFIX.findall(head[:tag_end])}
        used: set[str] = set()
        overlap = b""
        chunk = head
        while chunk:
            # Over-counting is harmless (a declared but unused prefix changes nothing), so a
            # prefix-like string inside CDATA may be declared too.
            window = overlap + chunk
            used.update(m.decode() for m in _ELEMENT_PREFIX.findall(window))
            used.update(m.decode() for m in _ATTRIBUTE_PREFIX.findall(window))
            overlap = window[-512:]
            chunk = raw.read(1024 * 1024)
    missing = sorted(used - declared - {"xml", "xmlns"})
    if not missing or len(missing) > config.MAX_XML_UNDECLARED_PREFIXES:
        return [], b""
    declarations = "".join(
        f' xmlns:{prefix}="{config.KNOWN_XML_NAMESPACES.get(prefix, f"urn:undeclared-prefix:{prefix}")}"'
        for prefix in missing
    )
    return missing, declarations.encode("ascii")


def _parse(path: Path, collect: Callable[[Events], T], report: ReadReport) -> T:
    """Run ``collect`` over the (start, end) events of ``path``, parsed safely.

    A strict parse comes first; if it fails only for undeclared prefixes, the declarations are
    added and the parse starts again from a clean state, so ``collect`` sees one whole document.
    """
    declarations = b""
    prefixes: list[str] = []
    while True:
        try:
            with open_binary(path) as raw:
                source = _XmlSource(raw, path, declarations)
                events = iterparse(
                    source,
                    events=("start", "end"),
                    forbid_dtd=False,
                    forbid_entities=True,
                    forbid_external=True,
                )
                result = collect(events)
        except ET.ParseError as error:
            if source.blank:
                raise EmptyInputError(
                    "the file is empty", path=path, hint="check that the export finished"
                ) from None
            if error.code == _UNBOUND_PREFIX and not declarations:
                prefixes, declarations = _missing_declarations(path)
                if declarations:
                    continue
            raise _broken_xml(path, error) from None
        except (EntitiesForbidden, ExternalReferenceForbidden, DTDForbidden) as error:
            raise InputError(
                f"declares XML entities ({type(error).__name__}); refused without expanding or "
                "fetching anything (an entity-expansion or external-entity attack: Disqus and "
                "WordPress exports never declare entities)",
                path=path,
                hint="export the comments again from the site; remove the <!DOCTYPE> block only "
                "if you trust where the file came from",
            ) from None
        except DefusedXmlException as error:
            raise InputError(
                f"uses an unsafe XML feature ({type(error).__name__})",
                path=path,
                hint="export the comments again from the site",
            ) from None
        if prefixes:
            report.warn(
                f"{path}: declared the namespace prefix(es) {', '.join(prefixes)} that the export "
                "uses without declaring (a known WordPress.com export bug)"
            )
        return result


def _broken_xml(path: Path, error: ET.ParseError) -> InputError:
    line, column = error.position
    reason = expat.ErrorString(error.code) if error.code else str(error)
    return InputError(
        f"is not well-formed XML at line {line}, column {column + 1} ({reason})",
        path=path,
        hint="the export is damaged or was cut short; export it again, or fix the XML near that line",
    )


# --- element helpers ---------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _text(element: ET.Element | None) -> str:
    # itertext: a message written as nested elements instead of CDATA still yields its words.
    return "" if element is None else "".join(element.itertext())


def _id_attribute(element: ET.Element | None) -> str:
    """The ``dsq:id`` attribute (Disqus puts it in its internals namespace)."""
    if element is None:
        return ""
    for key, value in element.attrib.items():
        if _local(key) == "id":
            return value.strip()
    return ""


def _is_true(element: ET.Element | None) -> bool:
    return _text(element).strip().lower() == "true"


def _finish(rows: list[dict], path: Path, dates: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["created_at"] = to_iso_utc(dates)
    frame["source"] = str(path)
    return frame


def _not_this_format(path: Path, root: ET.Element, expected: str) -> InputError:
    return InputError(
        f"is not a {expected} (its root element is <{_local(root.tag)}>)",
        path=path,
        hint="pass --format auto to let the content decide",
    )


# --- Disqus ------------------------------------------------------------------------------------


def _sniff_disqus(head: bytes, path: Path) -> int:
    return 100 if re.search(rb"<disqus[\s>]", head) and b"disqus.com" in head else 0


@register("disqus", kind="document", sniff=_sniff_disqus, description="Disqus XML export")
def read_disqus(path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport) -> pd.DataFrame:
    """One row per ``<post>``: deleted and spam posts are kept and marked in ``status``."""

    def collect(events: Events) -> tuple[list[dict], list[str], dict[str, tuple[str, str]]]:
        rows: list[dict] = []
        dates: list[str] = []
        threads: dict[str, tuple[str, str]] = {}
        level = 0
        root: ET.Element | None = None
        for event, element in events:
            if event == "start":
                level += 1
                if level == 1:
                    root = element
                    if _local(element.tag) != "disqus":
                        raise _not_this_format(path, element, "Disqus export")
                continue
            level -= 1
            if level != 1 or root is None:
                continue  # only the root's children (category, thread, post) are records
            name = _local(element.tag)
            if name == "thread":
                threads[_id_attribute(element)] = (
                    _text(_child(element, "title")).strip(),
                    _text(_child(element, "link")).strip(),
                )
            elif name == "post":
                record = len(rows) + 1
                rows.append(_disqus_row(element, path, record))
                dates.append(_text(_child(element, "createdAt")).strip())
            root.clear()  # what has been read is not needed again: memory holds rows only
        return rows, dates, threads

    rows, dates, threads = _parse(path, collect, report)
    for row in rows:
        # Threads may come after their posts in an export, so titles are filled in at the end.
        row["thread_title"], row["thread_link"] = threads.get(row["thread_id"], ("", ""))
    return _finish(rows, path, dates)


def _disqus_row(post: ET.Element, path: Path, record: int) -> dict:
    author = _child(post, "author")
    message = _text(_child(post, "message"))
    if _is_true(_child(post, "isSpam")):
        status = "spam"
    elif _is_true(_child(post, "isDeleted")):
        status = "deleted"
    else:
        status = ""  # the export does not say whether a visible post was approved
    name = _text(_child(author, "name")).strip()
    username = _text(_child(author, "username")).strip()
    # E-mail and IP address are left out on purpose: moderators need neither to judge a comment.
    return {
        "comment_id": _id_attribute(post) or stable_comment_id(path, record),
        "thread_id": _id_attribute(_child(post, "thread")),
        "parent_id": _id_attribute(_child(post, "parent")),
        "author": name or username,
        "text": normalize_text(message, is_html=True),
        "status": status,
        "record": record,
        "text_original": message,
        "author_username": username,
        "author_is_anonymous": _is_true(_child(author, "isAnonymous")),
    }


# --- WordPress WXR -----------------------------------------------------------------------------


def _sniff_wxr(head: bytes, path: Path) -> int:
    return 100 if re.search(rb"<rss[\s>]", head) and _WP_NAMESPACE.encode() in head else 0


def _wp_child(element: ET.Element, name: str) -> ET.Element | None:
    # Any export version (1.0-1.2) and either scheme: the theme unit test data uses https.
    for child in element:
        if _local(child.tag) == name and _WP_NAMESPACE in _namespace(child.tag):
            return child
    return None


def _wp(element: ET.Element, name: str) -> str:
    return _text(_wp_child(element, name)).strip()


@register("wxr", kind="document", sniff=_sniff_wxr, description="WordPress WXR export (comments)")
def read_wxr(path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport) -> pd.DataFrame:
    """One row per ``<wp:comment>``; pingbacks and trackbacks only with ``include_pingbacks``.

    Unapproved and spam comments are kept and marked in ``status``. The thread is the post
    (its link, else its id) and its title is the thread title.
    """

    def collect(events: Events) -> tuple[list[dict], list[str], int]:
        rows: list[dict] = []
        dates: list[str] = []
        records = 0
        left_out = 0
        open_elements: list[ET.Element] = []
        for event, element in events:
            if event == "start":
                if not open_elements and _local(element.tag) != "rss":
                    raise _not_this_format(path, element, "WordPress WXR export")
                open_elements.append(element)
                continue
            open_elements.pop()
            if element.tag != "item":
                continue
            for comment in element:
                if _local(comment.tag) != "comment" or _WP_NAMESPACE not in _namespace(comment.tag):
                    continue
                records += 1  # pingbacks count too, so record numbers do not depend on options
                row, date = _wxr_row(element, comment, path, records)
                if row["status"] in ("pingback", "trackback") and not options.include_pingbacks:
                    left_out += 1
                    continue
                rows.append(row)
                dates.append(date)
            if open_elements:
                open_elements[-1].remove(element)  # the item is done: memory holds rows only
        return rows, dates, left_out

    rows, dates, left_out = _parse(path, collect, report)
    if left_out:
        report.warn(
            f"{path}: left out {left_out:,} pingbacks and trackbacks (they are not comments; "
            "pass --include-pingbacks to keep them)"
        )
    return _finish(rows, path, dates)


def _wxr_row(item: ET.Element, comment: ET.Element, path: Path, record: int) -> tuple[dict, str]:
    comment_type = _wp(comment, "comment_type").lower()
    if comment_type in ("pingback", "trackback"):
        status = comment_type
    else:
        status = config.WXR_APPROVAL_STATUS.get(_wp(comment, "comment_approved").lower(), "unapproved")
    post_id = _wp(item, "post_id")
    link = _text(_child(item, "link")).strip()
    parent = _wp(comment, "comment_parent")
    content = _text(_wp_child(comment, "comment_content"))  # unstripped: the original as exported
    # WordPress writes 0000-00-00 00:00:00 as the GMT date of some comments; the local date
    # is then the only one there is.
    date = _wp(comment, "comment_date_gmt")
    if not date or date.startswith("0000"):
        date = _wp(comment, "comment_date")
    row = {
        "comment_id": _wp(comment, "comment_id") or stable_comment_id(path, record),
        "thread_id": link or (f"post-{post_id}" if post_id else ""),
        "parent_id": "" if parent in ("", "0") else parent,
        "author": _wp(comment, "comment_author"),
        "text": normalize_text(content, is_html=True),
        "thread_title": _text(_child(item, "title")).strip(),
        "status": status,
        "record": record,
        "text_original": content,
        "post_id": post_id,
        "post_type": _wp(item, "post_type"),
        "comment_type": comment_type or "comment",
        # A pingback's status says it is a pingback; whether it was approved stays visible here.
        "comment_approved": _wp(comment, "comment_approved"),
    }
    return row, date
