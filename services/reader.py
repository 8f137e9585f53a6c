"""Streaming reader for event files: one object, a JSON array, or JSONL.

Reads item by item so memory stays flat in the file size. Each item says where
it came from (``file:line`` or ``file item N``) and carries its raw text so
nothing received is lost, even when it cannot be decoded. gzip input is
recognised by its magic bytes.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import ijson
import orjson

from services.errors import InputError

__all__ = ["Item", "read_items", "open_input", "UNDECODED"]

UNDECODED: Any = object()
_SINGLE_DOC_CAP = 64 * 1024 * 1024


@dataclass(slots=True)
class Item:
    """One received item: where it was, its raw text, its decoded value or an error."""

    where: str
    raw: str
    value: Any
    error: str | None = None


def _decode_line(line: bytes, where: str) -> Item:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw = line.decode("utf-8", "backslashreplace")
        bad = line[exc.start : exc.start + 1].hex()
        reason = f"not valid UTF-8 (byte 0x{bad} at column {exc.start + 1})"
        return Item(where, raw, UNDECODED, reason)
    try:
        return Item(where, text, orjson.loads(text))
    except orjson.JSONDecodeError as exc:
        return Item(where, text, UNDECODED, f"not valid JSON ({exc.msg} at column {exc.colno})")


def _lines(stream: Iterable[bytes], name: str, start: int) -> Iterator[Item]:
    """Items of the lines after line ``start``; blank lines are skipped."""
    lineno = start
    for line in stream:
        lineno += 1
        if line.strip():
            yield _decode_line(line.rstrip(b"\r\n"), f"{name}:{lineno}")


def _array(stream: IO[bytes], name: str, head: bytes) -> Iterator[Item]:
    chained = _rewound(head, stream)
    count = 0
    try:
        for value in ijson.items(chained, "item", use_float=True):
            count += 1
            yield Item(f"{name} item {count}", orjson.dumps(value).decode(), value)
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:200]
        yield Item(
            f"{name} item {count + 1}",
            "",
            UNDECODED,
            f"the JSON array is broken after item {count}: {detail}; the items before it were read",
        )


class _Prefixed(io.RawIOBase):
    """A raw stream that yields ``head`` and then the rest of ``tail``."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self._head = head
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _rewound(head: bytes, tail: IO[bytes]) -> io.BufferedReader:
    """Bytes already read, then the rest of ``tail``: readable and iterable by line."""
    return io.BufferedReader(_Prefixed(head, tail))


def read_items(stream: IO[bytes], name: str) -> Iterator[Item]:
    """Yield every item of ``stream`` in order.

    Args:
        stream: a binary stream (file, stdin, upload).
        name: how places are named in reasons, e.g. the file name.

    Raises:
        InputError: the stream is empty or binary (nothing could be an event).

    Example:
        >>> [i.where for i in read_items(io.BytesIO(b'{"a":1}\\n{"b":2}\\n'), "x.jsonl")]
        ['x.jsonl:1', 'x.jsonl:2']
    """
    head = stream.read(8192)
    if head[:2] == b"\x1f\x8b":
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=_rewound(head, stream)))
        head = stream.read(8192)
    if b"\x00" in head:
        raise InputError(f"{name}: a binary file, not JSON or JSONL events")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    stripped = head.lstrip()
    lead = len(head) - len(stripped)
    while not stripped:
        more = stream.read(8192)
        if not more:
            raise InputError(f"{name}: empty file, no events in it")
        head = more
        stripped = head.lstrip()
        lead = len(head) - len(stripped)
    skipped_lines = head[:lead].count(b"\n")
    if stripped.startswith(b"["):
        yield from _array(stream, name, stripped)
        return
    # Line mode. The first line tells JSONL from one pretty-printed object.
    buf = io.BytesIO(stripped)
    first = buf.readline()
    while not first.endswith(b"\n"):
        more = stream.read(65536)
        if not more:
            break
        buf = io.BytesIO(first + more)
        first = buf.readline()
    rest_head = buf.read()
    lineno = skipped_lines + 1
    first_item = _decode_line(first.rstrip(b"\r\n"), f"{name}:{lineno}")
    if first_item.error is None or not first.lstrip().startswith(b"{"):
        yield first_item
        yield from _lines(_rewound(rest_head, stream), name, lineno)
        return
    # A pretty-printed single object (or a broken first line): try the whole document.
    body = first + rest_head + stream.read(_SINGLE_DOC_CAP)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = UNDECODED
    if value is not UNDECODED:
        yield Item(f"{name}:{lineno}", body.decode("utf-8"), value)
        return
    yield from _lines(_rewound(body, stream), name, lineno - 1)


def open_input(path: str) -> IO[bytes]:
    """Open a path (``-`` is stdin) for reading, with a clear error when it cannot be.

    Raises:
        InputError: missing, a directory, or unreadable.
    """
    import sys

    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir():
        raise InputError(f"{path}: is a directory; give the event files inside it")
    try:
        return p.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from None
