"""`/v1.0/users`: Graph's user resource (list, create, read, update, delete, memberOf, revokeSignInSessions).

Handlers are plain `def`s: FastAPI runs them in its thread pool, so argon2 hashing of a new password
never blocks the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from limen.service import directory
from limen.service.directory_users import password_from_profile
from limen.store.db import transaction
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import Prop, check_body, json_object
from limen.web.graph.odata import collection, context_url, entity, list_query, parse_select
from limen.web.graph.shapes import (
    GROUP_PROPERTIES,
    GROUP_TYPE,
    USER_PROPERTIES,
    USER_TYPE,
    directory_object_json,
    user_json,
)

router = APIRouter(tags=["users"])

_WRITABLE: dict[str, Prop] = {
    "userPrincipalName": Prop(str),
    "displayName": Prop(str),
    "givenName": Prop(str, nullable=True),
    "surname": Prop(str, nullable=True),
    "mail": Prop(str, nullable=True),
    "mobilePhone": Prop(str, nullable=True),
    "accountEnabled": Prop(bool),
    "userType": Prop(str),
    "passwordProfile": Prop(dict),
    # Graph requires mailNickname when creating a user; Limen has no mailboxes, so it is accepted and
    # not stored, and scripts written for Graph run unchanged.
    "mailNickname": Prop(str, nullable=True),
}


@router.get("/users")
def list_users(request: Request) -> dict[str, Any]:
    """Users by userPrincipalName; `$top`, `$skiptoken`, `$filter`, `$select`."""
    query = list_query(request, properties=USER_PROPERTIES, type_name=USER_TYPE)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        page = directory.list_users(db, tenant_id, top=query.top, skiptoken=query.skiptoken, filters=query.filters)
        items = [user_json(user) for user in page.items]
    return collection(request, "users", items, next_skiptoken=page.next_skiptoken, select=query.select)


@router.post("/users", status_code=201)
def create_user(request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """Create a user; `passwordProfile.password` is hashed and never echoed."""
    check_body(body, _WRITABLE, USER_TYPE)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    password = password_from_profile(body["passwordProfile"]) if "passwordProfile" in body else None
    with transaction(services.db) as db:
        user = directory.create_user(
            db,
            tenant_id,
            services.clock.now(),
            user_principal_name=body.get("userPrincipalName"),
            display_name=body.get("displayName"),
            hasher=services.hasher,
            password=password,
            mail=body.get("mail"),
            mobile_phone=body.get("mobilePhone"),
            given_name=body.get("givenName"),
            surname=body.get("surname"),
            account_enabled=body.get("accountEnabled", True),
            user_type=body.get("userType", "Member"),
        )
        shape = user_json(user)
    return entity(request, "users", shape)


@router.get("/users/{key}")
def get_user(key: str, request: Request) -> dict[str, Any]:
    """One user by object id or userPrincipalName."""
    select = parse_select(request, USER_PROPERTIES, USER_TYPE)
    services = get_services(request)
    with services.db() as db:
        shape = user_json(directory.get_user_by_key(db, tenant_id_for(request), key))
    return entity(request, "users", shape, select=select)


@router.patch("/users/{key}", status_code=204)
def update_user(key: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Change the given properties only; `passwordProfile.password` sets a new password."""
    check_body(body, _WRITABLE, USER_TYPE)
    values = {k: v for k, v in body.items() if k not in {"@odata.type", "passwordProfile", "mailNickname"}}
    if "passwordProfile" in body and (password := password_from_profile(body["passwordProfile"])) is not None:
        values["password"] = password
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        directory.update_user(
            db, tenant_id, key, directory.UserChanges(values), services.clock.now(), hasher=services.hasher
        )
    return Response(status_code=204)


@router.post("/users/{key}/revokeSignInSessions")
def revoke_sign_in_sessions(key: str, request: Request) -> dict[str, Any]:
    """End the user's sessions and refresh tokens (Graph's action; it takes no body). The user signs in
    again everywhere; access tokens already issued run until they expire."""
    services = get_services(request)
    with transaction(services.db) as db:
        directory.revoke_sign_in_sessions(db, tenant_id_for(request), key, services.clock.now())
    return {"@odata.context": context_url(request, "Edm.Boolean"), "value": True}


@router.delete("/users/{key}", status_code=204)
def delete_user(key: str, request: Request) -> Response:
    """Delete a user with its memberships, role assignments and sessions."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        directory.delete_user(db, tenant_id, key)
    return Response(status_code=204)


def _member_of(key: str, request: Request, *, transitive: bool) -> dict[str, Any]:
    query = list_query(request, properties=GROUP_PROPERTIES, type_name=GROUP_TYPE, filterable=False)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        user = directory.get_user_by_key(db, tenant_id, key)
        page = directory.list_member_of(
            db, tenant_id, user.id, transitive=transitive, top=query.top, skiptoken=query.skiptoken
        )
        items = [directory_object_json(group) for group in page.items]
    return collection(request, "directoryObjects", items, next_skiptoken=page.next_skiptoken, select=query.select)


@router.get("/users/{key}/memberOf")
def member_of(key: str, request: Request) -> dict[str, Any]:
    """Groups the user is a direct member of."""
    return _member_of(key, request, transitive=False)


@router.get("/users/{key}/transitiveMemberOf")
def transitive_member_of(key: str, request: Request) -> dict[str, Any]:
    """Groups the user belongs to through any depth of nesting."""
    return _member_of(key, request, transitive=True)
