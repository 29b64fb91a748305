"""Conditional Access `passwordChange` with user risk (SPEC.md §4.4): Microsoft's "Require password change
for high-risk users" policy asks a high-risk user for MFA, then a new password; the change remediates the
user's risk. Sign-ins that cannot show the page (the password grant, HTTP Basic) are blocked."""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.access.templates import find_template
from limen.domain.clock import FrozenClock
from limen.domain.ids import new_id
from limen.service.context import Services
from limen.service.signin_password_change import MISMATCH, SAME_AS_CURRENT
from limen.store.db import transaction
from limen.store.models import RiskDetection, SignInRow, User
from limen.web.app import create_app
from tests.integration.test_conditional_access_enforcement import UPN, add_policy
from tests.support.forms import form_with
from tests.support.oidc import (
    authorize,
    authorize_params,
    oauth_error,
    query_of,
    redeem,
    refresh,
    sign_in,
    tokens_for,
)
from tests.support.seed import DEFAULT_PASSWORD, Client, add_client, add_user, register_totp
from tests.support.signin import notice, password_step, post_form

NEW_PASSWORD = "Staple-Orbit-Lantern-42"
CHANGE_PAGE = "Update your password"


def high_risk_policy(services: Services, tenant_id: str) -> str:
    """Microsoft's template (userRiskLevels high, mfa AND passwordChange, every time), switched on."""
    document = find_template("require-password-change-high-risk-users").build([])
    document["state"] = "enabled"
    return add_policy(services, tenant_id, document)


def report_risk(services: Services, tenant_id: str, user_id: str, level: str = "high") -> str:
    """A detection like the one "deny and report" on a push request records."""
    detection_id = new_id()
    with transaction(services.db) as db:
        db.add(
            RiskDetection(
                id=detection_id,
                tenant_id=tenant_id,
                user_id=user_id,
                risk_event_type="userReportedSuspiciousActivity",
                risk_level=level,
                risk_state="atRisk",
                detection_timing_type="realtime",
                activity="signin",
                ip_address="203.0.113.9",
                additional_info={"appDisplayName": "Contoso Portal"},
                detected_at=services.clock.now(),
            )
        )
    return detection_id


def detection(services: Services, detection_id: str) -> RiskDetection:
    with services.db() as db:
        row = db.get(RiskDetection, detection_id)
        assert row is not None
        return row


def password_works(services: Services, password: str) -> bool:
    with services.db() as db:
        stored = db.scalars(sa.select(User.password_hash).where(User.user_principal_name == UPN)).one()
    return services.hasher.verify(stored, password).ok


def sign_in_rows(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))


