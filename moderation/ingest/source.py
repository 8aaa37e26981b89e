"""Opening an input file: transparent .gz/.zst decompression with bomb limits, and decoding.

Every reader opens its file through :func:`open_binary` or :func:`open_text`, so compression
is detected from the content (magic bytes), not the extension, and decompression is stopped
with a clear error when it grows past ``config.MAX_DECOMPRESSED_BYTES`` or an absurd ratio.
Text that is not valid UTF-8 is decoded byte by byte as Windows-1252, counted, and reported
as a warning, so a mixed-encoding dump loses no row.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import zstandard

from moderation import config
from moderation.errors import InputError, InputTooLargeError

__all__ = ["compression_of", "decoded_head", "detect_encoding", "open_binary", "open_text"]

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
FALLBACK_ERRORS = "moderation-cp1252-fallback"


class FallbackCounter:
    """Counts bytes that were not valid in the declared encoding, per opened file."""

    def __init__(self) -> None:
        self.bytes = 0


_active_counters: list[FallbackCounter] = []


def _cp1252_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start : error.end]
    for counter in _active_counters:
        counter.bytes += len(bad)
    return bad.decode("cp1252", errors="ignore") or bad.decode("latin-1"), error.end


codecs.register_error(FALLBACK_ERRORS, _cp1252_fallback)


def compression_of(path: Path) -> str:
    """'gzip', 'zstd' or '' judged by the file's first bytes."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic.startswith(_ZSTD_MAGIC):
        return "zstd"
    return ""


class _LimitedReader(io.RawIOBase):
    """Wraps a decompressing stream; raises once output passes the size or ratio limit."""

    def __init__(self, inner: BinaryIO, path: Path, compressed_size: int) -> None:
        self._inner = inner
        self._path = path
        self._limit = min(
            config.MAX_DECOMPRESSED_BYTES,
            max(compressed_size * config.MAX_COMPRESSION_RATIO, config.MIN_DECOMPRESSED_LIMIT),
        )
        self._total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError, OSError) as exc:
            raise InputError(
                f"compressed data is truncated or corrupt ({exc})",
                path=self._path,
                hint="the file was probably cut short while copying; fetch it again",
            ) from None
        self._total += len(data)
        if self._total > self._limit:
            raise InputTooLargeError(
                f"decompresses to more than {self._limit:,} bytes (possible decompression bomb)",
                path=self._path,
                hint="decompress it yourself if you trust it, or raise MODERATION_MAX_DECOMPRESSED_BYTES",
            )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _zstd_decompressor() -> zstandard.ZstdDecompressionObj:
    # Pushshift dumps are compressed with a 2 GiB window (--long=31); the default limit
    # refuses them. The window bounds memory, and output is still capped by _LimitedReader.
    return zstandard.ZstdDecompressor(max_window_size=2**31).decompressobj()


