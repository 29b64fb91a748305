"""`/v1.0/devices`: Limen's device registry in Graph's `device` JSON, the registered owners (`$ref`), and
Limen's action `POST /devices/{id}/enrolmentLink`, which makes the one-time link that enrols a browser
as the device (docs/devices.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from limen.service import devices
from limen.store.db import transaction
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import Prop, check_body, json_object, string_list
from limen.web.graph.groups import member_id_from_reference
from limen.web.graph.odata import bad_request, collection, context_url, entity, list_query, parse_select
from limen.web.graph.shapes import USER_PROPERTIES, directory_object_json

router = APIRouter(tags=["devices"])

DEVICE_PROPERTIES = frozenset(
    [
        "id",
        "deviceId",
        "displayName",
        "operatingSystem",
        "operatingSystemVersion",
        "trustType",
        "isCompliant",
        "isManaged",
        "accountEnabled",
        "deviceOwnership",
        "enrollmentProfileName",
        "manufacturer",
        "model",
        "mdmAppId",
        "profileType",
        "physicalIds",
        "systemLabels",
        "extensionAttributes",
        "approximateLastSignInDateTime",
        "registrationDateTime",
    ]
)

_WRITABLE: dict[str, Prop] = {
    "displayName": Prop(str),
    "operatingSystem": Prop(str, nullable=True),
    "operatingSystemVersion": Prop(str, nullable=True),
    "trustType": Prop(str),
    "isCompliant": Prop(bool),
    "isManaged": Prop(bool),
    "accountEnabled": Prop(bool),
    "deviceOwnership": Prop(str, nullable=True),
    "enrollmentProfileName": Prop(str, nullable=True),
    "manufacturer": Prop(str, nullable=True),
    "model": Prop(str, nullable=True),
    "mdmAppId": Prop(str, nullable=True),
    "profileType": Prop(str),
    "physicalIds": Prop(list, nullable=True),
    "systemLabels": Prop(list, nullable=True),
    "extensionAttributes": Prop(dict),
}
_CREATE: dict[str, Prop] = {
    **_WRITABLE,
    "deviceId": Prop(str),
    "registeredOwners@odata.bind": Prop(list),
    # Graph requires these key credentials when a device registers itself; a device in Limen proves
    # itself by its enrolled browser instead, so they are accepted (scripts written for Graph run
    # unchanged) and not stored.
    "alternativeSecurityIds": Prop(list, nullable=True),
}
_READ_ONLY = {
    "id": "it is assigned by Limen.",
    "approximateLastSignInDateTime": "it is read-only: Limen records sign-ins itself.",
    "registrationDateTime": "it is read-only.",
}
#: Graph properties Limen stores nowhere; refusing them beats dropping what the admin asked for.
_UNSUPPORTED = {
    **_READ_ONLY,
    "complianceExpirationDateTime": "Limen has no compliance expiry; set isCompliant instead.",
    "deviceCategory": "Limen has no device categories.",
    "onPremisesSyncEnabled": "Limen does not sync devices from on-premises directories.",
}
_SERVER_ONLY = {"@odata.type", "registeredOwners@odata.bind", "alternativeSecurityIds"}
_NO_STORE = {"Cache-Control": "no-store"}


def _values(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in _SERVER_ONLY}


@router.get("/devices")
def list_devices(request: Request) -> dict[str, Any]:
    """Devices by displayName; `$top`, `$skiptoken`, `$filter`, `$select`."""
    query = list_query(request, properties=DEVICE_PROPERTIES, type_name=devices.DEVICE_TYPE)
    services = get_services(request)
    with services.db() as db:
        page = devices.list_devices(
            db, tenant_id_for(request), top=query.top, skiptoken=query.skiptoken, filters=query.filters
        )
        items = [devices.device_json(device) for device in page.items]
    return collection(request, "devices", items, next_skiptoken=page.next_skiptoken, select=query.select)


@router.post("/devices", status_code=201)
def create_device(request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """Register a device; `registeredOwners@odata.bind` lists users to record as its owners."""
    check_body(body, _CREATE, devices.DEVICE_TYPE, unsupported=_UNSUPPORTED)
    references = string_list(body.get("registeredOwners@odata.bind", []), "registeredOwners@odata.bind")
    owners = [_owner_id(request, reference) for reference in references]
    services = get_services(request)
    with transaction(services.db) as db:
        device = devices.create_device(
            db, tenant_id_for(request), services.clock.now(), _values(body), owner_keys=owners
        )
        shape = devices.device_json(device)
    return entity(request, "devices", shape)


@router.get("/devices/{device_id}")
def get_device(device_id: str, request: Request) -> dict[str, Any]:
    """One device by object id."""
    select = parse_select(request, DEVICE_PROPERTIES, devices.DEVICE_TYPE)
    services = get_services(request)
    with services.db() as db:
        shape = devices.device_json(devices.get_device(db, tenant_id_for(request), device_id))
    return entity(request, "devices", shape, select=select)


@router.patch("/devices/{device_id}", status_code=204)
def update_device(device_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Change the given properties only; `extensionAttributes` merges (null clears one attribute)."""
    unsupported = {**_UNSUPPORTED, "deviceId": "it is set when the device is registered and cannot be changed."}
    check_body(body, _WRITABLE, devices.DEVICE_TYPE, unsupported=unsupported)
    services = get_services(request)
    with transaction(services.db) as db:
        devices.update_device(db, tenant_id_for(request), device_id, _values(body))
    return Response(status_code=204)


