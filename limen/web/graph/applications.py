"""`/v1.0/applications`: application registrations (OIDC clients) and their client secrets, as in Graph."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from limen.service import apps, apps_admin
from limen.store.db import transaction
from limen.store.models import Application
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import Prop, check_body, json_object, string_list
from limen.web.graph.odata import bad_request, collection, context_url, entity, list_query, parse_select
from limen.web.graph.shapes import application_json, password_credential_json

router = APIRouter(tags=["applications"])

APPLICATION_TYPE = "microsoft.graph.application"
APPLICATION_PROPERTIES = frozenset(
    {
        "id",
        "appId",
        "displayName",
        "createdDateTime",
        "signInAudience",
        "isFallbackPublicClient",
        "web",
        "publicClient",
        "passwordCredentials",
    }
)
_WRITABLE: dict[str, Prop] = {
    "displayName": Prop(str),
    "isFallbackPublicClient": Prop(bool, nullable=True),
    "web": Prop(dict),
    "publicClient": Prop(dict),
    "signInAudience": Prop(str),
}
# appId is read-only in Graph; Limen accepts it on creation so that a migrated app keeps its client id
# (Conditional Access policies and the app's own configuration refer to it).
_CREATE = {**_WRITABLE, "appId": Prop(str)}
_UNSUPPORTED = {
    "passwordCredentials": "add secrets with POST /applications/{id}/addPassword.",
    "spa": "register single-page apps under publicClient.redirectUris (public client, PKCE S256).",
    "keyCredentials": "certificate credentials are not available yet.",
    "api": "Limen applications do not expose APIs yet.",
    "requiredResourceAccess": "API permissions are not available yet.",
    "identifierUris": "Limen applications do not expose APIs yet.",
    "implicitGrantSettings": "the implicit grant is never allowed (OAuth 2.0 Security BCP).",
}
_WEB = {"redirectUris": Prop(list), "logoutUrl": Prop(str, nullable=True)}
_PUBLIC_CLIENT = {"redirectUris": Prop(list)}


def _check(body: dict[str, Any], spec: dict[str, Prop]) -> None:
    check_body(body, spec, APPLICATION_TYPE, unsupported=_UNSUPPORTED)
    if "web" in body:
        check_body(body["web"], _WEB, "microsoft.graph.webApplication", prefix="web.", unsupported=_UNSUPPORTED)
        if "redirectUris" in body["web"]:
            string_list(body["web"]["redirectUris"], "web.redirectUris")
    if "publicClient" in body:
        check_body(
            body["publicClient"],
            _PUBLIC_CLIENT,
            "microsoft.graph.publicClientApplication",
            prefix="publicClient.",
        )
        if "redirectUris" in body["publicClient"]:
            string_list(body["publicClient"]["redirectUris"], "publicClient.redirectUris")
    if body.get("signInAudience", "AzureADMyOrg") != "AzureADMyOrg":
        raise bad_request("signInAudience must be 'AzureADMyOrg': applications serve this directory only.")


def _shape(db: Session, app: Application) -> dict[str, Any]:
    return application_json(app, apps.passwords_of(db, app))


def _resolve(db: Session, tenant_id: str, key: str, *, by_app_id: bool) -> Application:
    if by_app_id:
        return apps_admin.get_by_app_id(db, tenant_id, key)
    return apps.get_application(db, tenant_id, key)


@router.get("/applications")
def list_applications(request: Request) -> dict[str, Any]:
    """Applications by displayName; `$top`, `$skiptoken`, `$filter` (displayName, appId), `$select`."""
    query = list_query(request, properties=APPLICATION_PROPERTIES, type_name=APPLICATION_TYPE)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        page = apps_admin.list_applications(
            db, tenant_id, top=query.top, skiptoken=query.skiptoken, filters=query.filters
        )
        items = [_shape(db, app) for app in page.items]
    return collection(request, "applications", items, next_skiptoken=page.next_skiptoken, select=query.select)


@router.post("/applications", status_code=201)
def create_application(request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """Register an application. Secrets are added afterwards with addPassword."""
    _check(body, _CREATE)
    web, native = body.get("web") or {}, body.get("publicClient") or {}
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        app = apps.create_application(
            db,
            tenant_id=tenant_id,
            display_name=body.get("displayName", ""),
            now=services.clock.now(),
            web_redirect_uris=web.get("redirectUris"),
            public_client_redirect_uris=native.get("redirectUris"),
            is_public_client=bool(body.get("isFallbackPublicClient")),
            logout_url=web.get("logoutUrl"),
            app_id=body.get("appId"),
        )
        shape = _shape(db, app)
    return entity(request, "applications", shape)


def _get(request: Request, key: str, *, by_app_id: bool) -> dict[str, Any]:
    select = parse_select(request, APPLICATION_PROPERTIES, APPLICATION_TYPE)
    services = get_services(request)
    with services.db() as db:
        shape = _shape(db, _resolve(db, tenant_id_for(request), key, by_app_id=by_app_id))
    return entity(request, "applications", shape, select=select)


def _update(request: Request, key: str, body: dict[str, Any], *, by_app_id: bool) -> Response:
    _check(body, _WRITABLE)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        app = _resolve(db, tenant_id, key, by_app_id=by_app_id)
        apps_admin.update_application(db, tenant_id, app.id, body)
    return Response(status_code=204)


def _delete(request: Request, key: str, *, by_app_id: bool) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        app = _resolve(db, tenant_id, key, by_app_id=by_app_id)
        apps_admin.delete_application(db, tenant_id, app.id)
    return Response(status_code=204)


# Graph's alternate key, /applications(appId='...'). Declared before /applications/{id} for clarity;
# the paths cannot collide since this one has no slash after "applications".
@router.get("/applications(appId='{app_id}')")
def get_application_by_app_id(app_id: str, request: Request) -> dict[str, Any]:
    return _get(request, app_id, by_app_id=True)


@router.patch("/applications(appId='{app_id}')", status_code=204)
def update_application_by_app_id(
    app_id: str, request: Request, body: dict[str, Any] = Depends(json_object)
) -> Response:
    return _update(request, app_id, body, by_app_id=True)


@router.delete("/applications(appId='{app_id}')", status_code=204)
def delete_application_by_app_id(app_id: str, request: Request) -> Response:
    return _delete(request, app_id, by_app_id=True)


@router.get("/applications/{object_id}")
def get_application(object_id: str, request: Request) -> dict[str, Any]:
    return _get(request, object_id, by_app_id=False)


@router.patch("/applications/{object_id}", status_code=204)
def update_application(object_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Change the given properties; redirect URIs are replaced as a whole, as in Graph."""
    return _update(request, object_id, body, by_app_id=False)


