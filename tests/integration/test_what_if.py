"""What If (`POST /v1.0/identity/conditionalAccess/evaluate` and `limen what-if`) and its agreement
with the real sign-in for the same context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from limen.cli import app as cli_app
from limen.domain.clock import FrozenClock
from limen.service import conditional_access as ca
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import SignInRow, User
from limen.web.app import create_app
from tests.conftest import make_env
from tests.support.oidc import authorize, authorize_params, sign_in
from tests.support.seed import Client, register_totp
from tests.support.signin import post_form

URL = "/v1.0/identity/conditionalAccess/evaluate"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0"
US_IP = "8.8.8.8"


def _policy(name: str, state: str, conditions: dict[str, Any], controls: list[str]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "users": {"includeUsers": ["All"]},
        "applications": {"includeApplications": ["All"]},
        "clientAppTypes": ["all"],
    }
    base.update(conditions)
    return {
        "displayName": name,
        "state": state,
        "conditions": base,
        "grantControls": {"operator": "OR", "builtInControls": controls},
    }


def seed_policies(services: Services, tenant_id: str) -> dict[str, str]:
    now = services.clock.now()
    with transaction(services.db) as db:
        france = ca.create_named_location(
            db,
            tenant_id,
            {
                "@odata.type": "#microsoft.graph.countryNamedLocation",
                "displayName": "France",
                "countriesAndRegions": ["FR"],
                "includeUnknownCountriesAndRegions": False,
            },
            now,
        ).row.id
        ids = {
            "mfa": ca.create_policy(db, tenant_id, _policy("MFA for everyone", "enabled", {}, ["mfa"]), now),
            "france": ca.create_policy(
                db,
                tenant_id,
                _policy("Block France", "enabled", {"locations": {"includeLocations": [france]}}, ["block"]),
                now,
            ),
            "mac": ca.create_policy(
                db,
                tenant_id,
                _policy(
                    "Report: block macOS",
                    "enabledForReportingButNotEnforced",
                    {"platforms": {"includePlatforms": ["macOS"]}},
                    ["block"],
                ),
                now,
            ),
            "off": ca.create_policy(db, tenant_id, _policy("Disabled block", "disabled", {}, ["block"]), now),
        }
        return {key: str(saved.row.id) for key, saved in ids.items()}


def request(user_id: str, app_id: str, **conditions: Any) -> dict[str, Any]:
    return {
        "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user_id},
        "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [app_id]},
        "signInConditions": {"clientAppType": "browser", "devicePlatform": "windows", **conditions},
        "appliedPoliciesOnly": False,
    }


def test_what_if_reports_each_policy_with_its_reason(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str, user: User, rp: Client
) -> None:
    ids = seed_policies(services, tenant_id)
    response = client.post(URL, json=request(user.id, rp.app_id, ipAddress=US_IP), headers=admin_headers)
    assert response.status_code == 200, response.text
    results = {r["id"]: r for r in response.json()["value"]}
    assert ids["off"] not in results  # disabled policies are not part of the answer
    assert results[ids["mfa"]]["policyApplies"] is True
    assert results[ids["france"]]["policyApplies"] is False and "location" in results[ids["france"]]["analysisReasons"]
    assert results[ids["mac"]]["policyApplies"] is False and "devicePlatform" in results[ids["mac"]]["analysisReasons"]

    french = client.post(URL, json=request(user.id, rp.app_id, country="FR"), headers=admin_headers).json()["value"]
    assert {r["id"] for r in french if r["policyApplies"]} == {ids["mfa"], ids["france"]}

    applied = {**request(user.id, rp.app_id, ipAddress=US_IP), "appliedPoliciesOnly": True}
    only = client.post(URL, json=applied, headers=admin_headers).json()["value"]
    assert [r["id"] for r in only] == [ids["mfa"]]


def test_what_if_and_the_sign_in_agree(
    services: Services, tenant_id: str, user: User, rp: Client, clock: FrozenClock, admin_headers: dict[str, str]
) -> None:
    ids = seed_policies(services, tenant_id)
    secret = register_totp(services, user.id)
    clock.advance(timedelta(seconds=30))
    with TestClient(
        create_app(services), base_url="http://127.0.0.1:8000", client=(US_IP, 40000), headers={"User-Agent": WINDOWS}
    ) as browser:
        page = sign_in(browser, authorize(browser, authorize_params(rp)), user.user_principal_name)
        assert "Verify your identity" in page.text
        done = post_form(browser, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
        assert done.status_code == 303
        what_if = browser.post(URL, json=request(user.id, rp.app_id, ipAddress=US_IP), headers=admin_headers)
    predicted = {r["id"] for r in what_if.json()["value"] if r["policyApplies"]}
    with services.db() as db:
        logged = db.scalars(sa.select(SignInRow).where(SignInRow.error_code == 0)).one()
    not_applied = {"notApplied", "reportOnlyNotApplied", "notEnabled"}
    applied = {p["id"] for p in logged.applied_conditional_access_policies if p["result"] not in not_applied}
    assert predicted == applied == {ids["mfa"]}


def test_what_if_refuses_bad_requests(client: TestClient, admin_headers: dict[str, str], user: User) -> None:
    good = request(user.id, "00000000-0000-0000-0000-000000000001")
    cases = [
        ({k: v for k, v in good.items() if k != "signInIdentity"}, 400, "signInIdentity"),
        ({**good, "signInIdentity": {"userId": "6d1c0f8e-0000-4000-8000-000000000000"}}, 404, "does not exist"),
        ({**good, "signInConditions": {"clientAppType": "fax"}}, 400, "clientAppType"),
        ({**good, "signInConditions": {"country": "France"}}, 400, "country"),
        ({**good, "signInContext": {"@odata.type": "#microsoft.graph.nothing"}}, 400, "signInContext"),
        ({**good, "appliedPoliciesOnly": "yes"}, 400, "appliedPoliciesOnly"),
        ({**good, "extra": 1}, 400, "extra"),
    ]
    for body, status, fragment in cases:
        response = client.post(URL, json=body, headers=admin_headers)
        assert response.status_code == status and fragment in response.json()["error"]["message"], response.text
    assert client.post(URL, json=good).status_code == 401


def test_the_what_if_command(
    services: Services, tenant_id: str, user: User, rp: Client, tmp_path: Any, database_url: str
) -> None:
    ids = seed_policies(services, tenant_id)
    env = make_env(tmp_path, database_url, COLUMNS="200")
    env["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    env["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)
    runner_ = CliRunner()
    result = runner_.invoke(
        cli_app,
        [
            "what-if",
            "--user",
            user.user_principal_name,
            "--app",
            rp.app_id,
            "--country",
            "FR",
            "--platform",
            "windows",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    import json

    applies = {r["id"] for r in json.loads(result.stdout)["value"] if r["policyApplies"]}
    assert applies == {ids["mfa"], ids["france"]}
    table = runner_.invoke(cli_app, ["what-if", "--user", user.user_principal_name, "--app", rp.app_id], env=env)
    assert table.exit_code == 0 and "MFA for everyone" in table.stdout
    assert runner_.invoke(cli_app, ["what-if", "--user", user.user_principal_name], env=env).exit_code == 2


def test_the_api_warns_about_a_policy_that_could_lock_everyone_out(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = _policy("Block everyone", "enabledForReportingButNotEnforced", {}, ["block"])
    response = client.post("/v1.0/identity/conditionalAccess/policies", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    messages = " ".join(w["message"] for w in response.json()["@limen.warnings"])
    assert "emergency" in messages.lower()
