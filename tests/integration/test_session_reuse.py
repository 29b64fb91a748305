"""Conditional Access on sign-ins that reuse earlier authentication: single sign-on at /authorize, the
device code confirmation, refresh tokens; and the session controls signInFrequency and persistentBrowser."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.access.strengths import PHISHING_RESISTANT_MFA as PHISHING_RESISTANT
from limen.domain.clock import FrozenClock
from limen.domain.methods import SPECS
from limen.service import conditional_access as ca
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import SignInRow
from tests.integration.test_conditional_access_enforcement import UPN, add_policy
from tests.integration.test_oidc_device_code import enter_code, start
from tests.support.forms import form_with
from tests.support.oidc import (
    authorize,
    authorize_params,
    decode,
    new_pkce,
    obtain_code,
    query_of,
    redeem,
    refresh,
    tokens_for,
)
from tests.support.seed import DEFAULT_PASSWORD, Client, add_client, add_user, register_totp
from tests.support.signin import password_step, post_form


@pytest.fixture
def portal(services: Services) -> Client:
    return add_client(services, "http://127.0.0.1:9999/callback", name="Contoso Portal")


@pytest.fixture
def payroll(services: Services) -> Client:
    return add_client(services, "http://127.0.0.1:9998/callback", name="Payroll")


def for_app(app: Client, name: str, **controls: Any) -> dict[str, Any]:
    """An enabled policy for everyone signing in to `app`, with the given grant and session controls."""
    return {
        "displayName": name,
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": [app.app_id]},
            "clientAppTypes": ["all"],
        },
        "grantControls": controls.get("grant"),
        "sessionControls": controls.get("session"),
    }


def mfa() -> dict[str, Any]:
    return {"operator": "OR", "builtInControls": ["mfa"]}


def block() -> dict[str, Any]:
    return {"operator": "OR", "builtInControls": ["block"]}


def every(hours: int) -> dict[str, Any]:
    return {"signInFrequency": {"isEnabled": True, "type": "hours", "value": hours, "frequencyInterval": "timeBased"}}


def rows(services: Services, app: Client) -> list[SignInRow]:
    with services.db() as db:
        return list(
            db.scalars(sa.select(SignInRow).where(SignInRow.app_id == app.app_id).order_by(SignInRow.created_at))
        )


def test_single_sign_on_steps_up_to_mfa_without_the_password_again(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, portal: Client, payroll: Client
) -> None:
    user = add_user(services)
    secret = register_totp(services, user.id)
    policy_id = add_policy(services, tenant_id, for_app(payroll, "MFA for Payroll", grant=mfa()))
    clock.advance(timedelta(seconds=30))
    obtain_code(client, portal, UPN)  # a password is enough for the portal

    pkce = new_pkce()
    params = authorize_params(payroll, pkce)
    response = authorize(client, params)
    assert response.status_code == 303 and response.headers["location"].startswith("/signin?flow=")
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "Verify your identity" in page.text
    assert 'name="password"' not in page.text
    done = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert done.status_code == 303 and done.headers["location"].startswith(payroll.redirect_uri)
    tokens = redeem(client, payroll, query_of(done.headers["location"])["code"], pkce).json()
    claims = decode(client, tokens["id_token"]).claims
    assert set(claims["amr"]) >= {"pwd", "otp", "mfa"}
    [step_up] = rows(services, payroll)
    assert step_up.error_code == 0 and step_up.conditional_access_status == "success"
    # One row for the step-up: the password from the session, then the code just entered.
    methods = [d["authenticationMethod"] for d in step_up.authentication_details]
    assert methods == [SPECS["password"].log_name, SPECS["softwareOath"].log_name]

    # The session now has MFA: the next visit to Payroll is single sign-on, decided and logged as such.
    clock.advance(timedelta(minutes=5))
    again = authorize(client, authorize_params(payroll, new_pkce()))
    assert again.status_code == 303 and again.headers["location"].startswith(payroll.redirect_uri)
    sso = rows(services, payroll)[-1]
    assert sso.error_code == 0 and "Previously satisfied" in str(sso.authentication_details)
    assert sso.conditional_access_status == "success"
    assert {p["id"]: p["result"] for p in sso.applied_conditional_access_policies}[policy_id] == "success"


def test_single_sign_on_to_a_blocked_application_is_refused_and_logged(
    client: TestClient, services: Services, tenant_id: str, portal: Client, payroll: Client
) -> None:
    add_user(services)
    obtain_code(client, portal, UPN)
    add_policy(services, tenant_id, for_app(payroll, "Block Payroll", grant=block()))
    response = authorize(client, authorize_params(payroll))
    assert response.status_code == 403 and "blocks this sign-in" in response.text
    [row] = rows(services, payroll)
    assert row.error_code == 53003 and row.conditional_access_status == "failure" and row.is_interactive
    # prompt=none: the application hears access_denied at its redirect URI.
    silent = authorize(client, authorize_params(payroll, prompt="none"))
    assert silent.status_code == 303 and query_of(silent.headers["location"])["error"] == "access_denied"
    # The portal, which no policy blocks, is still single sign-on.
    assert authorize(client, authorize_params(portal)).headers["location"].startswith(portal.redirect_uri)


def test_sign_in_frequency_asks_for_a_new_sign_in_once_the_session_is_too_old(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, portal: Client, payroll: Client
) -> None:
    add_user(services)
    add_policy(services, tenant_id, for_app(payroll, "Payroll every hour", session=every(1)))
    obtain_code(client, payroll, UPN)
    clock.advance(timedelta(minutes=50))
    assert authorize(client, authorize_params(payroll)).headers["location"].startswith(payroll.redirect_uri)

    clock.advance(timedelta(minutes=20))  # 70 minutes after the password
    silent = authorize(client, authorize_params(payroll, prompt="none"))
    assert query_of(silent.headers["location"])["error"] == "login_required"
    assert rows(services, payroll)[-1].error_code == 70043
    response = authorize(client, authorize_params(payroll))
    assert response.status_code == 303 and response.headers["location"].startswith("/signin?flow=")
    page = client.get(response.headers["location"])
    assert UPN in page.text  # the username is filled in; the password is asked again
    # Other applications keep single sign-on: the frequency is Payroll's.
    assert authorize(client, authorize_params(portal)).headers["location"].startswith(portal.redirect_uri)
    # Signing in again resets the clock.
    identify = form_with(page.text, "/signin/identify")
    page = client.post("/signin/identify", data={**identify.fields, "username": UPN})
    done = post_form(client, page.text, "/signin/password", password=DEFAULT_PASSWORD)
    assert done.status_code == 303 and done.headers["location"].startswith(payroll.redirect_uri)
    clock.advance(timedelta(minutes=50))
    assert authorize(client, authorize_params(payroll)).headers["location"].startswith(payroll.redirect_uri)


def test_refresh_tokens_are_decided_again_and_a_block_keeps_the_token(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, payroll: Client
) -> None:
    add_user(services)
    tokens = tokens_for(client, payroll, UPN)
    policy_id = add_policy(services, tenant_id, for_app(payroll, "Block Payroll", grant=block()))
    clock.advance(timedelta(seconds=1))  # the log is read in time order: no two rows at one instant
    refused = refresh(client, payroll, tokens["refresh_token"])
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"] == "invalid_grant" and body["error_codes"] == [53003]
    row = rows(services, payroll)[-1]
    assert row.error_code == 53003 and not row.is_interactive and row.conditional_access_status == "failure"
    # The token was not spent: once the policy is off, the same token works (no reuse alarm).
    with transaction(services.db) as db:
        ca.update_policy(db, tenant_id, policy_id, {"state": "disabled"}, clock.now())
    clock.advance(timedelta(seconds=1))  # the log is read in time order: no two rows at one instant
    again = refresh(client, payroll, tokens["refresh_token"])
    assert again.status_code == 200, again.text
    assert rows(services, payroll)[-1].error_code == 0


def test_refresh_tokens_past_the_sign_in_frequency_need_an_interactive_sign_in(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, payroll: Client
) -> None:
    add_user(services)
    add_policy(services, tenant_id, for_app(payroll, "Payroll every hour", session=every(1)))
    tokens = tokens_for(client, payroll, UPN)
    clock.advance(timedelta(minutes=30))
    fresh = refresh(client, payroll, tokens["refresh_token"])
    assert fresh.status_code == 200
    clock.advance(timedelta(minutes=45))
    stale = refresh(client, payroll, fresh.json()["refresh_token"])
    assert stale.status_code == 400
    assert stale.json()["error"] == "interaction_required" and stale.json()["error_codes"] == [70043]


def test_refresh_tokens_of_a_password_only_sign_in_stop_when_the_application_needs_mfa(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, payroll: Client
) -> None:
    user = add_user(services)
    tokens = tokens_for(client, payroll, UPN)
    register_totp(services, user.id)
    add_policy(services, tenant_id, for_app(payroll, "MFA for Payroll", grant=mfa()))
    response = refresh(client, payroll, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error_codes"] == [50076]
    assert response.json()["error"] == "interaction_required"


def session_cookie(response: Any) -> str:
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("limen_session=")]
    return str(cookie)


def test_persistent_browser_always_keeps_the_session_cookie(
    client: TestClient, services: Services, tenant_id: str
) -> None:
    add_user(services)
    done = password_step(client, UPN)
    assert done.status_code == 303 and "max-age" not in session_cookie(done).lower()  # the default

    everyone = {
        "displayName": "Stay signed in",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
        },
        "sessionControls": {"persistentBrowser": {"isEnabled": True, "mode": "always"}},
    }
    policy_id = add_policy(services, tenant_id, everyone)
    client.cookies.clear()
    done = password_step(client, UPN)
    hours = services.settings.session_lifetime_hours
    assert done.status_code == 303 and f"max-age={hours * 3600}" in session_cookie(done).lower()

    with transaction(services.db) as db:
        ca.update_policy(
            db,
            tenant_id,
            policy_id,
            {"sessionControls": {"persistentBrowser": {"isEnabled": True, "mode": "never"}}},
            services.clock.now(),
        )
    client.cookies.clear()
    done = password_step(client, UPN)
    assert done.status_code == 303 and "max-age" not in session_cookie(done).lower()


def test_a_signed_in_browser_cannot_approve_a_device_code_a_policy_blocks(
    client: TestClient, services: Services, tenant_id: str
) -> None:
    add_user(services)
    device_app = add_client(services, "http://127.0.0.1:9997/callback", public=True, name="Contoso CLI")
    add_policy(
        services,
        tenant_id,
        {
            "displayName": "Block device code flow",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["All"]},
                "clientAppTypes": ["all"],
                "authenticationFlows": {"transferMethods": "deviceCodeFlow"},
            },
            "grantControls": block(),
        },
    )
    assert password_step(client, UPN).status_code == 303  # a browser sign-in is not a device code flow
    codes = start(client, device_app)
    entered = enter_code(client, codes["user_code"])
    assert entered.status_code == 403 and "blocks this sign-in" in entered.text
    [row] = rows(services, Client(device_app.app_id, None, "", ""))
    assert row.error_code == 53003 and row.client_app_used == "Mobile Apps and Desktop clients"


def test_single_sign_on_steps_up_to_registration_when_the_user_has_no_method(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, portal: Client, payroll: Client
) -> None:
    add_user(services)
    add_policy(services, tenant_id, for_app(payroll, "MFA for Payroll", grant=mfa()))
    obtain_code(client, portal, UPN)
    response = authorize(client, authorize_params(payroll))
    page = client.get(response.headers["location"])
    # No method to do MFA with: register one now (the policy needs it; no skipping), no password again.
    assert page.status_code == 200 and "Keep your account secure" in page.text
    assert 'name="password"' not in page.text and 'action="/signin/register/skip"' not in page.text
    page = post_form(client, page.text, "/signin/register", kind="softwareOath").text
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    done = post_form(client, page, "/signin/register/finish", code=pyotp.TOTP(key).at(clock.now()))
    assert done.status_code == 303 and done.headers["location"].startswith(payroll.redirect_uri)


def test_single_sign_on_with_a_weaker_second_factor_steps_up_to_the_required_strength(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, portal: Client, payroll: Client
) -> None:
    from limen.service.methods.store import methods_of, set_default
    from tests.integration.test_passkeys_http import _registered, webauthn_options
    from tests.support.soft_webauthn import SoftAuthenticator

    authenticator = SoftAuthenticator()
    user = _registered(services, authenticator)  # a passkey, and a code app as the default method
    secret = register_totp(services, user.id)
    with transaction(services.db) as db:
        [totp] = [m for m in methods_of(db, tenant_id, user.id) if m.kind == "softwareOath"]
        assert set_default(db, tenant_id, user.id, totp.id)
    add_policy(services, tenant_id, for_app(portal, "MFA for the portal", grant=mfa()))
    phishing_resistant = {"operator": "OR", "authenticationStrength": {"id": PHISHING_RESISTANT}}
    add_policy(services, tenant_id, for_app(payroll, "Passkeys for Payroll", grant=phishing_resistant))
    clock.advance(timedelta(seconds=30))
    page = authorize(client, authorize_params(portal))
    page = client.get(page.headers["location"])
    page = post_form(client, page.text, "/signin/identify", username=UPN)
    page = post_form(client, page.text, "/signin/password", password=DEFAULT_PASSWORD)
    assert "Verify your identity" in page.text
    done = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert done.status_code == 303 and done.headers["location"].startswith(portal.redirect_uri)

    # The session's code from an authenticator app is multi-factor, but not phishing-resistant: Payroll
    # gets no code until the person meets the strength with their passkey.
    clock.advance(timedelta(minutes=1))
    answer = authorize(client, authorize_params(payroll, new_pkce()))
    assert not answer.headers["location"].startswith(payroll.redirect_uri), answer.headers["location"]
    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    assert not page.headers.get("location", "").startswith(payroll.redirect_uri)
    assert "passkey" in page.text.lower(), page.text
    assert [r.error_code for r in rows(services, payroll) if r.error_code == 0] == []
    # The passkey, without the password again, gets Payroll its code.
    credential = authenticator.get(webauthn_options(page.text), services.settings.issuer)
    done = post_form(client, page.text, "/signin/mfa", credential=credential)
    assert done.status_code == 303 and done.headers["location"].startswith(payroll.redirect_uri)
    [row] = rows(services, payroll)
    assert row.error_code == 0 and row.conditional_access_status == "success"


def test_the_registered_device_is_read_once_per_sign_in_and_never_lent_to_a_device_code(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    from limen.store.models import Device
    from tests.integration.test_devices_service import _enrolled
    from tests.integration.test_oidc_device_code import answer

    add_user(services)
    laptop, cookie = _enrolled(services, tenant_id)
    # Any policy makes a sign-in gather Conditional Access facts, the registered device among them.
    report_only = {**for_app(Client("All", None, "", ""), "MFA for everything", grant=mfa())}
    report_only["state"] = "enabledForReportingButNotEnforced"
    add_policy(services, tenant_id, report_only)
    device_reads: list[str] = []
    risk_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM devices" in statement:
            device_reads.append(statement)
        if statement.lstrip().upper().startswith("SELECT") and "FROM risk_detections" in statement:
            risk_reads.append(statement)

    client.cookies.set("limen_device", cookie)
    sa.event.listen(services.engine, "before_cursor_execute", count)
    try:
        assert password_step(client, UPN).status_code == 303
    finally:
        sa.event.remove(services.engine, "before_cursor_execute", count)
    # Decided after the password (the log row reuses that decision) and logged: one read of the device.
    assert len(device_reads) == 1, device_reads
    assert len(risk_reads) == 1, risk_reads  # the user's risk, likewise: the decision is made once

    # The same browser approves a device code for a command-line tool, which is not the laptop.
    clock.advance(timedelta(minutes=1))
    device_app = add_client(services, "http://127.0.0.1:9997/callback", public=True, name="Contoso CLI")
    entered = enter_code(client, start(client, device_app)["user_code"])
    confirm = client.get(entered.headers["location"]) if entered.status_code == 303 else entered
    assert answer(client, confirm.text, "approve").status_code in (200, 303)
    with services.db() as db:
        logged = {r.app_id: (r.error_code, r.device_detail["deviceId"]) for r in db.scalars(sa.select(SignInRow))}
        stamped = db.get(Device, laptop.id)
        assert stamped is not None
    assert logged[device_app.app_id] == (0, "")
    assert (0, laptop.device_id) in logged.values()  # the browser's own sign-in names the laptop
    assert stamped.approximate_last_sign_in_at == clock.now() - timedelta(minutes=1)  # not stamped again
