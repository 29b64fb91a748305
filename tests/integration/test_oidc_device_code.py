"""The device authorization grant (RFC 8628) end to end over HTTP: the device asks for codes and polls
the token endpoint; the person enters the user code on /device in a browser, signs in and approves or
denies. Time moves with the injected clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.domain.ids import new_id
from limen.protocols.oidc import device
from limen.protocols.oidc.errors import OAuthError
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import Application, DeviceCode, DeviceCodeAttempt, SignInRow, Tenant, User
from limen.web.app import create_app
from tests.support.forms import form_with
from tests.support.oidc import ISSUER, SCOPE, basic, decode, oauth_error, refresh, sign_in
from tests.support.seed import Client
from tests.support.signin import notice, password_step

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")
MOBILE = "Mobile Apps and Desktop clients"


@pytest.fixture
def phone(services: Services) -> Iterator[TestClient]:
    """The person's browser: a client of its own, so its cookies are not the device's."""
    with TestClient(create_app(services), base_url="http://127.0.0.1:8000", client=("203.0.113.20", 40000)) as http:
        yield http


def start(http: TestClient, app: Client, scope: str = SCOPE, *, auth: str = "auto") -> dict[str, Any]:
    response = _device_request(http, app, scope, auth=auth)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _device_request(http: TestClient, app: Client, scope: str = SCOPE, *, auth: str = "auto") -> httpx.Response:
    if auth == "auto":
        auth = "basic" if app.secret else "none"
    headers = {"Authorization": basic(app.app_id, app.secret or "")} if auth == "basic" else {}
    data = {"scope": scope} if auth == "basic" else {"scope": scope, "client_id": app.app_id}
    return http.post("/oauth2/devicecode", data=data, headers=headers)


def poll(http: TestClient, app: Client, device_code: str, *, secret: bool = True) -> httpx.Response:
    data = {"grant_type": GRANT, "device_code": device_code}
    if app.secret and secret:
        return http.post("/oauth2/token", data=data, headers={"Authorization": basic(app.app_id, app.secret)})
    return http.post("/oauth2/token", data={**data, "client_id": app.app_id})


def enter_code(http: TestClient, user_code: str, query: str = "") -> httpx.Response:
    page = http.get(f"/device{query}")
    assert page.status_code == 200
    form = form_with(page.text, "/device")
    return http.post("/device", data={**form.fields, "user_code": user_code}, follow_redirects=False)


def sign_in_and_return(http: TestClient, entered: httpx.Response, upn: str) -> str:
    """From /device's redirect to the sign-in flow to the confirmation page; returns its HTML."""
    back = sign_in(http, entered, upn)
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith("/device/confirm?"), back.headers["location"]
    page = http.get(back.headers["location"])
    assert page.status_code == 200, page.text
    return page.text


def answer(http: TestClient, confirm_page: str, decision: str) -> httpx.Response:
    form = form_with(confirm_page, "/device/confirm")
    return http.post("/device/confirm", data={**form.fields, "decision": decision}, follow_redirects=False)


def rows(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at)))


def test_discovery_advertises_the_device_authorization_endpoint(client: TestClient) -> None:
    config = client.get("/.well-known/openid-configuration").json()
    assert config["device_authorization_endpoint"] == f"{ISSUER}/oauth2/devicecode"
    assert GRANT in config["grant_types_supported"]


