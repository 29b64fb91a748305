"""Administration of application registrations beyond creation: list, update, delete, remove secrets.

Creation and secrets live in limen.service.apps (the OIDC provider uses them too); this module adds
what only the admin API and CLI need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.errors import NotFound, ValidationFailed
from limen.domain.ids import parse_guid
from limen.domain.redirects import validate_redirect_uris
from limen.service.apps import find_by_app_id, get_application
from limen.service.paging import Clause, Filterable, Page, apply_filters, keyset_page
from limen.store.models import Application, ApplicationPassword

APPLICATION_FILTERS: dict[str, Filterable] = {
    "displayName": Filterable(Application.display_name),
    "appId": Filterable(Application.app_id, "guid"),
    "id": Filterable(Application.id, "guid"),
}


def get_by_app_id(db: Session, tenant_id: str, app_id: str) -> Application:
    """The application whose appId (client id) is `app_id`, or NotFound."""
    app = find_by_app_id(db, tenant_id, app_id)
    if app is None:
        raise NotFound(f"No application with appId '{app_id}' exists.")
    return app


def list_applications(
    db: Session,
    tenant_id: str,
    *,
    top: int | None = None,
    skiptoken: str | None = None,
    filters: Sequence[Clause] = (),
) -> Page[Application]:
    """Applications by displayName then id, `top` at a time."""
    stmt = sa.select(Application).where(Application.tenant_id == tenant_id)
    stmt = apply_filters(stmt, filters, APPLICATION_FILTERS, "microsoft.graph.application")
    return keyset_page(db, stmt, [Application.display_name, Application.id], top=top, skiptoken=skiptoken)


def update_application(db: Session, tenant_id: str, object_id: str, values: Mapping[str, Any]) -> Application:
    """Apply a Graph PATCH: displayName, isFallbackPublicClient, web {redirectUris, logoutUrl},
    publicClient {redirectUris}. Everything is checked before anything changes.
    """
    app = get_application(db, tenant_id, object_id)
    updates: dict[str, Any] = {}
    if "displayName" in values:
        name = values["displayName"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 256:
            raise ValidationFailed("displayName is required (1-256 characters).")
        updates["display_name"] = name.strip()
    public = values.get("isFallbackPublicClient", app.is_public_client)
    public = False if public is None else public  # Graph's null means "not a public client"
    if not isinstance(public, bool):
        raise ValidationFailed("isFallbackPublicClient must be true or false.")
    updates["is_public_client"] = public
    web = values.get("web") or {}
    if "redirectUris" in web:
        updates["web_redirect_uris"] = validate_redirect_uris(
            web["redirectUris"], public_client=False, field="web.redirectUris"
        )
    logout_url = web.get("logoutUrl", app.logout_url)  # an explicit null clears it
    if logout_url is not None:
        validate_redirect_uris([logout_url], public_client=public, field="web.logoutUrl")
    updates["logout_url"] = logout_url
    native = values.get("publicClient") or {}
    if "redirectUris" in native:
        updates["public_client_redirect_uris"] = validate_redirect_uris(
            native["redirectUris"], public_client=True, field="publicClient.redirectUris"
        )
    for column, value in updates.items():
        setattr(app, column, value)
    db.flush()
    return app


def delete_application(db: Session, tenant_id: str, object_id: str) -> None:
    """Delete an application; its secrets go with it (ON DELETE CASCADE), so it can no longer sign in."""
    app = get_application(db, tenant_id, object_id)
    db.execute(sa.delete(ApplicationPassword).where(ApplicationPassword.application_id == app.id))
    db.delete(app)
    db.flush()


def remove_password(db: Session, tenant_id: str, object_id: str, key_id: object) -> None:
    """Graph `removePassword`: revoke one client secret by keyId, at once."""
    app = get_application(db, tenant_id, object_id)
    parsed = parse_guid(key_id) if isinstance(key_id, str) else None
    if parsed is None:
        raise ValidationFailed("keyId is required: the keyId (GUID) of one of the application's passwords.")
    credential = db.get(ApplicationPassword, parsed)
    if credential is None or credential.application_id != app.id:
        raise NotFound(f"No password credential with keyId '{parsed}' exists on this application.")
    db.delete(credential)
    db.flush()