@router.delete("/devices/{device_id}", status_code=204)
def delete_device(device_id: str, request: Request) -> Response:
    """Delete a device; a browser enrolled as it is an unregistered device from then on."""
    services = get_services(request)
    with transaction(services.db) as db:
        devices.delete_device(db, tenant_id_for(request), device_id)
    return Response(status_code=204)


@router.post("/devices/{device_id}/enrolmentLink")
def enrolment_link(device_id: str, request: Request) -> JSONResponse:
    """Limen's action: a one-time link (15 minutes) that enrols the browser opening it as this device.

    The link is in this response only (Limen keeps its hash) and replaces any earlier link of the device.
    """
    services = get_services(request)
    with transaction(services.db) as db:
        link = devices.enrolment_link(
            db, tenant_id_for(request), device_id, services.clock.now(), services.settings.issuer
        )
    body = {"@odata.context": context_url(request, "microsoft.graph.limenDeviceEnrolmentLink"), **link.to_json()}
    return JSONResponse(body, headers=_NO_STORE)


# --- registered owners --------------------------------------------------------------------------


def _owner_id(request: Request, reference: object) -> str:
    kind, object_id = member_id_from_reference(request, reference)
    if kind == "groups":
        raise bad_request("Registered owners of a device are users: use .../directoryObjects/{id} or .../users/{id}.")
    return object_id


@router.get("/devices/{device_id}/registeredOwners")
def list_registered_owners(device_id: str, request: Request) -> dict[str, Any]:
    """The users recorded as the device's owners (a handful: the list is not paged)."""
    for option in ("$top", "$skiptoken", "$filter"):
        if option in request.query_params:
            raise bad_request(f"The query option '{option}' is not supported on registeredOwners.")
    select = parse_select(request, USER_PROPERTIES, "microsoft.graph.directoryObject")
    services = get_services(request)
    with services.db() as db:
        items = [directory_object_json(user) for user in devices.list_owners(db, tenant_id_for(request), device_id)]
    return collection(request, "directoryObjects", items, select=select)


@router.post("/devices/{device_id}/registeredOwners/$ref", status_code=204)
def add_registered_owner(device_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Add an owner by reference: `{"@odata.id": ".../directoryObjects/{id}"}`."""
    check_body(body, {"@odata.id": Prop(str)}, "microsoft.graph.directoryObject")
    owner = _owner_id(request, body.get("@odata.id"))
    services = get_services(request)
    with transaction(services.db) as db:
        devices.add_owner(db, tenant_id_for(request), device_id, owner)
    return Response(status_code=204)


@router.delete("/devices/{device_id}/registeredOwners/{user_id}/$ref", status_code=204)
def remove_registered_owner(device_id: str, user_id: str, request: Request) -> Response:
    services = get_services(request)
    with transaction(services.db) as db:
        devices.remove_owner(db, tenant_id_for(request), device_id, user_id)
    return Response(status_code=204)
