"""`/v1.0/users/{id}/authentication/temporaryAccessPassMethods`: Graph's Temporary Access Pass API.

Create (the pass is in that response only), list, get and delete. A user has at most one pass; as in
Entra, creating one replaces the previous pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from limen.domain.errors import NotFound
from limen.service import directory
from limen.service.methods import tap as tap_service
from limen.store.db import transaction
from limen.store.models import AuthMethod
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import Prop, check_body, json_object
from limen.web.graph.odata import bad_request, collection, entity

router = APIRouter(tags=["authentication methods"])

TAP_TYPE = "microsoft.graph.temporaryAccessPassAuthenticationMethod"
_PATH = "/users/{key}/authentication/temporaryAccessPassMethods"
_WRITABLE: dict[str, Prop] = {
    "startDateTime": Prop(str, nullable=True),
    "lifetimeInMinutes": Prop(int, nullable=True),
    "isUsableOnce": Prop(bool, nullable=True),
}


def _entity_set(key: str) -> str:
    return f"users('{key}')/authentication/temporaryAccessPassMethods"


def _start(body: dict[str, Any]) -> datetime | None:
    raw = body.get("startDateTime")
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"Invalid value for property 'startDateTime': {raw!r} is not an ISO 8601 time.") from None


@router.post(_PATH, status_code=201)
def create_pass(key: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """Issue the user's pass; the response carries `temporaryAccessPass`, which is never shown again."""
    check_body(body, _WRITABLE, TAP_TYPE)
    start = _start(body)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        user = directory.get_user_by_key(db, tenant_id, key)
        method, value = tap_service.issue(
            db,
            services,
            tenant_id,
            user.id,
            lifetime_minutes=body.get("lifetimeInMinutes"),
            one_time=bool(body.get("isUsableOnce") or False),
            start=start,
        )
        shape = tap_service.graph_shape(method, services.clock.now(), value)
    return entity(request, _entity_set(key), shape)


@router.get(_PATH)
def list_passes(key: str, request: Request) -> dict[str, Any]:
    """The user's pass as a collection of zero or one."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        user = directory.get_user_by_key(db, tenant_id, key)
        method = tap_service.current(db, tenant_id, user.id)
        items = [tap_service.graph_shape(method, services.clock.now())] if method is not None else []
    return collection(request, _entity_set(key), items)


def _found(db: Session, tenant_id: str, key: str, method_id: str) -> AuthMethod:
    user = directory.get_user_by_key(db, tenant_id, key)
    method = tap_service.current(db, tenant_id, user.id)
    if method is None or method.id != method_id:
        raise NotFound(f"Temporary Access Pass '{method_id}' does not exist for this user.")
    return method


@router.get(_PATH + "/{method_id}")
def get_pass(key: str, method_id: str, request: Request) -> dict[str, Any]:
    """One pass, without its value."""
    services = get_services(request)
    with services.db() as db:
        method = _found(db, tenant_id_for(request), key, method_id)
        shape = tap_service.graph_shape(method, services.clock.now())
    return entity(request, _entity_set(key), shape)


@router.delete(_PATH + "/{method_id}", status_code=204)
def delete_pass(key: str, method_id: str, request: Request) -> Response:
    """Delete the pass: it stops working at once."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        method = _found(db, tenant_id, key, method_id)
        tap_service.revoke(db, tenant_id, method.user_id, method.id)
    return Response(status_code=204)
