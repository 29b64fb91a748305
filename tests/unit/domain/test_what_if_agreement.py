"""Property: What If and the real sign-in agree on which policies apply, for the same facts.

Both paths build the engine's context their own way (the sign-in from `SignInContext` in
`decide`, What If from Graph's request body); for any facts and policies the set of applying
policies must be the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from limen.domain.access.decision import ClientAppType, PolicySet, SignInContext, decide
from limen.domain.access.engine import compile_policy_set, evaluate
from limen.domain.access.what_if import parse_request
from limen.domain.directory import GLOBAL_ADMINISTRATOR

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
USER = "0f6b2c1e-0000-4000-8000-000000000001"
GROUPS = ["1a2b3c4d-0000-4000-8000-00000000000a", "1a2b3c4d-0000-4000-8000-00000000000b"]
APPS = ["5e6f7a8b-0000-4000-8000-0000000000a1", "5e6f7a8b-0000-4000-8000-0000000000a2"]
LOCATION = "9c8d7e6f-0000-4000-8000-0000000000c1"
NAMED_LOCATIONS = {
    LOCATION: {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "id": LOCATION,
        "displayName": "France",
        "countriesAndRegions": ["FR"],
        "includeUnknownCountriesAndRegions": False,
    }
}
APPLIED = {"success", "failure", "reportOnlySuccess", "reportOnlyFailure", "reportOnlyInterrupted"}


def policy(index: int, users: dict[str, Any], apps: list[str], extra: dict[str, Any], state: str) -> dict[str, Any]:
    conditions: dict[str, Any] = {
        "users": users,
        "applications": {"includeApplications": apps},
        "clientAppTypes": ["all"],
    }
    conditions.update(extra)
    return {
        "id": f"00000000-0000-4000-8000-{index:012d}",
        "displayName": f"Policy {index}",
        "state": state,
        "conditions": conditions,
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }


users_conditions = st.sampled_from(
    [
        {"includeUsers": ["All"]},
        {"includeUsers": ["All"], "excludeGroups": [GROUPS[0]]},
        {"includeGroups": [GROUPS[1]]},
        {"includeRoles": [GLOBAL_ADMINISTRATOR]},
        {"includeUsers": [USER]},
        {"includeUsers": ["GuestsOrExternalUsers"]},
    ]
)
extras = st.sampled_from(
    [
        {},
        {"clientAppTypes": ["browser"]},
        {"clientAppTypes": ["exchangeActiveSync", "other"]},
        {"platforms": {"includePlatforms": ["windows", "macOS"]}},
        {"platforms": {"includePlatforms": ["all"], "excludePlatforms": ["linux"]}},
        {"locations": {"includeLocations": [LOCATION]}},
        {"locations": {"includeLocations": ["All"], "excludeLocations": [LOCATION]}},
        {"signInRiskLevels": ["high", "medium"]},
    ]
)
policies = st.lists(
    st.tuples(
        users_conditions,
        st.sampled_from([["All"], [APPS[0]], [APPS[1]]]),
        extras,
        st.sampled_from(["enabled", "enabledForReportingButNotEnforced", "disabled"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    documents=policies,
    groups=st.sets(st.sampled_from(GROUPS)),
    admin=st.booleans(),
    guest=st.booleans(),
    app=st.sampled_from(APPS),
    client=st.sampled_from(list(ClientAppType)),
    platform=st.sampled_from([None, "windows", "macOS", "linux", "iOS"]),
    country=st.sampled_from([None, "FR", "US"]),
    risk=st.sampled_from(["none", "low", "medium", "high"]),
)
def test_what_if_and_the_sign_in_agree(
    documents: list[tuple[dict[str, Any], list[str], dict[str, Any], str]],
    groups: set[str],
    admin: bool,
    guest: bool,
    app: str,
    client: ClientAppType,
    platform: str | None,
    country: str | None,
    risk: str,
) -> None:
    compiled = compile_policy_set([policy(i, *doc) for i, doc in enumerate(documents)], NAMED_LOCATIONS, {}, version=1)
    roles = frozenset({GLOBAL_ADMINISTRATOR}) if admin else frozenset()
    ip = {"FR": "90.0.0.1", "US": "8.8.8.8", None: "10.0.0.1"}[country]
    sign_in = SignInContext(
        tenant_id="t",
        user_id=USER,
        group_ids=frozenset(groups),
        role_ids=roles,
        app_id=app,
        client_app_type=client,
        ip_address=ip,
        user_type="guest" if guest else "member",
        platform=platform,
        country=country,
        sign_in_risk=risk,
    )
    decision = decide(sign_in, PolicySet(conditional_access=compiled), NOW)
    by_sign_in = {p["id"] for p in decision.applied_policies if p["result"] in APPLIED}

    body: dict[str, Any] = {
        "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": USER},
        "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [app]},
        "signInConditions": {
            "clientAppType": client.value,
            "devicePlatform": platform or "all",
            "ipAddress": ip,
            "signInRiskLevel": risk,
            **({"country": country} if country else {}),
        },
    }
    context = parse_request(body).context(
        user_id=USER,
        user_type="Guest" if guest else "Member",
        group_ids=frozenset(groups),
        role_ids=roles,
        country=country,
    )
    by_what_if = {r["id"] for r in evaluate(compiled, context, NOW).what_if() if r["policyApplies"]}
    assert by_what_if == by_sign_in
