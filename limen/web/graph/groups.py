"""`/v1.0/groups`: security groups, their members (`$ref`) and transitive members, as in Graph."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from limen.domain.errors import ValidationFailed
from limen.domain.ids import parse_guid
from limen.service import directory
from limen.store.db import transaction
from limen.store.models import Group
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import Prop, check_body, json_object, string_list
from limen.web.graph.odata import bad_request, collection, entity, list_query, parse_select
from limen.web.graph.shapes import (
    GROUP_PROPERTIES,
    GROUP_TYPE,
    USER_PROPERTIES,
    directory_object_json,
    group_json,
)

router = APIRouter(tags=["groups"])

_WRITABLE: dict[str, Prop] = {
    "displayName": Prop(str),
    "description": Prop(str, nullable=True),
    "mailNickname": Prop(str),
    "securityEnabled": Prop(bool),
    "mailEnabled": Prop(bool),
    "groupTypes": Prop(list),
}
_CREATE = {**_WRITABLE, "members@odata.bind": Prop(list)}
_MEMBER_PROPERTIES = GROUP_PROPERTIES | USER_PROPERTIES
# The end of a member reference: .../directoryObjects/{id}, .../users/{id} or .../groups/{id}.
_REFERENCE = re.compile(r"(?:^|/)(directoryObjects|users|groups)/([^/]+)$")


def _check_unsupported(body: dict[str, Any]) -> None:
    # Limen has security groups only; say so instead of creating something other than what was asked.
    if body.get("mailEnabled") is True:
        raise bad_request("mailEnabled must be false: Limen has security groups only, without mail.")
    if body.get("groupTypes"):
        raise bad_request(
            f"groupTypes {body['groupTypes']!r} is not supported: Limen has security groups only (groupTypes [])."
        )


def member_id_from_reference(request: Request, reference: object) -> tuple[str, str]:
    """(kind, id) from an `@odata.id` such as https://graph.microsoft.com/v1.0/directoryObjects/{id}.

    Accepted hosts: graph.microsoft.com (scripts written for Graph), this server, or none (relative).
    """
    if not isinstance(reference, str) or not reference.strip():
        raise bad_request("@odata.id is required: e.g. https://graph.microsoft.com/v1.0/directoryObjects/{id}.")
    parts = urlsplit(reference.strip())
    ours = {
        "graph.microsoft.com",
        request.url.hostname,
        urlsplit(get_services(request).settings.issuer).hostname,
    }
    match = _REFERENCE.search(parts.path.rstrip("/"))
    if (parts.hostname and parts.hostname.lower() not in ours) or match is None or parts.query:
        raise bad_request(
            f"Invalid @odata.id '{reference}': expected "
            "https://graph.microsoft.com/v1.0/directoryObjects/{id} (or .../users/{id}, .../groups/{id})."
        )
    member_id = parse_guid(match.group(2))
    if member_id is None:
        raise bad_request(f"Invalid @odata.id '{reference}': '{match.group(2)}' is not an object id.")
    return match.group(1), member_id


def _add_reference(request: Request, db: Session, tenant_id: str, group_id: str, reference: object) -> None:
    kind, member_id = member_id_from_reference(request, reference)
    member = directory.get_directory_object(db, tenant_id, member_id)
    actual = "groups" if isinstance(member, Group) else "users"
    if kind != "directoryObjects" and kind != actual:
        raise ValidationFailed(f"@odata.id points at {kind}/, but '{member_id}' is one of the {actual}.")
    directory.add_member(db, tenant_id, group_id, member_id)


@router.get("/groups")
def list_groups(request: Request) -> dict[str, Any]:
    """Groups by displayName; `$top`, `$skiptoken`, `$filter`, `$select`."""
    query = list_query(request, properties=GROUP_PROPERTIES, type_name=GROUP_TYPE)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        page = directory.list_groups(db, tenant_id, top=query.top, skiptoken=query.skiptoken, filters=query.filters)
        items = [group_json(group) for group in page.items]
    return collection(request, "groups", items, next_skiptoken=page.next_skiptoken, select=query.select)


@router.post("/groups", status_code=201)
def create_group(request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """Create a security group, optionally with members (`members@odata.bind`)."""
    check_body(body, _CREATE, GROUP_TYPE)
    _check_unsupported(body)
    if "groupTypes" in body:
        string_list(body["groupTypes"], "groupTypes")
    references = body.get("members@odata.bind", [])
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        group = directory.create_group(
            db,
            tenant_id,
            services.clock.now(),
            display_name=body.get("displayName"),
            description=body.get("description"),
            mail_nickname=body.get("mailNickname"),
            security_enabled=body.get("securityEnabled", True),
        )
        for reference in references:
            _add_reference(request, db, tenant_id, group.id, reference)
        shape = group_json(group)
    return entity(request, "groups", shape)


@router.get("/groups/{group_id}")
def get_group(group_id: str, request: Request) -> dict[str, Any]:
    select = parse_select(request, GROUP_PROPERTIES, GROUP_TYPE)
    services = get_services(request)
    with services.db() as db:
        shape = group_json(directory.get_group(db, tenant_id_for(request), group_id))
    return entity(request, "groups", shape, select=select)


@router.patch("/groups/{group_id}", status_code=204)
def update_group(group_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    check_body(body, _WRITABLE, GROUP_TYPE)
    _check_unsupported(body)
    values = {k: v for k, v in body.items() if k not in {"@odata.type", "mailEnabled", "groupTypes"}}
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        directory.update_group(db, tenant_id, group_id, values)
    return Response(status_code=204)


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(group_id: str, request: Request) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        directory.delete_group(db, tenant_id, group_id)
    return Response(status_code=204)


def _members(group_id: str, request: Request, *, transitive: bool) -> dict[str, Any]:
    query = list_query(
        request, properties=_MEMBER_PROPERTIES, type_name="microsoft.graph.directoryObject", filterable=False
    )
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    lister = directory.list_transitive_members if transitive else directory.list_members
    with services.db() as db:
        page = lister(db, tenant_id, group_id, top=query.top, skiptoken=query.skiptoken)
        items = [directory_object_json(member) for member in page.items]
    return collection(request, "directoryObjects", items, next_skiptoken=page.next_skiptoken, select=query.select)


@router.get("/groups/{group_id}/members")
def list_members(group_id: str, request: Request) -> dict[str, Any]:
    """Direct members, users and groups, each with its @odata.type."""
    return _members(group_id, request, transitive=False)


@router.get("/groups/{group_id}/transitiveMembers")
def list_transitive_members(group_id: str, request: Request) -> dict[str, Any]:
    """Everything inside the group at any depth, each once."""
    return _members(group_id, request, transitive=True)


@router.post("/groups/{group_id}/members/$ref", status_code=204)
def add_member(group_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Add a member by reference: `{"@odata.id": ".../directoryObjects/{id}"}`."""
    check_body(body, {"@odata.id": Prop(str)}, "microsoft.graph.directoryObject")
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        _add_reference(request, db, tenant_id, group_id, body.get("@odata.id"))
    return Response(status_code=204)


@router.delete("/groups/{group_id}/members/{member_id}/$ref", status_code=204)
def remove_member(group_id: str, member_id: str, request: Request) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        directory.remove_member(db, tenant_id, group_id, member_id)
    return Response(status_code=204)
