"""Conditional Access end to end over real HTTP against `limen serve`: an admin switches security defaults
off and creates a named location and three policies through the Graph API; then a location policy
blocks a sign-in from outside the named location (and lets it in once the location covers the address),
a role policy asks an administrator for MFA (codes from Debian's `oathtool`) and not a plain user, and a
report-only block policy is logged for every sign-in but never enforced."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from limen.domain.directory import GLOBAL_ADMINISTRATOR
from limen.service import directory
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import SignInRow
from tests.conftest import ADMIN_TOKEN, make_env
from tests.support.forms import form_with
from tests.support.live import free_port, limen_server
from tests.support.oidc import authorize_params, query_of
from tests.support.seed import DEFAULT_PASSWORD, Client, add_client, add_user, register_totp
from tests.support.signin import oathtool_code

ADELE = "adele.vance@contoso.test"
ALEX = "alex.wilber@contoso.test"


def sign_in(base: str, rp: Client, upn: str, totp_secret: str | None = None) -> httpx.Response:
    """A fresh browser through authorize, the username and password forms, and MFA when asked; returns
    the last answer (a redirect to the application, or the page that stopped the sign-in)."""
    with httpx.Client(base_url=base, timeout=30) as browser:
        to_signin = browser.get("/oauth2/authorize", params=authorize_params(rp))
        assert to_signin.status_code == 303, to_signin.text
        page = browser.get(to_signin.headers["location"])
        identify = form_with(page.text, "/signin/identify")
        page = browser.post("/signin/identify", data={**identify.fields, "username": upn})
        password = form_with(page.text, "/signin/password")
        answer = browser.post("/signin/password", data={**password.fields, "password": DEFAULT_PASSWORD})
        if answer.status_code == 200 and "Verify your identity" in answer.text:
            assert totp_secret is not None, f"{upn} was asked for MFA"
            mfa = form_with(answer.text, "/signin/mfa")
            # The live server keeps real time.
            code = oathtool_code(totp_secret, datetime.now(UTC))
            answer = browser.post("/signin/mfa", data={**mfa.fields, "code": code})
        return answer


def reached_app(answer: httpx.Response, rp: Client) -> bool:
    location = answer.headers.get("location", "")
    return answer.status_code == 303 and location.startswith(f"{rp.redirect_uri}?") and "code" in query_of(location)


def graph(admin: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = admin.request(method, f"/v1.0/{path}", json=body)
    assert answer.status_code in (200, 201, 204), f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json() if answer.status_code != 204 else {}


def policy(name: str, state: str, users: dict[str, Any], controls: list[str], **conditions: Any) -> dict[str, Any]:
    return {
        "displayName": name,
        "state": state,
        "conditions": {
            "users": users,
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
            **conditions,
        },
        "grantControls": {"operator": "OR", "builtInControls": controls},
    }


def rows(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))


def results_of(row: SignInRow) -> dict[str, str]:
    return {p["displayName"]: p["result"] for p in row.applied_conditional_access_policies}


def test_location_role_and_report_only_policies_over_real_http(
    services: Services, tenant_id: str, tmp_path: Path, database_url: str
) -> None:
    adele = add_user(services, ADELE)
    alex = add_user(services, ALEX, name="Alex Wilber")
    with transaction(services.db) as db:
        directory.create_role_assignment(
            db, tenant_id, services.clock.now(), principal_id=alex.id, role_definition_id=GLOBAL_ADMINISTRATOR
        )
    alex_totp = register_totp(services, alex.id)
    rp = add_client(services)
    port = free_port()
    env = make_env(tmp_path, database_url, LIMEN_ISSUER=f"http://127.0.0.1:{port}")
    env["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    env["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)

    with (
        limen_server(env, port) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin,
    ):
        # The admin's side, all through Graph: defaults off, a trusted office, three policies.
        graph(admin, "PATCH", "policies/identitySecurityDefaultsEnforcementPolicy", {"isEnabled": False})
        office = graph(
            admin,
            "POST",
            "identity/conditionalAccess/namedLocations",
            {
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "displayName": "Head office",
                "isTrusted": True,
                "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "192.0.2.0/24"}],
            },
        )
        located = policy(
            "Adele only from the office",
            "enabled",
            {"includeUsers": [adele.id]},
            ["block"],
            locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
        )
        admins = policy("MFA for administrators", "enabled", {"includeRoles": [GLOBAL_ADMINISTRATOR]}, ["mfa"])
        audit = policy(
            "Block everyone (report-only)", "enabledForReportingButNotEnforced", {"includeUsers": ["All"]}, ["block"]
        )
        for body in (located, admins, audit):
            graph(admin, "POST", "identity/conditionalAccess/policies", body)

        # 127.0.0.1 is not in the office: Adele is blocked, and told so.
        blocked = sign_in(base, rp, ADELE)
        assert blocked.status_code == 403 and "blocks this sign-in" in blocked.text
        # The office's ranges now cover this address: the running server sees the change at once.
        graph(
            admin,
            "PATCH",
            f"identity/conditionalAccess/namedLocations/{office['id']}",
            {
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "ipRanges": [
                    {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "192.0.2.0/24"},
                    {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "127.0.0.1/32"},
                ],
            },
        )
        assert reached_app(sign_in(base, rp, ADELE), rp)

        # The administrator is asked for MFA (and gets through with it); Adele never was.
        assert reached_app(sign_in(base, rp, ALEX, alex_totp), rp)

    log = rows(services)
    assert [(r.user_principal_name, r.error_code) for r in log] == [(ADELE, 53003), (ADELE, 0), (ALEX, 0)]
    first, second, third = log
    assert first.conditional_access_status == "failure"
    assert results_of(first) == {
        "Adele only from the office": "failure",
        "MFA for administrators": "notApplied",
        "Block everyone (report-only)": "reportOnlyFailure",
    }
    assert second.conditional_access_status == "notApplied"
    assert second.authentication_requirement == "singleFactorAuthentication"
    assert results_of(second) == {
        "Adele only from the office": "notApplied",
        "MFA for administrators": "notApplied",
        "Block everyone (report-only)": "reportOnlyFailure",
    }
    assert third.conditional_access_status == "success"
    assert third.authentication_requirement == "multiFactorAuthentication"
    assert results_of(third) == {
        "Adele only from the office": "notApplied",
        "MFA for administrators": "success",
        "Block everyone (report-only)": "reportOnlyFailure",
    }