@router.delete("/applications/{object_id}", status_code=204)
def delete_application(object_id: str, request: Request) -> Response:
    return _delete(request, object_id, by_app_id=False)


def _end_date_time(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise bad_request(f"Invalid endDateTime {value!r}: expected e.g. 2027-01-31T00:00:00Z.") from None
    # Graph's timestamps are UTC; one without an offset is read as UTC rather than refused.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@router.post("/applications/{object_id}/addPassword")
def add_password(object_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """A new client secret; `secretText` is in this answer only and is never shown again."""
    check_body(body, {"passwordCredential": Prop(dict, nullable=True)}, "microsoft.graph.addPassword")
    credential = body.get("passwordCredential") or {}
    check_body(
        credential,
        {"displayName": Prop(str, nullable=True), "endDateTime": Prop(str, nullable=True)},
        "microsoft.graph.passwordCredential",
        prefix="passwordCredential.",
        unsupported={
            key: "it is chosen by Limen."
            for key in ("keyId", "secretText", "hint", "startDateTime", "customKeyIdentifier")
        },
    )
    end_at = _end_date_time(credential.get("endDateTime"))
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        app = apps.get_application(db, tenant_id, object_id)
        if app.is_public_client:
            raise bad_request("A public client (isFallbackPublicClient) has no secrets: it uses PKCE instead.")
        new = apps.add_password(
            db, app, now=services.clock.now(), display_name=credential.get("displayName"), end_at=end_at
        )
        shape = password_credential_json(new.credential, new.secret_text)
    return {"@odata.context": context_url(request, "microsoft.graph.passwordCredential"), **shape}


@router.post("/applications/{object_id}/removePassword", status_code=204)
def remove_password(object_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Revoke one client secret by keyId."""
    check_body(body, {"keyId": Prop(str)}, "microsoft.graph.removePassword")
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        apps_admin.remove_password(db, tenant_id, object_id, body.get("keyId"))
    return Response(status_code=204)
