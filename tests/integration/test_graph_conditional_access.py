"""`/v1.0/identity/conditionalAccess/...` over HTTP: policies, named locations and authentication
strengths (CRUD, Graph errors with JSON paths, warnings), plans, the mutual exclusion with security
defaults, the 195-policy limit and the tenant's policy version."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.access.schema_strengths import MAX_CUSTOM_STRENGTHS
from limen.domain.clock import FrozenClock
from limen.service import conditional_access as ca
from limen.service import security_defaults
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import ConditionalAccessPolicy, Tenant

BASE = "/v1.0/identity/conditionalAccess"
POLICIES = f"{BASE}/policies"
LOCATIONS = f"{BASE}/namedLocations"
STRENGTHS = f"{BASE}/authenticationStrength/policies"
MFA = "00000000-0000-0000-0000-000000000002"


def body(**changes: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "displayName": "Require MFA for everyone",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }
    policy.update(changes)
    return policy


IP_LOCATION = {
    "@odata.type": "#microsoft.graph.ipNamedLocation",
    "displayName": "HQ egress",
    "isTrusted": True,
    "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}],
}


def schema_warnings(obj: dict[str, Any]) -> list[dict[str, str]]:
    """The validation warnings of a create answer, without lint's (lock-out, contradiction) findings."""
    return [w for w in obj.get("@limen.warnings", []) if not w["message"].startswith(("warning:", "error:"))]


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    detail: dict[str, Any] = response.json()["error"]
    assert detail["code"] == code
    return detail


def version(services: Services, tenant_id: str) -> int:
    with services.db() as db:
        return ca.policy_version(db, tenant_id)


def set_plan(services: Services, tenant_id: str, plan: str) -> None:
    with transaction(services.db) as db:
        db.execute(sa.update(Tenant).where(Tenant.id == tenant_id).values(plan=plan))


# -- policies ----------------------------------------------------------------------------------------