class _ZstdFrames(io.RawIOBase):
    """Decompresses concatenated zstd frames and notices a frame cut short.

    zstandard's own stream reader ends quietly on a truncated frame, which would turn a
    cut-short dump into silently fewer rows; here the end of input inside a frame is an error.
    """

    def __init__(self, raw: BinaryIO, path: Path) -> None:
        self._raw = raw
        self._path = path
        self._decompressor = _zstd_decompressor()
        self._in_frame = False
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._raw.read(256 * 1024)
            if not chunk:
                if self._in_frame:
                    raise zstandard.ZstdError("input ends inside a frame")
                return 0
            self._pending = self._feed(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _feed(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            self._in_frame = True
            out.append(self._decompressor.decompress(chunk))
            if not self._decompressor.eof:
                break
            # The frame ended; whatever follows starts the next frame.
            self._in_frame = False
            chunk = self._decompressor.unused_data
            self._decompressor = _zstd_decompressor()
        return b"".join(out)


@contextmanager
def open_binary(path: str | Path) -> Iterator[BinaryIO]:
    """Open ``path`` for reading bytes, decompressing .gz/.zst content transparently."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path, hint="check the path and try again")
    if path.is_dir():
        raise InputError("is a folder, not a file", path=path, hint="pass the files inside it")
    compression = compression_of(path)
    raw = open(path, "rb")  # noqa: SIM115 - closed by the wrapper below
    try:
        if compression == "gzip":
            inner: BinaryIO = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
        elif compression == "zstd":
            inner = io.BufferedReader(_ZstdFrames(raw, path), buffer_size=1024 * 1024)  # type: ignore[assignment]
        else:
            yield raw
            return
        limited = _LimitedReader(inner, path, os.path.getsize(path))
        stream = io.BufferedReader(limited, buffer_size=1024 * 1024)
        try:
            yield stream  # type: ignore[misc]
        finally:
            stream.close()
    finally:
        raw.close()


def decoded_head(path: str | Path, *, size: int = config.SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of the (decompressed) content, for sniffing."""
    with open_binary(path) as handle:
        return handle.read(size)


def detect_encoding(head: bytes) -> str:
    """Pick the encoding for a text file from its first bytes.

    A BOM decides (UTF-8, UTF-16, UTF-32). Otherwise UTF-8 if the head decodes as UTF-8
    (undecodable bytes further on fall back to Windows-1252 one by one); otherwise the
    best guess of charset-normalizer, and Windows-1252 when it has none.
    """
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    if len(head) >= 4:
        # UTF-16 with no BOM: mostly-ASCII text has a 0 in every other byte, which no text
        # in a one-byte encoding or UTF-8 has.
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.8 * len(odd) and even.count(0) < 0.2 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.8 * len(even) and odd.count(0) < 0.2 * len(odd):
            return "utf-16-be"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed head is still UTF-8.
        if exc.start >= len(head) - 3:
            return "utf-8"
    # Valid UTF-8 characters beside the bad bytes: a UTF-8 file with a few stray legacy bytes
    # (mixed encodings), so keep UTF-8 and let the bad bytes fall back one by one.
    if any(ord(ch) > 127 and ch != "\ufffd" for ch in head.decode("utf-8", errors="replace")):
        return "utf-8"
    non_ascii = sum(byte > 127 for byte in head)
    if non_ascii < 200:
        return "cp1252"  # too little evidence for a guess; the commonest legacy encoding
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is not None and best.encoding not in ("ascii", "utf_8"):
        return best.encoding
    return "cp1252"


@contextmanager
def open_text(
    path: str | Path, *, encoding: str | None = None
) -> Iterator[tuple[io.TextIOWrapper, FallbackCounter, str]]:
    """Open ``path`` as text; yields (handle, counter of fallback-decoded bytes, encoding)."""
    counter = FallbackCounter()
    with open_binary(path) as raw:
        if encoding is None:
            head = raw.peek(config.SNIFF_BYTES)[: config.SNIFF_BYTES] if hasattr(raw, "peek") else b""
            encoding = detect_encoding(head)
        try:
            known = codecs.lookup(encoding)
        except LookupError:
            known = None
        if known is None or not getattr(known, "_is_text_encoding", True):
            # "rot13" and "hex" are codecs, but not text encodings: TextIOWrapper refuses them.
            raise InputError(
                f"unknown encoding {encoding!r}" if known is None else f"{encoding!r} is not a text encoding",
                path=path,
                hint="pass an encoding Python knows, such as utf-8, cp1252 or latin-1",
            ) from None
        handle = io.TextIOWrapper(raw, encoding=encoding, errors=FALLBACK_ERRORS, newline="")  # type: ignore[arg-type]
        _active_counters.append(counter)
        try:
            yield handle, counter, encoding
        except UnicodeError as exc:
            raise InputError(
                f"cannot be decoded as {encoding} ({exc.__class__.__name__})",
                path=path,
                hint="re-save the file as UTF-8, or pass --encoding",
            ) from None
        finally:
            _active_counters.remove(counter)
            handle.detach()