def test_a_high_risk_user_does_mfa_then_changes_the_password_which_remediates_the_risk(
    client: TestClient,
    services: Services,
    tenant_id: str,
    clock: FrozenClock,
    rp: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="limen.signin")
    user = add_user(services)
    secret = register_totp(services, user.id)
    policy_id = high_risk_policy(services, tenant_id)
    # Before the risk: a session and a refresh token on another device (perhaps the attacker's).
    elsewhere = TestClient(client.app, base_url="http://127.0.0.1:8000")
    earlier = tokens_for(elsewhere, rp, UPN)["refresh_token"]
    clock.advance(timedelta(seconds=30))
    reported = report_risk(services, tenant_id, user.id)
    clock.advance(timedelta(seconds=30))

    # Password, then TOTP, then the password change page (the current password is not asked again).
    page = sign_in(client, authorize(client, authorize_params(rp)), UPN)
    assert page.status_code == 200 and "Verify your identity" in page.text
    page = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert page.status_code == 200 and CHANGE_PAGE in page.text, page.text
    assert 'name="current_password"' not in page.text and "<script" not in page.text

    # Each refusal says why and changes nothing.
    refusals = {
        MISMATCH: {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "!"},
        "The password must be 8 to 256 characters long.": {"new_password": "Sh0rt!", "confirm_password": "Sh0rt!"},
        SAME_AS_CURRENT: {"new_password": DEFAULT_PASSWORD, "confirm_password": DEFAULT_PASSWORD},
    }
    for message, fields in refusals.items():
        page = post_form(client, page.text, "/signin/password/change", **fields)
        assert page.status_code == 200 and CHANGE_PAGE in page.text
        assert notice(page.text) == message
        assert password_works(services, DEFAULT_PASSWORD)
        assert detection(services, reported).risk_state == "atRisk"
    assert [r.error_code for r in sign_in_rows(services)] == [0]  # the other device's; refusals are not sign-ins

    # A good change completes the sign-in to the application.
    clock.advance(timedelta(seconds=20))
    done = post_form(
        client, page.text, "/signin/password/change", new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"{rp.redirect_uri}?code="), done.headers["location"]
    assert password_works(services, NEW_PASSWORD) and not password_works(services, DEFAULT_PASSWORD)
    remediated = detection(services, reported)
    assert remediated.risk_state == "remediated"
    assert remediated.additional_info["riskDetail"] == "userPerformedSecuredPasswordChange"
    assert remediated.additional_info["appDisplayName"] == "Contoso Portal"  # kept
    with services.db() as db:
        changed_at = db.scalars(sa.select(User.password_changed_at).where(User.id == user.id)).one()
    assert changed_at == clock.now()

    # The sign-in log: MFA, then the password change, and the policy met.
    [_, row] = sign_in_rows(services)
    assert row.error_code == 0 and row.authentication_requirement == "multiFactorAuthentication"
    steps = [(d["authenticationMethod"], d["authenticationStepRequirement"]) for d in row.authentication_details]
    assert steps == [
        ("Password", "Primary authentication"),
        ("Mobile app verification code", "MFA"),
        ("Password", "Password change"),
    ]
    assert all(d["succeeded"] for d in row.authentication_details)
    assert row.conditional_access_status == "success"
    [applied] = [p for p in row.applied_conditional_access_policies if p["id"] == policy_id]
    assert applied["result"] == "success"
    assert "RequirePasswordChange" in applied["enforcedGrantControls"]
    # The audit trail names the user and the remediation, never a password.
    assert f"secure password change by user {user.id}" in caplog.text
    assert "userPerformedSecuredPasswordChange" in caplog.text
    assert NEW_PASSWORD not in caplog.text and DEFAULT_PASSWORD not in caplog.text and "Sh0rt" not in caplog.text
    assert "1 other session(s) ended" in caplog.text

    # The change signs the user out everywhere else; this sign-in's own session and code work.
    assert oauth_error(refresh(elsewhere, rp, earlier)) == "invalid_grant"
    silent = query_of(authorize(elsewhere, authorize_params(rp, prompt="none")).headers["location"])
    assert silent.get("error") == "login_required"
    redeemed = redeem(client, rp, query_of(done.headers["location"])["code"])
    assert redeemed.status_code == 200, redeemed.text

    # The old password no longer signs in; the new one does, without being asked to change it again.
    client.cookies.clear()
    clock.advance(timedelta(minutes=10))
    refused = password_step(client, UPN)
    assert refused.status_code == 200 and "incorrect" in notice(refused.text)
    client.cookies.clear()
    clock.advance(timedelta(seconds=5))
    again = password_step(client, UPN, NEW_PASSWORD)
    assert again.status_code == 303, again.text
    last = sign_in_rows(services)[-1]
    assert last.error_code == 0
    [applied] = [p for p in last.applied_conditional_access_policies if p["id"] == policy_id]
    assert applied["result"] == "notApplied"  # the user is no longer at risk


