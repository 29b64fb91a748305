"""Cookies and CSRF for the sign-in UI (DESIGN.md security conventions).

* `limen_browser`: a random value binding sign-in flows to this browser; flows store its hash.
* `limen_session`: the opaque session id; the database holds its hash.
Both are HttpOnly and SameSite=Lax, and Secure whenever the issuer is https.
CSRF tokens are HMACs of the flow (or session) with the browser's secret cookie, so a page from
another origin can neither read nor forge them.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Response

from limen.crypto.tokens import constant_time_equals, keyed_digest, new_secret
from limen.domain.access.decision import ClientAppType
from limen.service.signin import RequestMeta
from limen.web.deps import client_ip, get_services

BROWSER_COOKIE = "limen_browser"
SESSION_COOKIE = "limen_session"
#: A registered device's binding (limen.service.devices): set by the device enrolment page.
DEVICE_COOKIE = "limen_device"
#: The lifetime of the long-lived cookies (browser binding, registered device): browsers cap it at 400 days.
MAX_COOKIE_AGE = 400 * 24 * 3600


def browser_token(request: Request) -> str | None:
    value = request.cookies.get(BROWSER_COOKIE)
    return value if value and 20 <= len(value) <= 128 else None


def ensure_browser_token(request: Request, response: Response) -> str:
    token = browser_token(request)
    if token is None:
        token = new_secret(24)
        set_cookie(request, response, BROWSER_COOKIE, token, max_age=MAX_COOKIE_AGE)
    return token


def with_browser_token(request: Request, respond: Callable[[str], Response]) -> Response:
    """`respond(token)` with this browser's binding token, plus the cookie that sets it when the
    browser had none yet (the response is built before it is known whether one is needed)."""
    placeholder = Response()
    token = ensure_browser_token(request, placeholder)
    response = respond(token)
    for name, value in placeholder.headers.items():
        if name == "set-cookie":
            response.headers.append(name, value)
    return response


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=get_services(request).settings.cookie_secure,
        path="/",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/", secure=get_services(request).settings.cookie_secure, httponly=True, samesite="lax"
    )


def csrf_token(request: Request, scope: str, browser_secret: str) -> str:
    return keyed_digest(str(get_services(request).settings.secret_key), "csrf", scope, browser_secret)


def csrf_ok(request: Request, scope: str, browser_secret: str | None, presented: str | None) -> bool:
    if not browser_secret or not presented:
        return False
    return constant_time_equals(csrf_token(request, scope, browser_secret), presented)


def device_key(request: Request) -> str:
    """Which device this is, for "familiar device" (security defaults): a keyed hash of the long-lived
    browser cookie, so the stored value is useless for forging the cookie."""
    token = browser_token(request)
    return keyed_digest(str(get_services(request).settings.secret_key), "device", token) if token else ""


def request_meta(request: Request, client_app_type: ClientAppType = ClientAppType.BROWSER) -> RequestMeta:
    """The request's facts for the sign-in decision and log: address, user agent, which browser
    (device key) and which registered device (its cookie) this is."""
    return RequestMeta(
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[:512],
        client_app_type=client_app_type,
        device_key=device_key(request),
        device_secret=request.cookies.get(DEVICE_COOKIE, "")[:128],
    )
