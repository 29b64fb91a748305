"""`/v1.0/policies/identitySecurityDefaultsEnforcementPolicy`: read and switch security defaults."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from limen.service import security_defaults
from limen.store.db import transaction
from limen.store.models import Tenant
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import Prop, check_body, json_object

router = APIRouter(prefix="/policies", tags=["policies"])
TYPE = "microsoft.graph.identitySecurityDefaultsEnforcementPolicy"
_WRITABLE = {"isEnabled": Prop(bool)}
_READ_ONLY = {
    "id": "it is fixed.",
    "displayName": "it is read-only.",
    "description": "it is read-only.",
}


@router.get("/identitySecurityDefaultsEnforcementPolicy")
def get_policy(request: Request) -> dict[str, Any]:
    services = get_services(request)
    with services.db() as db:
        tenant = db.get(Tenant, tenant_id_for(request))
        assert tenant is not None
        return security_defaults.graph_shape(tenant)


@router.patch("/identitySecurityDefaultsEnforcementPolicy", status_code=204)
def update_policy(request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    check_body(body, _WRITABLE, TYPE, unsupported=_READ_ONLY)
    services = get_services(request)
    if "isEnabled" in body:
        with transaction(services.db) as db:
            security_defaults.set_enabled(db, tenant_id_for(request), bool(body["isEnabled"]))
    return Response(status_code=204)
