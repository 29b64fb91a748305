"""The OData query options Limen supports on Graph collections, and Graph's collection envelope.

Supported: `$top` (1..999), `$skiptoken` (from `@odata.nextLink`), `$select`, and a `$filter` subset:
`property eq 'value'` (also true/false/null), `startswith(property,'value')`, joined with `and`.
Anything else is refused with a 400 naming what is unsupported, never silently ignored: a filter
that is dropped would return too much, which an admin script could act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from limen.service.paging import Clause
from limen.web.graph.errors import GraphError

_UNSUPPORTED_OPTIONS = ("$orderby", "$expand", "$search", "$count", "$skip", "$format", "$apply")
_SUPPORTED_FILTER = "Limen supports `property eq 'value'` and `startswith(property,'value')` joined by `and`."

_SPACE = re.compile(r"\s+")
_STARTSWITH = re.compile(r"startswith\s*\(\s*([A-Za-z][A-Za-z0-9]*)\s*,\s*'((?:[^']|'')*)'\s*\)", re.IGNORECASE)
_COMPARISON = re.compile(r"([A-Za-z][A-Za-z0-9/]*)\s+([A-Za-z]+)\s+('(?:[^']|'')*'|[^\s)]+)")
_FUNCTION = re.compile(r"([A-Za-z]+)\s*\(")
_AND = re.compile(r"and\b", re.IGNORECASE)
_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}


def bad_request(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


@dataclass(frozen=True, slots=True)
class ListQuery:
    top: int | None
    skiptoken: str | None
    filters: list[Clause]
    select: list[str] | None


def list_query(request: Request, *, properties: Iterable[str], type_name: str, filterable: bool = True) -> ListQuery:
    """Parse a collection request's query options; raise a 400 GraphError for anything unsupported.

    `properties` are the names `$select` may use, those of `type_name`.
    """
    params = request.query_params
    for option in _UNSUPPORTED_OPTIONS:
        if option in params:
            raise bad_request(f"The query option '{option}' is not supported by Limen on this collection.")
    top: int | None = None
    if (raw_top := params.get("$top")) is not None:
        if not raw_top.strip().isdigit():
            raise bad_request(f"Invalid value '{raw_top}' for $top: expected an integer from 1 to 999.")
        top = int(raw_top)
    filters: list[Clause] = []
    if (raw_filter := params.get("$filter")) is not None:
        if not filterable:
            raise bad_request("The query option '$filter' is not supported on this collection.")
        filters = parse_filter(raw_filter)
    select = parse_select(request, properties, type_name)
    return ListQuery(top=top, skiptoken=params.get("$skiptoken"), filters=filters, select=select)


def parse_select(request: Request, properties: Iterable[str], type_name: str) -> list[str] | None:
    """The `$select` list, each name checked against the properties of `type_name`."""
    for option in _UNSUPPORTED_OPTIONS:
        if option in request.query_params:
            raise bad_request(f"The query option '{option}' is not supported by Limen here.")
    raw = request.query_params.get("$select")
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise bad_request("$select needs at least one property name.")
    known = set(properties)
    for name in names:
        if name not in known:
            raise bad_request(f"Could not find a property named '{name}' on type '{type_name}'.")
    return names


def parse_filter(text: str) -> list[Clause]:
    """Parse the supported `$filter` subset into clauses (see the module docstring)."""
    clauses: list[Clause] = []
    position = 0
    expect_clause = True
    while True:
        if match := _SPACE.match(text, position):
            position = match.end()
        if position >= len(text):
            break
        if not expect_clause:
            if not (match := _AND.match(text, position)):
                word = text[position:].split(None, 1)[0]
                raise bad_request(f"Unsupported $filter: '{word}' at offset {position}. {_SUPPORTED_FILTER}")
            position, expect_clause = match.end(), True
            continue
        if match := _STARTSWITH.match(text, position):
            clauses.append(Clause(match.group(1), "startswith", match.group(2).replace("''", "'")))
        elif match := _FUNCTION.match(text, position):
            raise bad_request(f"Unsupported $filter function '{match.group(1)}'. {_SUPPORTED_FILTER}")
        elif match := _COMPARISON.match(text, position):
            clauses.append(_comparison(match))
        else:
            raise bad_request(f"Invalid $filter near '{text[position : position + 30]}'. {_SUPPORTED_FILTER}")
        position, expect_clause = match.end(), False
    if not clauses or expect_clause:
        raise bad_request(f"Invalid $filter '{text}': it is empty or ends with 'and'. {_SUPPORTED_FILTER}")
    return clauses


def _comparison(match: re.Match[str]) -> Clause:
    name, operator, raw = match.group(1), match.group(2), match.group(3)
    if "/" in name:
        raise bad_request(f"Unsupported $filter on '{name}': nested properties cannot be filtered.")
    if operator.lower() != "eq":
        raise bad_request(f"Unsupported $filter operator '{operator}'. {_SUPPORTED_FILTER}")
    if raw.startswith("'"):
        return Clause(name, "eq", raw[1:-1].replace("''", "'"))
    if raw.lower() in _LITERALS:
        return Clause(name, "eq", _LITERALS[raw.lower()])
    raise bad_request(f"Invalid $filter value {raw!r} for '{name}': quote strings, e.g. {name} eq 'text'.")


def context_url(request: Request, fragment: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/v1.0/$metadata#{fragment}"


def _selected(item: Mapping[str, Any], select: list[str] | None) -> dict[str, Any]:
    if select is None:
        return dict(item)
    # Annotations such as @odata.type stay: clients need them to tell users from groups.
    return {k: v for k, v in item.items() if k in select or k.startswith("@")}


def collection(
    request: Request,
    entity_set: str,
    items: Iterable[Mapping[str, Any]],
    *,
    next_skiptoken: str | None = None,
    select: list[str] | None = None,
) -> dict[str, Any]:
    """Graph's collection envelope: @odata.context, value, and @odata.nextLink when more remain."""
    fragment = f"{entity_set}({','.join(select)})" if select else entity_set
    body: dict[str, Any] = {
        "@odata.context": context_url(request, fragment),
        "value": [_selected(item, select) for item in items],
    }
    if next_skiptoken is not None:
        body["@odata.nextLink"] = str(request.url.include_query_params(**{"$skiptoken": next_skiptoken}))
    return body


def entity(
    request: Request, entity_set: str, item: Mapping[str, Any], *, select: list[str] | None = None
) -> dict[str, Any]:
    """One object with its @odata.context (`...#users/$entity`)."""
    fragment = f"{entity_set}({','.join(select)})/$entity" if select else f"{entity_set}/$entity"
    return {"@odata.context": context_url(request, fragment), **_selected(item, select)}