def test_create_get_list_update_and_delete_a_policy(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    before = version(services, tenant_id)
    policy = created(client.post(POLICIES, headers=admin_headers, json=body(id="ignored", templateId=None)))
    assert policy["@odata.context"].endswith("$metadata#identity/conditionalAccess/policies/$entity")
    assert policy["id"] != "ignored" and policy["modifiedDateTime"] is None
    assert policy["createdDateTime"] == clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert policy["conditions"]["users"]["excludeGroups"] == [] and policy["sessionControls"] is None
    # No schema warnings; lint may warn (this policy covers all users without an emergency-access exclusion).
    assert all(w["message"].startswith(("warning:", "error:")) for w in policy.get("@limen.warnings", []))
    assert version(services, tenant_id) == before + 1

    url = f"{POLICIES}/{policy['id']}"
    fetched = client.get(url, headers=admin_headers).json()
    assert {k: v for k, v in fetched.items() if k != "@odata.context"} == {
        k: v for k, v in policy.items() if k not in ("@odata.context", "@limen.warnings")
    }
    listed = client.get(POLICIES, headers=admin_headers).json()
    assert [item["id"] for item in listed["value"]] == [policy["id"]]
    selected = client.get(f"{POLICIES}?$select=displayName,state", headers=admin_headers).json()
    assert selected["value"] == [
        {"displayName": "Require MFA for everyone", "state": "enabledForReportingButNotEnforced"}
    ]

    clock.advance(timedelta(minutes=5))
    # PATCH merges nested objects: only signInRiskLevels changes inside conditions.
    patched = client.patch(
        url, headers=admin_headers, json={"conditions": {"signInRiskLevels": ["high"]}, "state": "disabled"}
    )
    assert patched.status_code == 204 and "Limen-Warnings" not in patched.headers
    fetched = client.get(url, headers=admin_headers).json()
    assert fetched["state"] == "disabled" and fetched["conditions"]["signInRiskLevels"] == ["high"]
    assert fetched["conditions"]["users"]["includeUsers"] == ["All"]
    assert fetched["modifiedDateTime"] == clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert version(services, tenant_id) == before + 2

    assert client.delete(url, headers=admin_headers).status_code == 204
    assert version(services, tenant_id) == before + 3
    error(client.get(url, headers=admin_headers), 404, "Request_ResourceNotFound")
    error(client.delete(url, headers=admin_headers), 404, "Request_ResourceNotFound")


def test_an_invalid_policy_is_a_graph_400_naming_every_path(client: TestClient, admin_headers: dict[str, str]) -> None:
    invalid = body(
        state="on", conditions={"users": {"includeUsers": "All"}, "applications": {"includeApplications": ["All"]}}
    )
    detail = error(client.post(POLICIES, headers=admin_headers, json=invalid), 400, "Request_BadRequest")
    assert detail["message"].startswith("state: 'on' is not a valid conditionalAccessPolicyState value")
    assert [d["target"] for d in detail["details"]] == ["state", "conditions.users.includeUsers"]
    error(client.post(POLICIES, headers=admin_headers, content=b"{not json"), 400, "Request_BadRequest")
    assert client.get(POLICIES, headers=admin_headers).json()["value"] == []


def test_a_failed_patch_changes_nothing(client: TestClient, admin_headers: dict[str, str]) -> None:
    policy = created(client.post(POLICIES, headers=admin_headers, json=body()))
    url = f"{POLICIES}/{policy['id']}"
    detail = error(
        client.patch(
            url,
            headers=admin_headers,
            json={"displayName": "Renamed", "grantControls": {"builtInControls": ["passwordChange"]}},
        ),
        400,
        "Request_BadRequest",
    )
    assert "'passwordChange' must be combined with 'mfa'" in detail["message"]
    assert client.get(url, headers=admin_headers).json()["displayName"] == "Require MFA for everyone"


def test_unknown_references_are_kept_and_reported_as_warnings(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    group_id = "6c96716b-b32b-40b8-9009-49748bb6fcd5"
    conditions = {
        "users": {"includeUsers": ["All"], "excludeGroups": [group_id, "<BreakGlassGroup>"]},
        "applications": {"includeApplications": ["All"]},
        "clientAppTypes": ["All"],
    }
    policy = created(client.post(POLICIES, headers=admin_headers, json=body(conditions=conditions)))
    assert policy["conditions"]["users"]["excludeGroups"] == [group_id, "<BreakGlassGroup>"]
    assert schema_warnings(policy) == [
        {"target": "conditions.clientAppTypes[0]", "message": "'All' normalised to 'all'"},
        {
            "target": "conditions.users.excludeGroups[0]",
            "message": f"group '{group_id}' does not exist in this tenant; it matches nothing",
        },
        {
            "target": "conditions.users.excludeGroups[1]",
            "message": "'<BreakGlassGroup>' is not an object id (a template placeholder?); it matches no group",
        },
    ]
    # A known group gives no warning; PATCH reports the count, or the object with Prefer: return=representation.
    group = created(client.post("/v1.0/groups", headers=admin_headers, json={"displayName": "Break glass"}))
    url = f"{POLICIES}/{policy['id']}"
    patch = {"conditions": {"users": {"excludeGroups": [group["id"], "<BreakGlassGroup>"]}}}
    response = client.patch(url, headers=admin_headers, json=patch)
    assert response.status_code == 204 and response.headers["Limen-Warnings"] == "1"
    response = client.patch(url, headers={**admin_headers, "Prefer": "return=representation"}, json=patch)
    assert response.status_code == 200
    assert [w["target"] for w in response.json()["@limen.warnings"]] == ["conditions.users.excludeGroups[1]"]
    assert response.json()["conditions"]["users"]["excludeGroups"][0] == group["id"]


def test_collections_refuse_paging_options_they_do_not_support(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for query in ("$top=5", "$filter=state eq 'enabled'", "$orderby=displayName"):
        error(client.get(f"{POLICIES}?{query}", headers=admin_headers), 400, "Request_BadRequest")
    error(client.get(f"{POLICIES}?$select=nope", headers=admin_headers), 400, "Request_BadRequest")


def test_the_api_needs_the_admin_token(client: TestClient) -> None:
    error(client.get(POLICIES), 401, "InvalidAuthenticationToken")
    error(client.post(LOCATIONS, json=IP_LOCATION), 401, "InvalidAuthenticationToken")


# -- security defaults, plans, limits -----------------------------------------------------------------


def test_no_policy_can_be_enabled_while_security_defaults_are_on(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str
) -> None:
    with transaction(services.db) as db:
        security_defaults.set_enabled(db, tenant_id, True)
    detail = error(client.post(POLICIES, headers=admin_headers, json=body(state="enabled")), 400, "conflictingObjects")
    assert "security defaults are on" in detail["message"]
    report_only = created(client.post(POLICIES, headers=admin_headers, json=body()))
    disabled = created(client.post(POLICIES, headers=admin_headers, json=body(state="disabled")))
    for policy in (report_only, disabled):
        response = client.patch(f"{POLICIES}/{policy['id']}", headers=admin_headers, json={"state": "enabled"})
        error(response, 400, "conflictingObjects")
    # Other changes to a report-only policy are fine.
    response = client.patch(f"{POLICIES}/{report_only['id']}", headers=admin_headers, json={"displayName": "Renamed"})
    assert response.status_code == 204

    with transaction(services.db) as db:
        security_defaults.set_enabled(db, tenant_id, False)
    response = client.patch(f"{POLICIES}/{report_only['id']}", headers=admin_headers, json={"state": "enabled"})
    assert response.status_code == 204
    # And now security defaults can't be turned back on (limen.service.security_defaults).
    error(
        client.patch(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy", headers=admin_headers, json={"isEnabled": True}
        ),
        400,
        "conflictingObjects",
    )


def test_plans_free_has_no_conditional_access_and_p1_no_risk_conditions(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str
) -> None:
    set_plan(services, tenant_id, "free")
    detail = error(client.post(POLICIES, headers=admin_headers, json=body()), 403, "Authorization_RequestDenied")
    assert "plan p1 or p2" in detail["message"]
    error(client.post(LOCATIONS, headers=admin_headers, json=IP_LOCATION), 403, "Authorization_RequestDenied")

    set_plan(services, tenant_id, "p1")
    risky = body(conditions={**body()["conditions"], "signInRiskLevels": ["high"]})
    detail = error(client.post(POLICIES, headers=admin_headers, json=risky), 403, "Authorization_RequestDenied")
    assert "need plan p2" in detail["message"]
    policy = created(client.post(POLICIES, headers=admin_headers, json=body()))
    response = client.patch(
        f"{POLICIES}/{policy['id']}", headers=admin_headers, json={"conditions": {"userRiskLevels": ["high"]}}
    )
    error(response, 403, "Authorization_RequestDenied")

    set_plan(services, tenant_id, "p2")
    created(client.post(POLICIES, headers=admin_headers, json=risky))


def test_a_tenant_has_at_most_195_policies(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str
) -> None:
    with transaction(services.db) as db:
        for index in range(ca.MAX_POLICIES - 1):
            ca.create_policy(db, tenant_id, body(displayName=f"Policy {index}"), services.clock.now())
    last = created(client.post(POLICIES, headers=admin_headers, json=body(state="disabled")))
    detail = error(client.post(POLICIES, headers=admin_headers, json=body()), 400, "limitReached")
    assert "at most 195" in detail["message"]
    assert client.delete(f"{POLICIES}/{last['id']}", headers=admin_headers).status_code == 204
    created(client.post(POLICIES, headers=admin_headers, json=body()))
    with services.db() as db:
        count = db.scalar(sa.select(sa.func.count()).select_from(ConditionalAccessPolicy))
    assert count == ca.MAX_POLICIES


# -- named locations ---------------------------------------------------------------------------------


def test_named_locations_crud(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str
) -> None:
    before = version(services, tenant_id)
    location = created(client.post(LOCATIONS, headers=admin_headers, json=IP_LOCATION))
    assert location["@odata.type"] == "#microsoft.graph.ipNamedLocation" and location["isTrusted"] is True
    country = created(
        client.post(
            LOCATIONS,
            headers=admin_headers,
            json={
                "@odata.type": "#microsoft.graph.countryNamedLocation",
                "displayName": "Allowed",
                "countriesAndRegions": ["nl"],
            },
        )
    )
    assert country["countriesAndRegions"] == ["NL"] and country["countryLookupMethod"] == "clientIpAddress"
    assert [w["target"] for w in country["@limen.warnings"]] == ["countriesAndRegions[0]"]
    listed = client.get(LOCATIONS, headers=admin_headers).json()["value"]
    # Same creation time (the clock is frozen): by display name.
    assert [item["displayName"] for item in listed] == ["Allowed", "HQ egress"]

    url = f"{LOCATIONS}/{location['id']}"
    # A trusted location must be un-trusted before it can go (SPEC.md §2.7).
    error(client.delete(url, headers=admin_headers), 400, "namedLocationTrusted")
    patch = {"@odata.type": "#microsoft.graph.ipNamedLocation", "isTrusted": False}
    assert client.patch(url, headers=admin_headers, json=patch).status_code == 204
    # A location a policy uses can't go either: the policy would silently stop matching.
    conditions = {**body()["conditions"], "locations": {"includeLocations": [location["id"]]}}
    policy = created(client.post(POLICIES, headers=admin_headers, json=body(conditions=conditions)))
    assert schema_warnings(policy) == []
    detail = error(client.delete(url, headers=admin_headers), 400, "namedLocationInUse")
    assert "Require MFA for everyone" in detail["message"]
    assert client.delete(f"{POLICIES}/{policy['id']}", headers=admin_headers).status_code == 204
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert version(services, tenant_id) == before + 6


def test_named_location_errors(client: TestClient, admin_headers: dict[str, str]) -> None:
    untyped = {k: v for k, v in IP_LOCATION.items() if k != "@odata.type"}
    detail = error(client.post(LOCATIONS, headers=admin_headers, json=untyped), 400, "Request_BadRequest")
    assert detail["details"][0]["target"] == "@odata.type"
    bad_range = {**IP_LOCATION, "ipRanges": [{"cidrAddress": "10.0.0.0/8"}]}
    detail = error(client.post(LOCATIONS, headers=admin_headers, json=bad_range), 400, "Request_BadRequest")
    assert detail["details"][0]["target"] == "ipRanges[0].cidrAddress"
    location = created(client.post(LOCATIONS, headers=admin_headers, json=IP_LOCATION))
    change_type = {"@odata.type": "#microsoft.graph.countryNamedLocation", "countriesAndRegions": ["NL"]}
    detail = error(
        client.patch(f"{LOCATIONS}/{location['id']}", headers=admin_headers, json=change_type),
        400,
        "Request_BadRequest",
    )
    assert detail["message"].startswith("@odata.type:")
    error(client.get(f"{LOCATIONS}/not-a-location", headers=admin_headers), 404, "Request_ResourceNotFound")


# -- authentication strengths ------------------------------------------------------------------------


def test_strengths_list_the_built_ins_and_custom_ones(client: TestClient, admin_headers: dict[str, str]) -> None:
    listed = client.get(STRENGTHS, headers=admin_headers).json()["value"]
    assert [(s["displayName"], s["policyType"]) for s in listed] == [
        ("Multifactor authentication", "builtIn"),
        ("Passwordless MFA", "builtIn"),
        ("Phishing-resistant MFA", "builtIn"),
    ]
    custom = created(
        client.post(
            STRENGTHS,
            headers=admin_headers,
            json={"displayName": "Authenticator app", "allowedCombinations": ["password,softwareOath"]},
        )
    )
    assert custom["policyType"] == "custom" and custom["requirementsSatisfied"] == "mfa"
    assert client.get(f"{STRENGTHS}/{custom['id']}", headers=admin_headers).json()["displayName"] == "Authenticator app"
    assert client.get(f"{STRENGTHS}/{MFA}", headers=admin_headers).json()["policyType"] == "builtIn"
    assert len(client.get(STRENGTHS, headers=admin_headers).json()["value"]) == 4

    url = f"{STRENGTHS}/{custom['id']}"
    response = client.patch(
        url, headers={**admin_headers, "Prefer": "return=representation"}, json={"allowedCombinations": ["sms"]}
    )
    assert response.status_code == 200 and response.json()["requirementsSatisfied"] == "none"
    error(
        client.patch(f"{STRENGTHS}/{MFA}", headers=admin_headers, json={"displayName": "Mine"}),
        400,
        "Request_BadRequest",
    )
    error(client.delete(f"{STRENGTHS}/{MFA}", headers=admin_headers), 400, "Request_BadRequest")
    detail = error(
        client.post(STRENGTHS, headers=admin_headers, json={"displayName": "Guests", "allowedCombinations": ["email"]}),
        400,
        "Request_BadRequest",
    )
    assert detail["details"][0]["target"] == "allowedCombinations[0]"

    # Policies name strengths by id; GET expands them, as Graph does.
    grant = {"operator": "OR", "builtInControls": [], "authenticationStrength": {"id": custom["id"]}}
    policy = created(client.post(POLICIES, headers=admin_headers, json=body(grantControls=grant)))
    assert policy["grantControls"]["authenticationStrength"]["displayName"] == "Authenticator app"
    error(client.delete(url, headers=admin_headers), 400, "authenticationStrengthInUse")
    assert client.delete(f"{POLICIES}/{policy['id']}", headers=admin_headers).status_code == 204
    assert client.delete(url, headers=admin_headers).status_code == 204


def test_a_policy_naming_an_unknown_strength_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    grant = {
        "operator": "OR",
        "builtInControls": [],
        "authenticationStrength": {"id": "6e301588-db43-4d12-a79b-b2b2cc6cfad5"},
    }
    detail = error(
        client.post(POLICIES, headers=admin_headers, json=body(grantControls=grant)), 400, "Request_BadRequest"
    )
    assert detail["details"] == [
        {
            "code": "invalidProperty",
            "target": "grantControls.authenticationStrength.id",
            "message": "authentication strength '6e301588-db43-4d12-a79b-b2b2cc6cfad5' does not exist; create it first "
            "(POST /v1.0/identity/conditionalAccess/authenticationStrength/policies) or use a built-in one",
        }
    ]


def test_a_tenant_has_at_most_15_custom_strengths(client: TestClient, admin_headers: dict[str, str]) -> None:
    for index in range(MAX_CUSTOM_STRENGTHS):
        created(
            client.post(
                STRENGTHS, headers=admin_headers, json={"displayName": f"S{index}", "allowedCombinations": ["fido2"]}
            )
        )
    error(
        client.post(
            STRENGTHS, headers=admin_headers, json={"displayName": "One more", "allowedCombinations": ["fido2"]}
        ),
        400,
        "limitReached",
    )