def test_the_device_code_flow_end_to_end(
    client: TestClient, phone: TestClient, public: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    codes = start(client, public)
    assert USER_CODE.fullmatch(codes["user_code"])
    assert codes["verification_uri"] == f"{ISSUER}/device"
    assert codes["verification_uri_complete"] == f"{ISSUER}/device?user_code={codes['user_code']}"
    assert codes["expires_in"] == 900 and codes["interval"] == 5
    assert codes["user_code"] in codes["message"] and codes["verification_uri"] in codes["message"]

    # The device polls before the person has done anything.
    assert oauth_error(poll(client, public, codes["device_code"])) == "authorization_pending"
    # Too soon again: slow_down, and the interval grows by 5 s (RFC 8628 §3.5).
    assert oauth_error(poll(client, public, codes["device_code"])) == "slow_down"
    clock.advance(timedelta(seconds=6))
    assert oauth_error(poll(client, public, codes["device_code"])) == "slow_down"  # 6 s < 10 s
    clock.advance(timedelta(seconds=15))
    assert oauth_error(poll(client, public, codes["device_code"])) == "authorization_pending"

    # The person opens the link on their phone: the code is filled in, they still press Next.
    page = phone.get("/device", params={"user_code": codes["user_code"]})
    assert f'value="{codes["user_code"]}"' in page.text
    entered = enter_code(phone, codes["user_code"].lower().replace("-", " "))
    assert entered.status_code == 303 and entered.headers["location"].startswith("/signin?flow=")
    sign_in_page = phone.get(entered.headers["location"]).text
    assert "Contoso Mobile" in sign_in_page  # the sign-in is for the device's application
    confirm_page = sign_in_and_return(phone, entered, user.user_principal_name)
    assert "Sign in to Contoso Mobile on your other device?" in confirm_page
    assert user.user_principal_name in confirm_page
    done = answer(phone, confirm_page, "approve")
    assert done.status_code == 200 and "You're signed in" in done.text

    clock.advance(timedelta(seconds=30))
    response = poll(client, public, codes["device_code"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == SCOPE
    claims = decode(client, body["id_token"]).claims
    assert claims["aud"] == public.app_id and claims["sub"] == user.id
    assert claims["amr"] == ["pwd"] and claims["acr"] == "urn:limen:acr:1fa"
    assert claims["auth_time"] == int((clock.now() - timedelta(seconds=30)).timestamp())
    assert "sid" not in claims and "nonce" not in claims  # the device is not the browser's session
    assert (
        client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).json()["sub"]
        == user.id
    )

    # Single use: the same device code never yields tokens twice.
    assert oauth_error(poll(client, public, codes["device_code"])) == "invalid_grant"

    # The sign-in on the phone is logged for the device's application as a mobile/desktop sign-in.
    (signin,) = [r for r in rows(services) if r.is_interactive]
    assert signin.app_id == public.app_id and signin.error_code == 0
    assert signin.client_app_used == MOBILE


def test_denying_answers_access_denied(
    client: TestClient, phone: TestClient, public: Client, user: User, clock: FrozenClock
) -> None:
    codes = start(client, public)
    confirm_page = sign_in_and_return(phone, enter_code(phone, codes["user_code"]), user.user_principal_name)
    done = answer(phone, confirm_page, "deny")
    assert done.status_code == 200 and "Sign-in cancelled" in done.text
    clock.advance(timedelta(seconds=5))
    assert oauth_error(poll(client, public, codes["device_code"])) == "access_denied"
    # The decision is final: the code cannot be entered again.
    assert "already been used" in enter_code(phone, codes["user_code"]).text


def test_codes_expire_after_fifteen_minutes(
    client: TestClient, phone: TestClient, public: Client, user: User, clock: FrozenClock
) -> None:
    codes = start(client, public)
    clock.advance(timedelta(minutes=15))
    assert oauth_error(poll(client, public, codes["device_code"])) == "expired_token"
    page = enter_code(phone, codes["user_code"])
    assert page.status_code == 200 and "That code has expired" in page.text


def test_an_approval_page_left_open_past_expiry_approves_nothing(
    client: TestClient, phone: TestClient, public: Client, user: User, clock: FrozenClock
) -> None:
    codes = start(client, public)
    confirm_page = sign_in_and_return(phone, enter_code(phone, codes["user_code"]), user.user_principal_name)
    clock.advance(timedelta(minutes=16))
    late = answer(phone, confirm_page, "approve")
    assert late.status_code == 400 and "no longer valid" in late.text
    assert oauth_error(poll(client, public, codes["device_code"])) == "expired_token"


def test_a_wrong_code_is_refused_and_guessing_is_limited(phone: TestClient, services: Services, tenant_id: str) -> None:
    page = enter_code(phone, "BCDF-GHJK")
    assert page.status_code == 200 and notice(page.text).startswith("That code didn't work")
    page = enter_code(phone, "not a code at all")
    assert notice(page.text).startswith("That code didn't work")
    for _ in range(device.WRONG_CODES_PER_SOURCE - 2):
        enter_code(phone, "BCDF-GHJK")
    with services.db() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(DeviceCodeAttempt)) == device.WRONG_CODES_PER_SOURCE
    page = enter_code(phone, "BCDF-GHJK")
    assert page.status_code == 429 and notice(page.text).startswith("Too many wrong codes")


def test_guessing_stops_even_the_right_code_until_the_window_passes(
    client: TestClient, phone: TestClient, public: Client, clock: FrozenClock
) -> None:
    codes = start(client, public)
    for _ in range(device.WRONG_CODES_PER_SOURCE):
        enter_code(phone, "BCDF-GHJK")
    assert enter_code(phone, codes["user_code"]).status_code == 429
    clock.advance(device.WRONG_CODE_WINDOW)
    fresh = start(client, public)
    assert enter_code(phone, fresh["user_code"]).status_code == 303


def test_with_a_session_the_person_only_confirms_and_it_is_logged_as_single_sign_on(
    client: TestClient, phone: TestClient, public: Client, user: User, services: Services
) -> None:
    assert password_step(phone, user.user_principal_name).status_code == 303  # signed in to the portal
    codes = start(client, public)
    confirm = enter_code(phone, codes["user_code"])
    assert confirm.status_code == 200 and "Sign in to Contoso Mobile on your other device?" in confirm.text
    assert answer(phone, confirm.text, "approve").status_code == 200
    assert poll(client, public, codes["device_code"]).status_code == 200
    sso = [r for r in rows(services) if r.app_id == public.app_id]
    assert [
        (r.is_interactive, r.client_app_used, r.authentication_details[0]["authenticationMethod"]) for r in sso
    ] == [(True, MOBILE, "Previously satisfied")]


def test_use_another_account_goes_through_the_sign_in(
    client: TestClient, phone: TestClient, public: Client, user: User, services: Services
) -> None:
    password_step(phone, user.user_principal_name)
    codes = start(client, public)
    confirm = enter_code(phone, codes["user_code"])
    other = answer(phone, confirm.text, "other")
    assert other.status_code == 303 and other.headers["location"].startswith("/signin?flow=")
    confirm_page = sign_in_and_return(phone, other, user.user_principal_name)
    assert answer(phone, confirm_page, "approve").status_code == 200
    assert poll(client, public, codes["device_code"]).status_code == 200


def test_forms_and_links_are_bound_to_the_browser(
    client: TestClient, phone: TestClient, public: Client, user: User, services: Services
) -> None:
    assert phone.post("/device", data={"user_code": "BCDF-GHJK"}).status_code == 403  # no CSRF token
    codes = start(client, public)
    entered = enter_code(phone, codes["user_code"])
    back = sign_in(phone, entered, user.user_principal_name).headers["location"]
    query = parse_qs(urlsplit(back).query)
    # The way back from the sign-in only works in the browser that entered the code.
    with TestClient(create_app(services), base_url="http://127.0.0.1:8000") as stranger:
        stranger.get("/device")
        assert stranger.get(back).status_code == 403
    assert phone.get(f"/device/confirm?id={query['id'][0]}&check=0000").status_code == 403
    confirm_page = phone.get(back).text
    form = form_with(confirm_page, "/device/confirm")
    # The CSRF token covers `via`: a page for a fresh sign-in cannot be replayed as single sign-on.
    tampered = {**form.fields, "via": "session", "decision": "approve"}
    assert phone.post("/device/confirm", data=tampered).status_code == 403
    assert (
        phone.post("/device/confirm", data={**form.fields, "csrf_token": "x", "decision": "approve"}).status_code == 403
    )


def test_codes_are_stored_hashed(client: TestClient, public: Client, services: Services) -> None:
    codes = start(client, public)
    with services.engine.connect() as connection:
        dumped = " ".join(str(v) for row in connection.execute(sa.select(DeviceCode.__table__)) for v in row)
    assert codes["device_code"] not in dumped
    assert codes["user_code"] not in dumped and codes["user_code"].replace("-", "") not in dumped


def test_codes_belong_to_their_client(client: TestClient, public: Client, rp: Client, user: User) -> None:
    codes = start(client, public)
    assert oauth_error(poll(client, rp, codes["device_code"])) == "invalid_grant"
    assert oauth_error(poll(client, public, "made-up")) == "invalid_grant"
    assert oauth_error(client.post("/oauth2/token", data={"grant_type": GRANT, "client_id": public.app_id})) == (
        "invalid_request"
    )


def test_codes_belong_to_their_tenant(services: Services, tenant_id: str, public: Client, client: TestClient) -> None:
    codes = start(client, public)
    now = services.clock.now()
    other = new_id()
    with transaction(services.db) as db:
        db.add(Tenant(id=other, display_name="Fabrikam", default_domain="fabrikam.test", plan="p2", created_at=now))
    with transaction(services.db) as db:
        app = db.scalar(sa.select(Application).where(Application.app_id == public.app_id))
        assert app is not None
        # The user code is not found from another tenant, nor is the device code redeemed there.
        assert device.find_by_user_code(db, services, other, codes["user_code"], "192.0.2.1") is (
            device.UserCodeProblem.WRONG
        )
        refused = device.poll(db, services, other, app, {"device_code": codes["device_code"]})
        assert isinstance(refused, OAuthError) and refused.error == "invalid_grant"
        assert device.find_by_user_code(db, services, tenant_id, codes["user_code"], "192.0.2.1") not in (
            list(device.UserCodeProblem)
        )


def test_confidential_clients_need_their_secret(
    client: TestClient, phone: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    assert oauth_error(_device_request(client, rp, auth="none"), 401) == "invalid_client"
    codes = start(client, rp)
    confirm_page = sign_in_and_return(phone, enter_code(phone, codes["user_code"]), user.user_principal_name)
    answer(phone, confirm_page, "approve")
    assert oauth_error(poll(client, rp, codes["device_code"], secret=False), 401) == "invalid_client"
    body = poll(client, rp, codes["device_code"]).json()
    # A web app's device-code sign-in stays a mobile/desktop one when its refresh token is redeemed.
    clock.advance(timedelta(minutes=5))
    assert refresh(client, rp, body["refresh_token"]).status_code == 200
    (renewal,) = [r for r in rows(services) if not r.is_interactive]
    assert renewal.client_app_used == MOBILE
    (signin,) = [r for r in rows(services) if r.is_interactive]
    assert signin.client_app_used == MOBILE


def test_unknown_scopes_are_refused(client: TestClient, public: Client) -> None:
    assert oauth_error(_device_request(client, public, "openid Mail.Read")) == "invalid_scope"
