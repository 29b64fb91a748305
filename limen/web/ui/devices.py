"""`/devices/enrol`: a browser opens an admin's one-time enrolment link and becomes a registered device.

GET shows what the link is for and changes nothing (link previews and mail scanners fetch links);
POST, with the CSRF token of that page, uses the code and sets the `limen_device` cookie: a random
secret whose SHA-256 is the device's binding (limen.service.devices). The cookie is HttpOnly,
SameSite=Lax, Secure whenever the issuer is https, and lives as long as browsers allow (400 days).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from limen.crypto.tokens import secret_hash
from limen.domain.errors import ValidationFailed
from limen.service import devices
from limen.store.db import transaction
from limen.web.deps import client_ip, get_services, tenant_id_for
from limen.web.ui.browser import (
    DEVICE_COOKIE,
    MAX_COOKIE_AGE,
    browser_token,
    csrf_ok,
    csrf_token,
    set_cookie,
    with_browser_token,
)
from limen.web.ui.render import page
from limen.web.ui.router import forbidden, form_post

log = logging.getLogger("limen.devices")

router = APIRouter(include_in_schema=False)

_MAX_CODE = 128


def device_cookie(request: Request) -> str | None:
    """The `limen_device` cookie's value, for `limen.service.devices.device_for_cookie`."""
    return request.cookies.get(DEVICE_COOKIE) or None


def _scope(code: str) -> str:
    # The CSRF token is for this code only: a token from one link's page cannot post another code.
    return f"device-enrol:{secret_hash(code)}"


def _invalid(request: Request) -> Response:
    log.info("device enrolment link refused from %s", client_ip(request))
    return page(
        request,
        "error.html",
        {"title": "This link can't be used", "message": devices.BAD_ENROLMENT_CODE},
        status=400,
    )


@router.get("/devices/enrol")
def enrol_page(request: Request) -> Response:
    """The confirmation page: which device this browser would become. Uses nothing up."""
    code = request.query_params.get("code", "")[:_MAX_CODE]
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        try:
            device = devices.pending_enrolment(db, tenant_id, code, services.clock.now())
        except ValidationFailed:
            return _invalid(request)
        current = devices.device_for_cookie(db, tenant_id, device_cookie(request))
    expires_at = device.enrolment_expires_at
    assert expires_at is not None  # pending_enrolment refuses a code without one
    return with_browser_token(
        request,
        lambda browser: page(
            request,
            "device_enrol.html",
            {
                "enrolled": False,
                "device_name": device.display_name,
                "operating_system": device.operating_system,
                "expires_iso": expires_at.isoformat(),
                "expires_text": expires_at.strftime("%Y-%m-%d %H:%M UTC"),
                "current_device": current["displayName"] if current and current["id"] != device.id else None,
                "code": code,
                "csrf": csrf_token(request, _scope(code), browser),
            },
        ),
    )


@router.post("/devices/enrol")
@form_post
def enrol(request: Request, form: dict[str, str]) -> Response:
    code = form.get("code", "")[:_MAX_CODE]
    if not csrf_ok(request, _scope(code), browser_token(request), form.get("csrf_token")):
        return forbidden(request)
    services = get_services(request)
    try:
        with transaction(services.db) as db:
            device, secret = devices.enrol(db, tenant_id_for(request), code, services.clock.now())
    except ValidationFailed:
        return _invalid(request)
    response = page(request, "device_enrol.html", {"enrolled": True, "device_name": device.display_name})
    set_cookie(request, response, DEVICE_COOKIE, secret, max_age=MAX_COOKIE_AGE)
    return response
