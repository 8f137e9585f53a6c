"""The streaming reader: formats and where each item came from."""

from __future__ import annotations

import io
import json

import pytest

from services.errors import InputError
from services.reader import read_items


def items(data: bytes) -> list[tuple[str, object]]:
    return [
        (i.where, i.value if i.error is None else i.error)
        for i in read_items(io.BytesIO(data), "f")
    ]


def test_pretty_printed_single_object() -> None:
    assert items(json.dumps({"a": {"b": 1}}, indent=2).encode()) == [("f:1", {"a": {"b": 1}})]


def test_jsonl_with_crlf_bom_and_blank_lines() -> None:
    data = b'\xef\xbb\xbf{"a":1}\r\n\r\n{"b":2}\r\n'
    assert items(data) == [("f:1", {"a": 1}), ("f:3", {"b": 2})]


def test_leading_blank_lines_keep_line_numbers() -> None:
    assert items(b'\n\n{"a":1}\n') == [("f:3", {"a": 1})]


def test_array_items_are_numbered() -> None:
    assert items(b'[{"a":1},\n {"b":2}]') == [("f item 1", {"a": 1}), ("f item 2", {"b": 2})]


def test_broken_first_line_of_jsonl_does_not_hide_the_rest() -> None:
    got = items(b'{"a": \n{"b":2}\n')
    assert got[0][0] == "f:1" and str(got[0][1]).startswith("not valid JSON")
    assert got[1] == ("f:2", {"b": 2})


def test_long_lines_are_read_whole() -> None:
    big = {"x": "y" * 200_000}
    assert items(json.dumps(big).encode() + b"\n") == [("f:1", big)]


@pytest.mark.parametrize("data", [b"", b"\n \n", b"\x00\x01binary"])
def test_empty_and_binary_streams_are_input_errors(data: bytes) -> None:
    with pytest.raises(InputError):
        list(read_items(io.BytesIO(data), "f"))
