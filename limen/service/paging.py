"""Keyset paging and simple filters for directory listings, shared by users, groups, roles and apps.

Pages are cut on a unique sort key, never by OFFSET, so a page costs the same at row 100 as at row
100,000 and rows added meanwhile neither repeat nor vanish. The key of the last row travels to the
client inside an opaque `$skiptoken` (Graph's paging contract).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session

from limen.domain.errors import ValidationFailed

DEFAULT_TOP = 100
MAX_TOP = 999

T = TypeVar("T")
#: Any SELECT, whatever it returns, and any column or mapped attribute.
AnySelect: TypeAlias = sa.Select[*tuple[Any, ...]]
Column: TypeAlias = sa.ColumnElement[Any] | QueryableAttribute[Any]


@dataclass(frozen=True, slots=True)
class Clause:
    """One `$filter` condition: `property eq value` or `startswith(property, value)`."""

    property: str
    operator: Literal["eq", "startswith"]
    value: str | bool | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    #: Pass back to get the next page; None on the last page.
    next_skiptoken: str | None


@dataclass(frozen=True, slots=True)
class Filterable:
    """How a Graph property maps onto a column for `$filter`."""

    column: Column
    #: ci_text compares case-insensitively; key is a column stored in lower case (so its index serves).
    kind: Literal["text", "ci_text", "key", "bool", "guid"] = "ci_text"


def check_top(top: int | None) -> int:
    """`$top` defaults to 100 and may be 1..999, as on Graph's directory collections."""
    if top is None:
        return DEFAULT_TOP
    if not 1 <= top <= MAX_TOP:
        raise ValidationFailed(f"Invalid value '{top}' for $top: expected an integer from 1 to {MAX_TOP}.")
    return top


def encode_skiptoken(key: Sequence[str]) -> str:
    raw = json.dumps(["v1", *key], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_skiptoken(token: str, width: int) -> list[str]:
    """The sort key inside a token; a token that was not issued here is a clear 400, not a 500."""
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        value = None
    if (
        not isinstance(value, list)
        or len(value) != width + 1
        or value[0] != "v1"
        or not all(isinstance(v, str) for v in value[1:])
    ):
        raise ValidationFailed("The $skiptoken is invalid: use the @odata.nextLink of the previous page unchanged.")
    return [str(v) for v in value[1:]]


def apply_filters(
    stmt: AnySelect, clauses: Sequence[Clause], columns: Mapping[str, Filterable], type_name: str
) -> AnySelect:
    """Add `clauses` to `stmt`; a property outside `columns` is refused naming what is supported."""
    by_lower = {name.lower(): (name, spec) for name, spec in columns.items()}
    for clause in clauses:
        found = by_lower.get(clause.property.lower())
        if found is None:
            supported = ", ".join(columns) or "nothing"
            raise ValidationFailed(
                f"Unsupported $filter property '{clause.property}' on {type_name}: "
                f"filtering is supported on {supported}."
            )
        name, spec = found
        stmt = stmt.where(_condition(name, spec, clause))
    return stmt


def _condition(name: str, spec: Filterable, clause: Clause) -> sa.ColumnElement[bool]:
    value = clause.value
    if spec.kind == "bool":
        if clause.operator != "eq" or not isinstance(value, bool):
            raise ValidationFailed(f"$filter on '{name}' supports only `{name} eq true` or `false`.")
        return spec.column.is_(value)
    if value is None:
        if clause.operator != "eq":
            raise ValidationFailed(f"startswith({name}, ...) needs a string value.")
        return spec.column.is_(None)
    if not isinstance(value, str):
        raise ValidationFailed(f"$filter on '{name}' needs a quoted string value, e.g. {name} eq 'text'.")
    if spec.kind == "guid":
        if clause.operator != "eq":
            raise ValidationFailed(f"$filter on '{name}' supports only `{name} eq '<id>'`.")
        return spec.column == value.strip().lower()
    if spec.kind == "key":
        value = value.strip().lower()
    if clause.operator == "startswith":
        pattern = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if spec.kind == "ci_text":
            return sa.func.lower(spec.column).like(pattern.lower(), escape="\\")
        return spec.column.like(pattern, escape="\\")
    # Graph compares directory strings case-insensitively; so do we.
    if spec.kind == "ci_text":
        return sa.func.lower(spec.column) == value.lower()
    return spec.column == value


def keyset_page(
    db: Session,
    stmt: AnySelect,
    keys: Sequence[Column],
    *,
    top: int | None,
    skiptoken: str | None,
) -> Page[Any]:
    """Run `stmt` ordered by `keys` (unique together), one page at a time.

    Items are the selected entity (or column) when `stmt` selects one, else tuples of the selected
    columns. The key values of the last row become the next token.
    """
    limit = check_top(top)
    width = len(stmt.column_descriptions)
    if skiptoken:
        after = decode_skiptoken(skiptoken, len(keys))
        # A row-value comparison (a, b) > (x, y) works on SQLite 3.15+ and PostgreSQL alike.
        stmt = stmt.where(keys[0] > after[0] if len(keys) == 1 else sa.tuple_(*keys) > sa.tuple_(*after))
    stmt = stmt.add_columns(*keys).order_by(*keys).limit(limit + 1)
    rows = db.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [row[0] if width == 1 else tuple(row[:width]) for row in rows]
    token = encode_skiptoken([str(v) for v in rows[-1][width:]]) if more and rows else None
    return Page(items=items, next_skiptoken=token)
