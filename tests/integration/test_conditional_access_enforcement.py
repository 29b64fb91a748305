"""Conditional Access at sign-in: enabled policies are enforced, report-only ones only logged, and the
sign-in log carries conditionalAccessStatus and appliedConditionalAccessPolicies."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service import conditional_access as ca
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import Device, SignInRow, User
from tests.support.seed import add_user, register_totp
from tests.support.signin import password_step, post_form

UPN = "adele.vance@contoso.test"


def policy(name: str, state: str = "enabled", **grant: Any) -> dict[str, Any]:
    return {
        "displayName": name,
        "state": state,
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": grant.get("controls", ["mfa"])},
    }


def add_policy(services: Services, tenant_id: str, body: dict[str, Any]) -> str:
    with transaction(services.db) as db:
        saved = ca.create_policy(db, tenant_id, body, services.clock.now())
        return str(saved.row.id)


def last_success(services: Services) -> SignInRow:
    with services.db() as db:
        return db.scalars(
            sa.select(SignInRow).where(SignInRow.error_code == 0).order_by(SignInRow.created_at.desc())
        ).first()  # type: ignore[return-value]


def test_an_enabled_mfa_policy_asks_for_mfa_and_is_logged(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    user = add_user(services)
    secret = register_totp(services, user.id)
    policy_id = add_policy(services, tenant_id, policy("Require MFA for all users"))
    clock.advance(timedelta(seconds=30))
    page = password_step(client, UPN)
    assert page.status_code == 200 and "Verify your identity" in page.text
    done = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert done.status_code == 303
    row = last_success(services)
    assert row.conditional_access_status == "success"
    [applied] = [p for p in row.applied_conditional_access_policies if p["id"] == policy_id]
    assert applied["result"] == "success" and "mfa" in str(applied["enforcedGrantControls"]).lower()


def test_a_block_policy_blocks_and_report_only_only_logs(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    add_user(services)
    report_only = add_policy(
        services,
        tenant_id,
        policy("Block everyone (report-only)", "enabledForReportingButNotEnforced", controls=["block"]),
    )
    assert password_step(client, UPN).status_code == 303  # report-only never changes the outcome
    row = last_success(services)
    assert row.conditional_access_status == "notApplied"
    [logged] = [p for p in row.applied_conditional_access_policies if p["id"] == report_only]
    assert logged["result"] == "reportOnlyFailure"

    enforced = add_policy(services, tenant_id, policy("Block everyone", controls=["block"]))
    client.cookies.clear()
    clock.advance(timedelta(seconds=1))
    blocked = password_step(client, UPN)
    assert blocked.status_code == 403 and "blocks this sign-in" in blocked.text
    with services.db() as db:
        row = db.scalars(sa.select(SignInRow).where(SignInRow.error_code == 53003)).one()
    assert row.conditional_access_status == "failure"
    results = {p["id"]: p["result"] for p in row.applied_conditional_access_policies}
    assert results[enforced] == "failure" and results[report_only] == "reportOnlyFailure"


def test_a_policy_requiring_mfa_sends_a_user_without_methods_to_register(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    add_user(services)
    add_policy(services, tenant_id, policy("Require MFA for all users"))
    page = password_step(client, UPN)
    assert page.status_code == 200 and "Keep your account secure" in page.text
    assert 'action="/signin/register/skip"' not in page.text
    page = post_form(client, page.text, "/signin/register", kind="softwareOath").text
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert post_form(client, page, "/signin/register/finish", code=pyotp.TOTP(key).at(clock.now())).status_code == 303


def test_a_location_policy_blocks_sign_ins_from_outside_the_named_location(
    services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    from limen.web.app import create_app

    add_user(services)
    with transaction(services.db) as db:
        office = ca.create_named_location(
            db,
            tenant_id,
            {
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "displayName": "Head office",
                "isTrusted": True,
                "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "81.2.69.0/24"}],
            },
            clock.now(),
        ).row.id
    body = policy("Block outside the office", controls=["block"])
    body["conditions"]["locations"] = {"includeLocations": ["All"], "excludeLocations": [office]}
    add_policy(services, tenant_id, body)
    with TestClient(create_app(services), base_url="http://127.0.0.1:8000", client=("81.2.69.142", 40000)) as inside:
        assert password_step(inside, UPN).status_code == 303
    clock.advance(timedelta(seconds=1))
    with TestClient(create_app(services), base_url="http://127.0.0.1:8000", client=("8.8.8.8", 40000)) as outside:
        blocked = password_step(outside, UPN)
        assert blocked.status_code == 403
    with services.db() as db:
        rows = {r.ip_address: r for r in db.scalars(sa.select(SignInRow))}
    assert rows["81.2.69.142"].error_code == 0 and rows["81.2.69.142"].conditional_access_status == "notApplied"
    assert rows["8.8.8.8"].error_code == 53003 and rows["8.8.8.8"].conditional_access_status == "failure"


def test_a_role_policy_asks_admins_for_mfa_and_not_others(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    from limen.domain.directory import GLOBAL_ADMINISTRATOR
    from limen.service import directory

    user = add_user(services)
    add_user(services, "megan.bowen@contoso.test", name="Megan Bowen", mail="megan.bowen@contoso.test")
    secret = register_totp(services, user.id)
    with transaction(services.db) as db:
        admin = db.scalars(sa.select(User).where(User.user_principal_name == UPN)).one()
        directory.create_role_assignment(
            db, tenant_id, clock.now(), principal_id=admin.id, role_definition_id=GLOBAL_ADMINISTRATOR
        )
    body = policy("Require MFA for admins")
    body["conditions"]["users"] = {"includeRoles": [GLOBAL_ADMINISTRATOR]}
    add_policy(services, tenant_id, body)
    clock.advance(timedelta(seconds=30))
    page = password_step(client, UPN)
    assert page.status_code == 200 and "Verify your identity" in page.text
    assert post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now())).status_code == 303
    client.cookies.clear()
    assert password_step(client, "megan.bowen@contoso.test").status_code == 303


def test_a_compliant_device_policy_lets_enrolled_compliant_devices_in(
    services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    from limen.web.app import create_app
    from tests.integration.test_devices_service import _enrolled

    add_user(services)
    laptop, secret = _enrolled(services, tenant_id)  # a compliant, Entra-joined laptop
    kiosk, unmanaged = _enrolled(services, tenant_id, {"displayName": "KIOSK-1", "isCompliant": False})
    body = policy("Require a compliant device", controls=["compliantDevice"])
    body["conditions"]["devices"] = {
        "deviceFilter": {"mode": "exclude", "rule": 'device.extensionAttribute1 -eq "Kiosk"'}
    }
    add_policy(services, tenant_id, body)
    for cookie, expected in ((secret, 303), (unmanaged, 403), (None, 403)):
        clock.advance(timedelta(seconds=1))
        with TestClient(create_app(services), base_url="http://127.0.0.1:8000") as browser:
            if cookie:
                browser.cookies.set("limen_device", cookie)
            assert password_step(browser, UPN).status_code == expected, cookie
    # The log shows which registered device each sign-in came from; the successful one is noted on it.
    with services.db() as db:
        logged = [r.device_detail for r in db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at))][-3:]
        last_seen = {d.id: d.approximate_last_sign_in_at for d in db.scalars(sa.select(Device))}
    assert logged[0]["deviceId"] == laptop.device_id and logged[0]["isCompliant"] is True
    assert logged[0]["trustType"] == laptop.trust_type and logged[0]["displayName"] == laptop.display_name
    assert logged[1]["displayName"] == "KIOSK-1" and logged[1]["isCompliant"] is False
    assert logged[2]["deviceId"] == ""
    assert last_seen[laptop.id] == clock.now() - timedelta(seconds=2) and last_seen[kiosk.id] is None
