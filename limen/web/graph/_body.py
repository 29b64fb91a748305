"""Request bodies of the Graph API: read JSON, refuse unknown properties and wrong JSON types.

Graph refuses a property its type does not define; so do we, since a misspelt property that is
silently ignored leaves a setting (a disabled account, say) different from what the admin asked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from limen.web.graph.odata import bad_request

_EDM = {str: "Edm.String", bool: "Edm.Boolean", dict: "an object", list: "an array"}


@dataclass(frozen=True, slots=True)
class Prop:
    """Expected JSON type of a property; `nullable` allows null (which clears it on PATCH)."""

    kind: type
    nullable: bool = False


async def json_object(request: Request) -> dict[str, Any]:
    """FastAPI dependency: the body as a JSON object, or Graph's 400 for anything else."""
    raw = await request.body()
    try:
        value = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        value = ...
    if value is ...:
        raise bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
            "valid JSON format."
        )
    if not isinstance(value, dict):
        raise bad_request("The request body must be a JSON object.")
    return value


def check_body(
    body: Mapping[str, Any],
    spec: Mapping[str, Prop],
    type_name: str,
    *,
    prefix: str = "",
    unsupported: Mapping[str, str] | None = None,
) -> None:
    """Raise a 400 for a property `spec` lacks or a value of the wrong JSON type.

    `unsupported` names Graph properties Limen knows but does not offer, with the reason to give.
    `@odata.type` is allowed when it names `type_name`, as Graph SDKs send it.
    """
    for key, value in body.items():
        if key == "@odata.type":
            if value != f"#{type_name}":
                raise bad_request(f"@odata.type must be '#{type_name}', not {value!r}.")
            continue
        prop = spec.get(key)
        if prop is None and unsupported and key in unsupported:
            raise bad_request(f"Property '{prefix}{key}' is not supported by Limen: {unsupported[key]}")
        if prop is None:
            raise bad_request(f"Property '{prefix}{key}' does not exist on type '{type_name}'.")
        if value is None:
            if not prop.nullable:
                raise bad_request(f"Property '{prefix}{key}' cannot be null.")
            continue
        # bool is an int in Python; JSON true must not pass for a number, nor 1 for a boolean.
        if not isinstance(value, prop.kind) or (prop.kind is not bool and isinstance(value, bool)):
            expected = _EDM.get(prop.kind, prop.kind.__name__)
            raise bad_request(
                f"Invalid value for property '{prefix}{key}': expected {expected}, got {_json_kind(value)}."
            )


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def string_list(value: object, field: str) -> list[str]:
    """An array of strings, or a 400 naming the field."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"Invalid value for property '{field}': expected an array of strings.")
    return list(value)
