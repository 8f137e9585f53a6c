"""A small SOQL evaluator for the Salesforce sandbox.

It understands the SOQL the Salesforce connector sends, and refuses the rest the
way Salesforce does (``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE``)::

    SELECT f1, f2 FROM Object
      [WHERE cond [AND cond ...]]      cond: field = | != | < | <= | > | >= literal
                                             field [NOT] IN (literal, ...)
      [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
      [LIMIT n] [OFFSET n]

Literals are quoted strings (with SOQL's backslash escapes), numbers, dates,
``true``, ``false`` and ``null``. Keywords and field names are case-insensitive;
text comparisons too, as in Salesforce; Ids match on their first 15 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Condition", "Query", "SoqlError", "evaluate", "parse"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][\w.]*|[-+]?\d[\w.:+-]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?\Z")
_KEYWORDS = frozenset({"select", "from", "where", "and", "order", "by", "limit", "offset", "in"})


class SoqlError(ValueError):
    """A query Salesforce would refuse; ``code`` is Salesforce's errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``field op literal`` test of a WHERE clause."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed SELECT."""

    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...] = ()
    order_by: tuple[tuple[str, bool, bool], ...] = ()  # (field, descending, nulls_last)
    limit: int | None = None
    offset: int = 0


class _Tokens:
    """A cursor over the tokens of one query."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.items: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise SoqlError("MALFORMED_QUERY", f"unexpected character at {pos + 1}")
            kind = match.lastgroup or ""
            self.items.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0

    def peek(self) -> str:
        """The next token's text, lower-cased ('' at the end)."""
        return self.items[self.pos][1].lower() if self.pos < len(self.items) else ""

    def take(self) -> tuple[str, str]:
        """The next token; MALFORMED_QUERY at the end."""
        if self.pos >= len(self.items):
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, word: str) -> None:
        """Consume keyword ``word`` or fail."""
        kind, text = self.take()
        if text.lower() != word:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}' (expected {word})")

    def name(self) -> str:
        """A field or object name."""
        kind, text = self.take()
        if kind != "word" or text.lower() in _KEYWORDS or not text[0].isalpha():
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
        return text


def parse(soql: str) -> Query:
    """Parse one SELECT; raises :class:`SoqlError` (MALFORMED_QUERY) otherwise."""
    tokens = _Tokens(soql)
    tokens.expect("select")
    fields = [tokens.name()]
    while tokens.peek() == ",":
        tokens.take()
        fields.append(tokens.name())
    tokens.expect("from")
    sobject = tokens.name()
    where: list[Condition] = []
    if tokens.peek() == "where":
        tokens.take()
        where.append(_condition(tokens))
        while tokens.peek() == "and":
            tokens.take()
            where.append(_condition(tokens))
    order: list[tuple[str, bool, bool]] = []
    if tokens.peek() == "order":
        tokens.take()
        tokens.expect("by")
        order.append(_ordering(tokens))
        while tokens.peek() == ",":
            tokens.take()
            order.append(_ordering(tokens))
    limit = _count(tokens, "limit")
    offset = _count(tokens, "offset") or 0
    if tokens.pos < len(tokens.items):
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tokens.take()[1]}'")
    return Query(tuple(fields), sobject, tuple(where), tuple(order), limit, offset)


def _condition(tokens: _Tokens) -> Condition:
    field = tokens.name()
    op = tokens.peek()
    if op == "not":
        tokens.take()
        tokens.expect("in")
        return Condition(field, "not in", _literal_list(tokens))
    if op == "in":
        tokens.take()
        return Condition(field, "in", _literal_list(tokens))
    kind, text = tokens.take()
    if kind != "op":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")
    return Condition(field, "!=" if text == "<>" else text, _literal(tokens))


def _literal_list(tokens: _Tokens) -> tuple[Any, ...]:
    tokens.expect("(")
    values = [_literal(tokens)]
    while tokens.peek() == ",":
        tokens.take()
        values.append(_literal(tokens))
    tokens.expect(")")
    return tuple(values)


def _literal(tokens: _Tokens) -> Any:
    kind, text = tokens.take()
    if kind == "string":
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])
    lowered = text.lower()
    if kind == "word" and lowered in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[lowered]
    if kind == "word" and _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    if kind == "word" and text[0].isdigit():
        return text  # a date or datetime literal
    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}' (expected a value)")


def _ordering(tokens: _Tokens) -> tuple[str, bool, bool]:
    field = tokens.name()
    descending = False
    if tokens.peek() in ("asc", "desc"):
        descending = tokens.take()[1].lower() == "desc"
    nulls_last = descending
    if tokens.peek() == "nulls":
        tokens.take()
        nulls_last = tokens.take()[1].lower() == "last"
    return field, descending, nulls_last


def _count(tokens: _Tokens, word: str) -> int | None:
    if tokens.peek() != word:
        return None
    tokens.take()
    text = tokens.take()[1]
    if not text.isdigit():
        raise SoqlError("MALFORMED_QUERY", f"{word.upper()} needs a number, not '{text}'")
    return int(text)


# -- evaluating --------------------------------------------------------------------


def evaluate(
    query: Query, records: Iterable[Mapping[str, Any]], columns: Iterable[str]
) -> list[dict[str, Any]]:
    """The records ``query`` selects, shaped like Salesforce's (``attributes`` first).

    Args:
        query: the parsed query.
        records: the object's records (with ``attributes``).
        columns: the object's field names; others are INVALID_FIELD.
    """
    canonical = {c.lower(): c for c in columns}

    def column(name: str) -> str:
        found = canonical.get(name.lower())
        if found is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{query.sobject}'")
        return found

    selected = [column(f) for f in query.fields]
    tests = [(column(c.field), c) for c in query.where]
    order = [(column(f), desc, nulls_last) for f, desc, nulls_last in query.order_by]
    rows = [r for r in records if all(_holds(name, r.get(name), c) for name, c in tests)]
    for name, desc, nulls_last in reversed(order):
        present = sorted((r for r in rows if r.get(name) is not None), key=lambda r: _key(r[name]))
        if desc:
            present.reverse()
        missing = [r for r in rows if r.get(name) is None]
        rows = present + missing if nulls_last else missing + present
    rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
    out = []
    for row in rows:
        shaped: dict[str, Any] = {"attributes": dict(row.get("attributes") or {})}
        shaped.update({name: row.get(name) for name in selected})
        out.append(shaped)
    return out


def _key(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _same(field: str, have: Any, want: Any) -> bool:
    if isinstance(have, str) and isinstance(want, str):
        if field.endswith("Id") and len(have) in (15, 18) and len(want) in (15, 18):
            return have[:15] == want[:15]
        return have.casefold() == want.casefold()
    return bool(have == want)


def _holds(field: str, have: Any, cond: Condition) -> bool:
    if cond.op in ("in", "not in"):
        inside = any(_same(field, have, v) for v in cond.value)
        return inside if cond.op == "in" else not inside
    if cond.op == "=":
        return _same(field, have, cond.value)
    if cond.op == "!=":
        return not _same(field, have, cond.value)
    if have is None or cond.value is None:
        return False
    try:
        left, right = _key(have), _key(cond.value)
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[
                cond.op
            ]
        )
    except TypeError:
        return False
