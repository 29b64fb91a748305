"""Security defaults over HTTP: the 14-day registration window moved with the injected clock, MFA for
admins at every sign-in, MFA "when necessary" for others, and the switch with its mutual exclusion."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.domain.directory import GLOBAL_ADMINISTRATOR
from limen.service import directory, security_defaults
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import ConditionalAccessPolicy, SignInRow, User
from limen.web.app import create_app
from tests.support.seed import add_user
from tests.support.signin import notice, oathtool_code, password_step, post_form

UPN = "adele.vance@contoso.test"


@pytest.fixture
def defaults_on(services: Services, tenant_id: str) -> None:
    with transaction(services.db) as db:
        security_defaults.set_enabled(db, tenant_id, True)


def browser(services: Services, ip: str = "198.51.100.7") -> TestClient:
    """A browser of its own (its own device cookie) at `ip`."""
    return TestClient(create_app(services), base_url="http://127.0.0.1:8000", client=(ip, 50123))


@pytest.fixture
def home_browser(services: Services) -> Iterator[TestClient]:
    with browser(services) as http:
        yield http


def _user(services: Services, upn: str = UPN) -> User:
    with services.db() as db:
        return db.scalars(sa.select(User).where(User.user_principal_name == upn)).one()


def _register_totp(http: TestClient, page: str, clock: FrozenClock) -> str:
    page = post_form(http, page, "/signin/register", kind="softwareOath").text
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert post_form(http, page, "/signin/register/finish", code=oathtool_code(key, clock.now())).status_code == 303
    return key


def test_the_registration_window_moves_with_the_clock(
    defaults_on: None, home_browser: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    assert _user(services).mfa_registration_started_at is None

    # First sign-in: prompted, may skip, 14 days left; the window starts now.
    page = password_step(home_browser, UPN).text
    assert "Keep your account secure" in page and "You have 14 days left" in page
    # Only authenticator-app methods count under security defaults.
    assert 'value="softwareOath"' in page and 'value="microsoftAuthenticator"' in page
    assert 'value="sms"' not in page and 'value="email"' not in page
    assert _user(services).mfa_registration_started_at == clock.now()
    skipped = post_form(home_browser, page, "/signin/register/skip")
    assert skipped.status_code == 303
    with services.db() as db:
        row = db.scalars(sa.select(SignInRow).where(SignInRow.error_code == 0)).one()
    assert row.authentication_requirement_policies == [
        {"requirementProvider": "mfaRegistrationRequiredBySecurityDefaults", "detail": "Register for MFA"}
    ]

    # Day 13: still allowed to skip, one day left.
    clock.advance(timedelta(days=13))
    page = password_step(home_browser, UPN).text
    assert "You have 1 day left" in page and 'action="/signin/register/skip"' in page
    assert post_form(home_browser, page, "/signin/register/skip").status_code == 303

    # Day 14 and later: no skip; a forged skip is refused.
    clock.advance(timedelta(days=1))
    page = password_step(home_browser, UPN).text
    assert "Keep your account secure" in page and 'action="/signin/register/skip"' not in page
    assert "days left" not in page and "day left" not in page
    forged = home_browser.post(
        "/signin/register/skip",
        data={k: v for k, v in re.findall(r'name="(flow|csrf_token)" value="([^"]*)"', page)},
        follow_redirects=False,
    )
    assert forged.status_code == 200 and "add a method" in notice(forged.text)
    clock.advance(timedelta(days=30))
    page = password_step(home_browser, UPN).text
    assert 'action="/signin/register/skip"' not in page

    # Registering ends the prompts: the next sign-in from this browser goes straight through.
    _register_totp(home_browser, page, clock)
    clock.advance(timedelta(hours=1))
    assert password_step(home_browser, UPN).status_code == 303


def test_a_zero_day_window_allows_no_skip(
    defaults_on: None, home_browser: TestClient, services: Services, tenant_id: str
) -> None:
    from limen.store.models import Tenant

    with transaction(services.db) as db:
        tenant = db.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.registration_grace_days = 0
    add_user(services)
    page = password_step(home_browser, UPN).text
    assert "Keep your account secure" in page and 'action="/signin/register/skip"' not in page


def test_admins_do_mfa_at_every_sign_in(
    defaults_on: None, home_browser: TestClient, services: Services, clock: FrozenClock, tenant_id: str
) -> None:
    add_user(services)
    with transaction(services.db) as db:
        directory.create_role_assignment(
            db, tenant_id, clock.now(), principal_id=_user(services).id, role_definition_id=GLOBAL_ADMINISTRATOR
        )
    key = _register_totp(home_browser, password_step(home_browser, UPN).text, clock)
    for _ in range(2):
        clock.advance(timedelta(minutes=5))
        page = password_step(home_browser, UPN)
        assert page.status_code == 200 and "Verify your identity" in page.text
        assert (
            post_form(home_browser, page.text, "/signin/mfa", code=oathtool_code(key, clock.now())).status_code == 303
        )
    with services.db() as db:
        last = db.scalars(
            sa.select(SignInRow).where(SignInRow.error_code == 0).order_by(SignInRow.created_at.desc())
        ).first()
    assert last is not None and last.authentication_requirement == "multiFactorAuthentication"
    assert last.authentication_requirement_policies == [
        {"requirementProvider": "securityDefaults", "detail": "MFA (adminRole)"}
    ]


def test_others_do_mfa_only_when_device_and_network_are_unfamiliar(
    defaults_on: None, home_browser: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    key = _register_totp(home_browser, password_step(home_browser, UPN).text, clock)

    # Same browser, same network: no MFA.
    clock.advance(timedelta(days=2))
    assert password_step(home_browser, UPN).status_code == 303
    # A new browser on the same /24: the network is familiar, no MFA.
    with browser(services, ip="198.51.100.200") as laptop:
        assert password_step(laptop, UPN).status_code == 303
    # The home browser travelling to another network: the device is familiar, no MFA.
    with browser(services, ip="203.0.113.9") as travelling:
        travelling.cookies.update(home_browser.cookies)
        assert password_step(travelling, UPN).status_code == 303
    # A new browser on a new network: MFA.
    with browser(services, ip="192.0.2.44") as stranger:
        page = password_step(stranger, UPN)
        assert page.status_code == 200 and "Verify your identity" in page.text
        clock.advance(timedelta(seconds=30))
        assert post_form(stranger, page.text, "/signin/mfa", code=oathtool_code(key, clock.now())).status_code == 303
    # Familiarity fades after 90 days without a sign-in from there.
    clock.advance(timedelta(days=91))
    page = password_step(home_browser, UPN)
    assert page.status_code == 200 and "Verify your identity" in page.text


def test_security_defaults_and_enabled_policies_exclude_each_other(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    url = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"
    assert client.get(url, headers=admin_headers).json()["isEnabled"] is False
    with transaction(services.db) as db:
        db.add(
            ConditionalAccessPolicy(
                id="4e5a0d5c-6f1c-4d2b-9a57-1b0f3c2d9e11",
                tenant_id=tenant_id,
                display_name="Require MFA for admins",
                state="enabled",
                document={"displayName": "Require MFA for admins", "state": "enabled"},
                created_at=clock.now(),
            )
        )
    refused = client.patch(url, json={"isEnabled": True}, headers=admin_headers)
    assert refused.status_code == 400
    assert "'Require MFA for admins'" in refused.json()["error"]["message"]
    assert client.get(url, headers=admin_headers).json()["isEnabled"] is False

    # Report-only policies may stay beside security defaults.
    with transaction(services.db) as db:
        policy = db.get(ConditionalAccessPolicy, "4e5a0d5c-6f1c-4d2b-9a57-1b0f3c2d9e11")
        assert policy is not None
        policy.state = "enabledForReportingButNotEnforced"
    assert client.patch(url, json={"isEnabled": True}, headers=admin_headers).status_code == 204
    assert client.get(url, headers=admin_headers).json()["isEnabled"] is True

    # And the reverse: no policy may be enabled while security defaults are on.
    with services.db() as db, pytest.raises(security_defaults.MutuallyExclusive) as raised:
        security_defaults.ensure_policy_can_be_enabled(db, tenant_id)
    assert "security defaults are on" in raised.value.message


def test_the_policy_api_refuses_bad_bodies(client: TestClient, admin_headers: dict[str, str]) -> None:
    url = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"
    for body, fragment in (
        ({"isEnabled": "yes"}, "isEnabled"),
        ({"displayName": "x"}, "read-only"),
        ({"enabled": True}, "does not exist"),
    ):
        response = client.patch(url, json=body, headers=admin_headers)
        assert response.status_code == 400 and fragment in response.json()["error"]["message"], response.text
    assert client.patch(url, json={"isEnabled": True}).status_code == 401