def test_an_abandoned_change_leaves_the_old_password_and_the_risk(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, rp: Client
) -> None:
    user = add_user(services)
    secret = register_totp(services, user.id)
    high_risk_policy(services, tenant_id)
    reported = report_risk(services, tenant_id, user.id)
    clock.advance(timedelta(seconds=30))
    to_signin = authorize(client, authorize_params(rp))
    page = sign_in(client, to_signin, UPN)
    page = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert CHANGE_PAGE in page.text
    # Reloading the flow's address shows the same step (no way around it).
    reloaded = client.get(to_signin.headers["location"])
    assert reloaded.status_code == 200 and CHANGE_PAGE in reloaded.text
    # The person walks away; later they sign in again and are asked again.
    client.cookies.clear()
    clock.advance(timedelta(minutes=5))
    assert password_works(services, DEFAULT_PASSWORD) and detection(services, reported).risk_state == "atRisk"
    page = password_step(client, UPN)
    assert "Verify your identity" in page.text
    page = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert CHANGE_PAGE in page.text


def test_a_wrong_second_factor_never_reaches_the_password_change(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    user = add_user(services)
    register_totp(services, user.id)
    high_risk_policy(services, tenant_id)
    report_risk(services, tenant_id, user.id)
    clock.advance(timedelta(seconds=30))
    page = password_step(client, UPN)
    page = post_form(client, page.text, "/signin/mfa", code="000000")
    assert page.status_code == 200 and "Verify your identity" in page.text and CHANGE_PAGE not in page.text
    # Nor can the change be posted past it: the flow is not at that step.
    flow = form_with(page.text, "/signin/mfa").fields
    forced = client.post(
        "/signin/password/change",
        data={
            "flow": flow["flow"],
            "csrf_token": flow["csrf_token"],
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert forced.status_code == 400 and CHANGE_PAGE not in forced.text
    assert password_works(services, DEFAULT_PASSWORD)


def test_a_high_risk_user_without_a_method_is_blocked_not_sent_to_register(
    client: TestClient, services: Services, tenant_id: str
) -> None:
    user = add_user(services)
    high_risk_policy(services, tenant_id)
    report_risk(services, tenant_id, user.id)
    blocked = password_step(client, UPN)
    assert blocked.status_code == 403 and "blocks this sign-in" in blocked.text
    assert [r.error_code for r in sign_in_rows(services)] == [53003]


def test_a_medium_risk_user_is_not_asked(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    user = add_user(services)
    register_totp(services, user.id)
    policy_id = high_risk_policy(services, tenant_id)
    reported = report_risk(services, tenant_id, user.id, level="medium")
    clock.advance(timedelta(seconds=30))
    done = password_step(client, UPN)
    assert done.status_code == 303  # the policy targets high risk only; no other policy asks for anything
    [row] = sign_in_rows(services)
    [applied] = [p for p in row.applied_conditional_access_policies if p["id"] == policy_id]
    assert applied["result"] == "notApplied" and "userRisk" in applied["conditionsNotSatisfied"]
    assert detection(services, reported).risk_state == "atRisk"


# Sign-ins that cannot show the page ---------------------------------------------------------------------------


@pytest.fixture
def ropc(services: Services) -> Iterator[TestClient]:
    enabled = dataclasses.replace(services, settings=dataclasses.replace(services.settings, allow_password_grant=True))
    with TestClient(create_app(enabled), base_url="http://127.0.0.1:8000") as http:
        yield http


def test_the_password_grant_and_http_basic_of_a_high_risk_user_are_blocked(
    ropc: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    user = add_user(services)
    register_totp(services, user.id)
    high_risk_policy(services, tenant_id)
    reported = report_risk(services, tenant_id, user.id)
    public = add_client(services, "http://127.0.0.1:9998/callback", public=True, name="Contoso Mobile")
    wiki = add_client(services, "https://wiki.contoso.test/_limen/callback", name="Contoso Wiki")

    grant = ropc.post(
        "/oauth2/token",
        data={
            "grant_type": "password",
            "username": UPN,
            "password": DEFAULT_PASSWORD,
            "scope": "openid",
            "client_id": public.app_id,
        },
    )
    assert grant.status_code == 400 and grant.json()["error_codes"] == [53003], grant.text

    clock.advance(timedelta(seconds=1))
    credentials = base64.b64encode(f"{UPN}:{DEFAULT_PASSWORD}".encode()).decode()
    with TestClient(ropc.app, base_url="https://127.0.0.1:8000", follow_redirects=False) as proxy:
        basic = proxy.get(
            f"/forward-auth?app={wiki.app_id}",
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "wiki.contoso.test",
                "X-Forwarded-Uri": "/dav/file.txt",
                "X-Forwarded-Method": "GET",
                "Accept": "*/*",
                "Authorization": f"Basic {credentials}",
            },
        )
    assert basic.status_code == 401 and "x-limen-user" not in basic.headers

    rows = sign_in_rows(services)
    # (Entra lists HTTP Basic with the interactive sign-ins, although it is decided as one that cannot interact.)
    assert [(r.error_code, r.client_app_used) for r in rows] == [
        (53003, "Mobile Apps and Desktop clients"),
        (53003, "Other clients"),
    ]
    assert all(r.conditional_access_status == "failure" for r in rows)
    assert password_works(services, DEFAULT_PASSWORD) and detection(services, reported).risk_state == "atRisk"


# Passkey sign-ins ----------------------------------------------------------------------------------------------


def passkey_sign_in(client: TestClient, services: Services, authenticator: Any) -> Any:
    from tests.integration.test_passkeys_http import _passkey_page, webauthn_options

    page = _passkey_page(client)
    credential = authenticator.get(webauthn_options(page), services.settings.issuer)
    return post_form(client, page, "/signin/passkey", credential=credential)


def test_a_passkey_only_user_at_high_risk_is_blocked_and_one_with_a_password_may_change_it(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    from tests.integration.test_passkeys_http import _registered
    from tests.support.soft_webauthn import SoftAuthenticator

    authenticator = SoftAuthenticator()
    user = _registered(services, authenticator)
    high_risk_policy(services, tenant_id)
    reported = report_risk(services, tenant_id, user.id)

    # A passkey is multi-factor: with a password on the account, the change is offered straight away.
    page = passkey_sign_in(client, services, authenticator)
    assert page.status_code == 200 and CHANGE_PAGE in page.text, page.text
    done = post_form(
        client, page.text, "/signin/password/change", new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert done.status_code == 303 and password_works(services, NEW_PASSWORD)
    assert detection(services, reported).risk_state == "remediated"

    # Without a password there is nothing to change: the policy cannot be met.
    with transaction(services.db) as db:
        db.execute(sa.update(User).where(User.id == user.id).values(password_hash=None))
    report_risk(services, tenant_id, user.id)
    client.cookies.clear()
    clock.advance(timedelta(minutes=1))
    blocked = passkey_sign_in(client, services, authenticator)
    assert blocked.status_code == 403 and "blocks this sign-in" in blocked.text
    assert [r.error_code for r in sign_in_rows(services)] == [0, 53003]


def test_single_sign_on_of_a_user_who_became_high_risk_asks_for_a_new_sign_in_with_the_change(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock, rp: Client
) -> None:
    user = add_user(services)
    secret = register_totp(services, user.id)
    high_risk_policy(services, tenant_id)
    clock.advance(timedelta(seconds=30))
    assert password_step(client, UPN).status_code == 303  # not at risk yet: a password is enough
    report_risk(services, tenant_id, user.id)
    clock.advance(timedelta(minutes=1))
    # The browser session is not blocked, nor let through: the person signs in again, name filled in ...
    response = authorize(client, authorize_params(rp))
    assert response.status_code == 303 and response.headers["location"].startswith("/signin?flow=")
    page = client.get(response.headers["location"])
    assert UPN in page.text
    identify = form_with(page.text, "/signin/identify")
    page = client.post("/signin/identify", data={**identify.fields, "username": UPN})
    page = post_form(client, page.text, "/signin/password", password=DEFAULT_PASSWORD)
    # ... and after MFA is offered the change that remediates the risk.
    page = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert CHANGE_PAGE in page.text
    done = post_form(
        client, page.text, "/signin/password/change", new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert done.status_code == 303 and done.headers["location"].startswith(rp.redirect_uri)
