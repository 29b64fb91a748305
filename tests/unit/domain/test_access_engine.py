"""The Conditional Access engine, condition by condition and control by control (SPEC.md §3)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from limen.domain.access import strengths
from limen.domain.access.context import EvaluationContext
from limen.domain.access.controls import Control, GrantStatus
from limen.domain.access.engine import (
    CompiledPolicySet,
    CompletedStep,
    Evaluation,
    PolicyEvaluation,
    PolicyResult,
    compile_policy_set,
    evaluate,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
USER = "11111111-1111-1111-1111-111111111111"
OTHER_USER = "22222222-2222-2222-2222-222222222222"
GROUP = "33333333-3333-3333-3333-333333333333"
NESTED_PARENT = "44444444-4444-4444-4444-444444444444"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
APP = "55555555-5555-5555-5555-555555555555"
OTHER_APP = "66666666-6666-6666-6666-666666666666"
OFFICE = "77777777-7777-7777-7777-777777777777"
HQ = "88888888-8888-8888-8888-888888888888"
ALLOWED_COUNTRIES = "99999999-9999-9999-9999-999999999999"
GPS_COUNTRIES = "aaaaaaaa-9999-9999-9999-999999999999"
COMPLIANT_NETWORK = "bbbbbbbb-9999-9999-9999-999999999999"
CUSTOM_STRENGTH = "cccccccc-0000-0000-0000-000000000001"
KEY_ONLY_STRENGTH = "cccccccc-0000-0000-0000-000000000002"
ALLOWED_AAGUID = "ee882879-721c-4913-9775-3dfcce97072a"

LOCATIONS: dict[str, dict[str, Any]] = {
    HQ: {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": "HQ",
        "isTrusted": True,
        "ipRanges": [
            {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
            {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/48"},
        ],
    },
    ALLOWED_COUNTRIES: {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "displayName": "Allowed countries",
        "countriesAndRegions": ["US", "GB"],
        "includeUnknownCountriesAndRegions": False,
    },
    GPS_COUNTRIES: {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "displayName": "GPS",
        "countriesAndRegions": ["US"],
        "countryLookupMethod": "authenticatorAppGps",
    },
    COMPLIANT_NETWORK: {"@odata.type": "#microsoft.graph.compliantNetworkNamedLocation", "displayName": "GSA"},
}
STRENGTHS: dict[str, dict[str, Any]] = {
    CUSTOM_STRENGTH: {
        "id": CUSTOM_STRENGTH,
        "displayName": "Authenticator app codes",
        "policyType": "custom",
        "allowedCombinations": ["password,softwareOath"],
    },
    KEY_ONLY_STRENGTH: {
        "id": KEY_ONLY_STRENGTH,
        "displayName": "Only our security keys",
        "policyType": "custom",
        "allowedCombinations": ["fido2"],
        "combinationConfigurations": [
            {
                "@odata.type": "#microsoft.graph.fido2CombinationConfiguration",
                "allowedAAGUIDs": [ALLOWED_AAGUID.upper()],
                "appliesToCombinations": ["fido2"],
            }
        ],
    },
}

PASSWORD = CompletedStep("password", NOW)
TOTP = CompletedStep("softwareOath", NOW)


def policy(
    pid: str = "p1",
    *,
    state: str = "enabled",
    users: Mapping[str, Any] | None = None,
    apps: Mapping[str, Any] | None = None,
    grant: tuple[str, ...] | None = ("mfa",),
    operator: str = "OR",
    strength: str | None = None,
    session: Mapping[str, Any] | None = None,
    **conditions: Any,
) -> dict[str, Any]:
    """A Graph conditionalAccessPolicy: all users, all apps, MFA, unless told otherwise."""
    grant_controls = None
    if grant is not None or strength is not None:
        grant_controls = {
            "operator": operator,
            "builtInControls": list(grant or ()),
            "customAuthenticationFactors": [],
            "termsOfUse": [],
            "authenticationStrength": {"id": strength} if strength else None,
        }
    return {
        "id": pid,
        "displayName": f"Policy {pid}",
        "state": state,
        "conditions": {
            "users": dict(users) if users is not None else {"includeUsers": ["All"]},
            "applications": dict(apps) if apps is not None else {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
            **conditions,
        },
        "grantControls": grant_controls,
        "sessionControls": dict(session) if session is not None else None,
    }


def compile_(*policies: dict[str, Any]) -> CompiledPolicySet:
    return compile_policy_set(list(policies), LOCATIONS, STRENGTHS, version=7)


def context(**changes: Any) -> EvaluationContext:
    values: dict[str, Any] = {
        "user_id": USER,
        "app_id": APP,
        "ip_address": "198.51.100.7",
        "country": "FR",
        "platform": "windows",
        "completed": (PASSWORD,),
        "registered_modes": frozenset({"password", "softwareOath"}),
    }
    values.update(changes)
    return EvaluationContext(**values)


def run(*policies: dict[str, Any], **changes: Any) -> Evaluation:
    return evaluate(compile_(*policies), context(**changes), NOW)


def only(evaluation: Evaluation) -> PolicyEvaluation:
    assert len(evaluation.policies) == 1
    return evaluation.policies[0]


def applies(document: dict[str, Any], **changes: Any) -> bool:
    return only(run(document, **changes)).applies


def reasons(document: dict[str, Any], **changes: Any) -> tuple[str, ...]:
    return only(run(document, **changes)).reasons


# --- users ----------------------------------------------------------------------------------------


def test_all_users_none_and_explicit_users() -> None:
    assert applies(policy(users={"includeUsers": ["All"]}))
    assert not applies(policy(users={"includeUsers": ["None"]}))
    assert reasons(policy(users={"includeUsers": ["None"]})) == ("users",)
    assert applies(policy(users={"includeUsers": [USER]}))
    assert not applies(policy(users={"includeUsers": [OTHER_USER]}))


def test_ids_compare_case_insensitively() -> None:
    assert applies(policy(users={"includeUsers": [USER.upper()]}))
    assert applies(policy(users={"includeUsers": ["None"], "includeGroups": [GROUP.upper()]}), group_ids={GROUP})


def test_groups_count_with_nested_membership_given_as_transitive_ids() -> None:
    document = policy(users={"includeUsers": [], "includeGroups": [NESTED_PARENT]})
    assert not applies(document, group_ids=frozenset({GROUP}))
    # The caller passes the transitive closure: membership of GROUP inside NESTED_PARENT counts.
    assert applies(document, group_ids=frozenset({GROUP, NESTED_PARENT}))


def test_roles_by_template_id() -> None:
    document = policy(users={"includeRoles": [GLOBAL_ADMIN]})
    assert applies(document, role_ids=frozenset({GLOBAL_ADMIN}))
    assert not applies(document)
    # An id in the wrong list matches nothing: a role id listed as a group is not a role.
    assert not applies(policy(users={"includeGroups": [GLOBAL_ADMIN]}), role_ids=frozenset({GLOBAL_ADMIN}))
    assert not applies(policy(users={"includeUsers": [GROUP]}), group_ids=frozenset({GROUP}))


@pytest.mark.parametrize(
    ("exclusion", "changes"),
    [
        ({"excludeUsers": [USER]}, {}),
        ({"excludeGroups": [NESTED_PARENT]}, {"group_ids": frozenset({GROUP, NESTED_PARENT})}),
        ({"excludeRoles": [GLOBAL_ADMIN]}, {"role_ids": frozenset({GLOBAL_ADMIN})}),
        ({"excludeUsers": ["GuestsOrExternalUsers"]}, {"user_type": "Guest"}),
        (
            {"excludeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest,b2bCollaborationGuest"}},
            {"user_type": "guest"},
        ),
    ],
)
def test_exclusion_beats_inclusion(exclusion: dict[str, Any], changes: dict[str, Any]) -> None:
    included = {
        "includeUsers": ["All", USER],
        "includeGroups": [GROUP],
        "includeRoles": [GLOBAL_ADMIN],
        "includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest"},
    }
    document = policy(users={**included, **exclusion})
    result = only(run(document, **changes))
    assert not result.applies
    assert result.reasons == ("users",)
    assert result.result is PolicyResult.NOT_APPLIED
    assert result.not_satisfied == ("users",)


def test_all_users_includes_guests() -> None:
    assert applies(policy(), user_type="guest")
    assert applies(policy(), user_type="guest", guest_or_external_user_type="b2bCollaborationGuest")


def test_guests_or_external_users_keyword() -> None:
    document = policy(users={"includeUsers": ["GuestsOrExternalUsers"]})
    assert applies(document, user_type="Guest")
    assert not applies(document, user_type="Member")
    assert applies(document, guest_or_external_user_type="b2bDirectConnectUser")


def test_guest_type_object_with_types_and_tenants() -> None:
    partner = "dddddddd-0000-0000-0000-000000000001"
    document = policy(
        users={
            "includeUsers": [],
            "includeGuestsOrExternalUsers": {
                "guestOrExternalUserTypes": "b2bCollaborationGuest,internalGuest",
                "externalTenants": {
                    "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
                    "membershipKind": "enumerated",
                    "members": [partner.upper()],
                },
            },
        }
    )
    b2b = {"guest_or_external_user_type": "b2bCollaborationGuest"}
    assert applies(document, **b2b, home_tenant_id=partner)
    assert not applies(document, **b2b, home_tenant_id="dddddddd-0000-0000-0000-000000000002")
    assert not applies(document, **b2b)
    # An internal guest's home is this tenant: the tenant list does not concern it.
    assert applies(document, user_type="guest")
    assert not applies(document, guest_or_external_user_type="serviceProvider", home_tenant_id=partner)
    assert not applies(document)
    everyone = policy(
        users={
            "includeUsers": [],
            "includeGuestsOrExternalUsers": {
                "guestOrExternalUserTypes": "b2bCollaborationGuest",
                "externalTenants": {"membershipKind": "all"},
            },
        }
    )
    assert applies(everyone, **b2b, home_tenant_id="dddddddd-0000-0000-0000-000000000002")


# --- applications, user actions, authentication contexts ------------------------------------------


def test_applications_include_and_exclude() -> None:
    assert applies(policy(apps={"includeApplications": [APP]}))
    assert not applies(policy(apps={"includeApplications": [OTHER_APP]}))
    assert reasons(policy(apps={"includeApplications": [OTHER_APP]})) == ("application",)
    assert not applies(policy(apps={"includeApplications": ["All"], "excludeApplications": [APP]}))
    assert not applies(policy(apps={"includeApplications": ["None"]}))
    assert applies(policy(apps={"includeApplications": [APP.upper()]}))


def test_app_keywords_come_from_limens_mapping() -> None:
    admin = policy(apps={"includeApplications": ["MicrosoftAdminPortals"]})
    assert applies(admin, app_keywords=frozenset({"MicrosoftAdminPortals"}))
    assert not applies(admin)
    office = policy(apps={"includeApplications": ["All"], "excludeApplications": ["Office365"]})
    assert not applies(office, app_keywords=frozenset({"Office365"}))
    assert applies(office)


def test_no_application_means_app_policies_do_not_apply() -> None:
    assert reasons(policy(), app_id=None) == ("application",)


def test_user_actions() -> None:
    document = policy(apps={"includeApplications": [], "includeUserActions": ["urn:user:registersecurityinfo"]})
    assert applies(document, user_action="urn:user:registersecurityinfo")
    assert not applies(document, user_action="urn:user:registerdevice")
    assert reasons(document) == ("userActions",)
    # An all-apps policy still applies to the app in which the person registers.
    assert applies(policy(), user_action="urn:user:registersecurityinfo")


def test_authentication_contexts() -> None:
    document = policy(apps={"includeAuthenticationContextClassReferences": ["c1", "c3"]})
    assert applies(document, auth_context_class_refs=frozenset({"C1"}))
    assert not applies(document, auth_context_class_refs=frozenset({"c2"}))
    assert reasons(document) == ("authenticationContext",)


def test_application_filter_is_decided_only_where_it_makes_no_difference() -> None:
    exclude_filter = {"mode": "exclude", "rule": 'CustomSecurityAttribute.Set_Attr -eq "x"'}
    include_filter = {"mode": "include", "rule": 'CustomSecurityAttribute.Set_Attr -eq "x"'}
    unknown = only(run(policy(apps={"includeApplications": ["All"], "applicationFilter": exclude_filter})))
    assert not unknown.applies
    assert unknown.reasons == ("notEnoughInformation",)
    assert "custom security attributes" in unknown.unevaluated[0]
    assert not applies(policy(apps={"includeApplications": [OTHER_APP], "applicationFilter": exclude_filter}))
    assert reasons(policy(apps={"includeApplications": [OTHER_APP], "applicationFilter": exclude_filter})) == (
        "application",
    )
    assert applies(policy(apps={"includeApplications": [APP], "applicationFilter": include_filter}))
    assert reasons(policy(apps={"includeApplications": [], "applicationFilter": include_filter})) == (
        "notEnoughInformation",
    )


# --- platforms, client apps, risk, flows ------------------------------------------------------------


def test_platforms() -> None:
    all_but_ios = policy(platforms={"includePlatforms": ["All"], "excludePlatforms": ["iOS"]})
    assert applies(all_but_ios)
    assert not applies(all_but_ios, platform="iOS")
    assert reasons(all_but_ios, platform="iOS") == ("devicePlatform",)
    # An unknown platform is only caught by "all" (SPEC §3.6).
    assert applies(all_but_ios, platform=None)
    mobile = policy(platforms={"includePlatforms": ["android", "iOS"]})
    assert applies(mobile, platform="ios")
    assert not applies(mobile, platform=None)
    assert applies(policy(platforms={"includePlatforms": [], "excludePlatforms": ["linux"]}))


def test_client_app_types() -> None:
    legacy = {"clientAppTypes": ["exchangeActiveSync", "other"]}
    document = policy()
    document["conditions"].update(legacy)
    assert not applies(document)
    assert reasons(document) == ("clientApps",)
    assert applies(document, client_app_type="other")
    assert applies(document, client_app_type="exchangeActiveSync")
    eas = policy()
    eas["conditions"]["clientAppTypes"] = ["easSupported"]
    assert applies(eas, client_app_type="exchangeActiveSync")
    unset = policy()
    unset["conditions"]["clientAppTypes"] = []
    assert applies(unset, client_app_type="other")
    # What If without a client app type cannot evaluate a policy that restricts it.
    assert reasons(document, client_app_type=None) == ("notEnoughInformation",)
    assert applies(policy(), client_app_type=None)


def test_risk_levels() -> None:
    document = policy(signInRiskLevels=["medium", "high"])
    assert not applies(document)
    assert reasons(document) == ("signInRisk",)
    assert applies(document, sign_in_risk="high")
    assert not applies(document, sign_in_risk="low")
    user_risk = policy(userRiskLevels=["high"])
    assert applies(user_risk, user_risk="HIGH")
    assert reasons(user_risk, user_risk="medium") == ("userRisk",)


def test_insider_risk_cannot_be_evaluated_without_a_signal() -> None:
    document = policy(insiderRiskLevels="elevated", grant=("block",))
    result = only(run(document))
    assert not result.applies
    assert result.reasons == ("notEnoughInformation",)
    assert "insider-risk" in result.unevaluated[0]
    assert any("insider-risk" in note for note in result.policy.notes)
    # With a signal, it is evaluated like any risk level.
    assert applies(document, insider_risk="elevated")
    assert reasons(document, insider_risk="minor") == ("insiderRisk",)


def test_authentication_flows() -> None:
    document = policy(authenticationFlows={"transferMethods": "deviceCodeFlow,authenticationTransfer"})
    assert applies(document, authentication_flow="deviceCodeFlow")
    assert not applies(document)
    assert reasons(document) == ("authenticationFlow",)
    assert applies(
        policy(authenticationFlows={"transferMethods": ["authenticationTransfer"]}),
        authentication_flow="authenticationTransfer",
    )


def test_conditions_the_engine_does_not_know_are_never_ignored() -> None:
    document = policy(grant=("block",), times={"included": {"days": ["monday"]}})
    result = only(run(document))
    assert not result.applies
    assert result.reasons == ("notEnoughInformation",)
    assert result.not_satisfied == ("time",)
    assert any("conditions.times" in note for note in result.policy.notes)
    # Empty values are "not configured".
    assert applies(policy(times=None, signInRiskDetections=[]))


def test_global_secure_access_targets_never_match_a_limen_sign_in() -> None:
    document = policy(apps={"includeApplications": [], "globalSecureAccess": {"includeTrafficProfiles": "internet"}})
    result = only(run(document))
    assert result.reasons == ("application",)
    assert any("Global Secure Access" in note for note in result.policy.notes)


def test_policies_for_workload_identities_and_agents_do_not_apply_to_users() -> None:
    workload = policy(
        users={"includeUsers": ["None"]},
        clientApplications={"includeServicePrincipals": ["ServicePrincipalsInMyTenant"]},
    )
    result = only(run(workload))
    assert result.reasons == ("users",)
    assert any("service principals" in note for note in result.policy.notes)
    sp_risk = policy(servicePrincipalRiskLevels=["high"])
    assert reasons(sp_risk) == ("workloadIdentities",)
    agent_risk = policy(agentIdRiskLevels="high")
    assert reasons(agent_risk) == ("agentIdRisk",)


# --- locations -------------------------------------------------------------------------------------


def test_named_ip_location_include_and_exclude() -> None:
    inside = policy(locations={"includeLocations": [HQ]})
    assert applies(inside, ip_address="203.0.113.9")
    assert not applies(inside)
    assert reasons(inside) == ("location",)
    outside = policy(locations={"includeLocations": ["All"], "excludeLocations": [HQ]})
    assert applies(outside)
    assert not applies(outside, ip_address="203.0.113.9")
    assert not applies(outside, ip_address="2001:db8::1")
    assert not applies(outside, ip_address="::ffff:203.0.113.9")
    assert applies(outside, ip_address="2001:db9::1")


def test_all_and_all_trusted_locations() -> None:
    untrusted = policy(locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]})
    assert applies(untrusted)
    assert not applies(untrusted, ip_address="203.0.113.200")
    trusted_only = policy(locations={"includeLocations": ["AllTrusted"]})
    assert applies(trusted_only, ip_address="203.0.113.200")
    assert not applies(trusted_only)
    # "All" means any location, even one Limen knows nothing about.
    assert applies(policy(locations={"includeLocations": ["All"]}), ip_address=None, country=None)


def test_all_trusted_without_trusted_locations_matches_nothing() -> None:
    compiled = compile_policy_set(
        [policy(locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]})], {}, {}, 1
    )
    assert evaluate(compiled, context(ip_address=None, country=None), NOW).policies[0].applies


def test_country_locations_and_unknown_countries() -> None:
    blocked_abroad = policy(locations={"includeLocations": ["All"], "excludeLocations": [ALLOWED_COUNTRIES]})
    assert applies(blocked_abroad, country="FR")
    assert not applies(blocked_abroad, country="us")
    # An address that maps to no country is outside a location that does not include unknown countries.
    assert applies(blocked_abroad, country=None)
    with_unknown = dict(LOCATIONS)
    with_unknown[ALLOWED_COUNTRIES] = {**LOCATIONS[ALLOWED_COUNTRIES], "includeUnknownCountriesAndRegions": True}
    compiled = compile_policy_set([blocked_abroad], with_unknown, {}, 1)
    assert not evaluate(compiled, context(country=None), NOW).policies[0].applies
    assert evaluate(compiled, context(country="FR"), NOW).policies[0].applies


def test_location_without_input_is_not_enough_information() -> None:
    document = policy(locations={"includeLocations": ["All"], "excludeLocations": [ALLOWED_COUNTRIES]})
    result = only(run(document, ip_address=None, country=None))
    assert not result.applies
    assert result.reasons == ("notEnoughInformation",)
    assert result.not_satisfied == ("location",)
    # A country without an address: country locations are decided, IP ranges are not.
    assert applies(document, ip_address=None, country="FR")
    assert reasons(policy(locations={"includeLocations": [HQ]}), ip_address=None, country="FR") == (
        "notEnoughInformation",
    )


def test_locations_limen_cannot_evaluate() -> None:
    for location in (GPS_COUNTRIES, COMPLIANT_NETWORK):
        document = policy(locations={"includeLocations": ["All"], "excludeLocations": [location]})
        result = only(run(document))
        assert result.reasons == ("notEnoughInformation",)
        assert any("conditions.locations" in note for note in result.policy.notes)


def test_unknown_named_location_matches_nothing() -> None:
    missing = "ffffffff-0000-0000-0000-000000000000"
    assert not applies(policy(locations={"includeLocations": [missing]}))
    assert applies(policy(locations={"includeLocations": ["All"], "excludeLocations": [missing]}))


# --- devices -------------------------------------------------------------------------------------


COMPLIANT = {"deviceId": "dev-1", "isCompliant": True, "trustType": "AzureAD", "deviceOwnership": "Company"}
PERSONAL = {"deviceId": "dev-2", "isCompliant": False, "trustType": "Workplace", "deviceOwnership": "Personal"}


def test_device_filter_include_vs_exclude_with_an_unknown_device() -> None:
    rule = 'device.isCompliant -eq True -and device.deviceOwnership -eq "Company"'
    exclude = policy(devices={"deviceFilter": {"mode": "exclude", "rule": rule}})
    include = policy(devices={"deviceFilter": {"mode": "include", "rule": rule}})
    # Unknown device: positive rule is false -> exclude mode applies, include mode does not.
    assert applies(exclude, device=None)
    assert not applies(include, device=None)
    assert reasons(include, device=None) == ("devices",)
    assert not applies(exclude, device=COMPLIANT)
    assert applies(include, device=COMPLIANT)
    assert applies(exclude, device=PERSONAL)
    negative = policy(devices={"deviceFilter": {"mode": "include", "rule": 'device.trustType -ne "ServerAD"'}})
    assert applies(negative, device=None)


def test_only_the_device_properties_the_policies_read_are_normalized_and_answers_are_unchanged() -> None:
    by_name = policy("p1", devices={"deviceFilter": {"mode": "include", "rule": 'device.displayName -startsWith "LT"'}})
    by_owner = policy(
        "p2", devices={"deviceFilter": {"mode": "exclude", "rule": 'device.deviceOwnership -eq "Company"'}}
    )
    compliant = policy("p3", grant=("compliantDevice",))
    compiled = compile_(by_name, by_owner, compliant)
    assert compiled._device_properties == {"displayname", "deviceownership", "iscompliant", "trusttype"}
    laptop = {**PERSONAL, "displayName": "LT0042", "model": "X1", "manufacturer": "Lenovo"}
    results = {p.policy.id: p.result for p in evaluate(compiled, context(device=laptop), NOW).policies}
    assert results == {"p1": PolicyResult.FAILURE, "p2": PolicyResult.FAILURE, "p3": PolicyResult.FAILURE}
    kiosk = {**COMPLIANT, "displayName": "KIOSK-1"}
    results = {p.policy.id: p.result for p in evaluate(compiled, context(device=kiosk), NOW).policies}
    assert results == {"p1": PolicyResult.NOT_APPLIED, "p2": PolicyResult.NOT_APPLIED, "p3": PolicyResult.SUCCESS}
    # A rule on extension attributes also reads whether they are visible: everything is normalized.
    by_ext = policy("p4", devices={"deviceFilter": {"mode": "include", "rule": 'device.extensionAttribute1 -eq "IT"'}})
    assert compile_(by_name, by_ext)._device_properties is None


def test_a_device_nothing_is_known_about_is_not_enough_information() -> None:
    document = policy(devices={"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant -eq True"}})
    result = only(run(document, device=None, device_known=False))
    assert result.reasons == ("notEnoughInformation",)
    assert result.unevaluated == ("conditions.devices: nothing is known about the device",)


def test_device_code_flow_carries_no_device() -> None:
    exclude_compliant = policy(devices={"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant -eq True"}})
    assert not applies(exclude_compliant, device=COMPLIANT)
    assert applies(exclude_compliant, device=COMPLIANT, authentication_flow="deviceCodeFlow")


def test_an_invalid_stored_rule_is_an_invalid_condition() -> None:
    document = policy(devices={"deviceFilter": {"mode": "include", "rule": "device.colour -eq 1"}})
    result = only(run(document))
    assert not result.applies
    assert result.reasons == ("invalidCondition",)


def test_deprecated_device_states_condition() -> None:
    document = policy(deviceStates={"includeStates": ["All"], "excludeStates": ["Compliant"]})
    assert applies(document, device=PERSONAL)
    assert not applies(document, device=COMPLIANT)
    only_joined = policy(devices={"includeDevices": ["DomainJoined"]})
    assert applies(only_joined, device={"trustType": "ServerAD"})
    assert not applies(only_joined, device=COMPLIANT)


def test_deprecated_device_states() -> None:
    document = policy(devices={"includeDeviceStates": ["All"], "excludeDeviceStates": ["Compliant", "DomainJoined"]})
    assert applies(document, device=PERSONAL)
    assert applies(document, device=None)
    assert not applies(document, device=COMPLIANT)
    assert not applies(document, device={"trustType": "ServerAD"})


# --- grant controls --------------------------------------------------------------------------------


def test_block_wins() -> None:
    evaluation = run(policy("a"), policy("b", grant=("block",)), policy("c", grant=None))
    assert evaluation.blocked
    assert [cause.policy_id for cause in evaluation.block_causes] == ["b"]
    assert evaluation.block_causes[0].cause == "block"
    assert evaluation.requirements == ()
    assert evaluation.conditional_access_status == "failure"
    assert [p.result for p in evaluation.policies] == [PolicyResult.FAILURE, PolicyResult.FAILURE, PolicyResult.SUCCESS]


def test_mfa_before_and_after() -> None:
    before = run(policy())
    assert not before.blocked
    assert [r.control for r in before.requirements] == [Control.MFA]
    assert before.requirements[0].policy_ids == ("p1",)
    assert before.conditional_access_status == "failure"
    after = run(policy(), completed=(PASSWORD, TOTP), is_multi_factor=True)
    assert after.requirements == ()
    assert only(after).result is PolicyResult.SUCCESS
    assert after.conditional_access_status == "success"


def test_all_applicable_policies_must_be_met() -> None:
    evaluation = run(
        policy("a"),
        policy("b", grant=None, strength=strengths.PHISHING_RESISTANT_MFA),
        registered_modes=frozenset({"password", "softwareOath", "fido2"}),
    )
    assert [(r.control, r.detail) for r in evaluation.requirements] == [
        (Control.MFA, ""),
        (Control.AUTHENTICATION_STRENGTH, strengths.PHISHING_RESISTANT_MFA),
    ]
    assert "fido2" in evaluation.requirements[1].allowed_combinations
    # The same requirement from two policies is asked once.
    twice = run(policy("a"), policy("b"))
    assert [(r.control, r.policy_ids) for r in twice.requirements] == [(Control.MFA, ("a", "b"))]


def test_and_versus_or() -> None:
    controls = ("mfa", "compliantDevice")
    # OR: the first control the person can meet, in prompt order.
    either = run(policy(grant=controls, operator="OR"))
    assert [r.control for r in either.requirements] == [Control.MFA]
    assert run(policy(grant=controls, operator="or"), device=COMPLIANT).requirements == ()
    # AND: both; a device that is not compliant cannot become so during the sign-in.
    both = run(policy(grant=controls, operator="AND"), device=PERSONAL)
    assert both.blocked
    assert both.block_causes[0].cause == "compliantDevice"
    both_compliant = run(policy(grant=controls, operator="AND"), device=COMPLIANT)
    assert [r.control for r in both_compliant.requirements] == [Control.MFA]
    done = run(policy(grant=controls, operator="AND"), device=COMPLIANT, is_multi_factor=True)
    assert done.requirements == () and not done.blocked


def test_device_controls() -> None:
    assert run(policy(grant=("compliantDevice",)), device=None).block_causes[0].cause == "compliantDevice"
    assert run(policy(grant=("domainJoinedDevice",)), device={"trustType": "ServerAD"}).requirements == ()
    assert run(policy(grant=("domainJoinedDevice",)), device=COMPLIANT).blocked
    # Device code flow cannot satisfy device-based controls (SPEC §3.8).
    assert run(policy(grant=("compliantDevice",)), device=COMPLIANT, authentication_flow="deviceCodeFlow").blocked


def test_built_in_strengths() -> None:
    phishing_resistant = policy(grant=None, strength=strengths.PHISHING_RESISTANT_MFA)
    assert run(phishing_resistant, completed=(PASSWORD, TOTP), is_multi_factor=True).requirements
    assert run(phishing_resistant, completed=(CompletedStep("fido2", NOW),)).requirements == ()
    mfa_strength = policy(grant=None, strength=strengths.MFA)
    assert run(mfa_strength, completed=(PASSWORD, TOTP)).requirements == ()
    assert run(mfa_strength, completed=(CompletedStep("temporaryAccessPassOneTime", NOW),)).requirements == ()
    # E-mail codes satisfy no built-in strength (SPEC §3.11).
    assert run(mfa_strength, completed=(PASSWORD, CompletedStep("email", NOW))).requirements
    passwordless = policy(grant=None, strength=strengths.PASSWORDLESS_MFA)
    assert run(passwordless, completed=(CompletedStep("deviceBasedPush", NOW),)).requirements == ()


def test_custom_strengths_and_combination_configurations() -> None:
    custom = policy(grant=None, strength=CUSTOM_STRENGTH)
    assert run(custom, completed=(PASSWORD, TOTP)).requirements == ()
    pending = run(custom, completed=(PASSWORD, CompletedStep("sms", NOW)))
    assert pending.requirements[0].allowed_combinations == ("password,softwareOath",)
    keys = policy(grant=None, strength=KEY_ONLY_STRENGTH)
    assert run(keys, completed=(CompletedStep("fido2", NOW, ALLOWED_AAGUID),)).requirements == ()
    assert run(keys, completed=(CompletedStep("fido2", NOW, "00000000-0000-0000-0000-000000000000"),)).requirements
    assert run(keys, completed=(CompletedStep("fido2", NOW),)).requirements


def test_an_embedded_strength_is_used_and_an_unknown_one_cannot_be_met() -> None:
    embedded = policy(grant=None)
    embedded["grantControls"] = {
        "operator": "OR",
        "builtInControls": [],
        "authenticationStrength": {"id": "e0000000-0000-0000-0000-000000000000", "allowedCombinations": ["sms"]},
    }
    assert run(embedded, completed=(CompletedStep("sms", NOW),)).requirements == ()
    unknown = run(policy(grant=None, strength="f0000000-0000-0000-0000-000000000000"))
    assert unknown.blocked
    assert unknown.block_causes[0].cause == "authenticationStrength"


def test_registration_is_required_when_no_method_could_meet_the_control() -> None:
    none_registered = run(policy(), registered_modes=frozenset({"password"}))
    assert [r.control for r in none_registered.requirements] == [Control.REGISTER_SECURITY_INFO, Control.MFA]
    strength = run(policy(grant=None, strength=strengths.PHISHING_RESISTANT_MFA))
    assert [r.control for r in strength.requirements] == [
        Control.REGISTER_SECURITY_INFO,
        Control.AUTHENTICATION_STRENGTH,
    ]
    assert strength.requirements[0].strength is not None
    assert strength.requirements[0].strength.id == strengths.PHISHING_RESISTANT_MFA
    # Unknown methods (What If) or registering right now: no registration requirement.
    assert [r.control for r in run(policy(), registered_modes=None).requirements] == [Control.MFA]
    registering = run(policy(), registered_modes=frozenset({"password"}), user_action="urn:user:registersecurityinfo")
    assert [r.control for r in registering.requirements] == [Control.MFA]
    report = only(run(policy(grant=None, strength=strengths.PHISHING_RESISTANT_MFA))).to_graph()
    assert report["authenticationStrength"]["authenticationStrengthResult"] == "singleRegistrationRequired"


def test_password_change_after_mfa() -> None:
    document = policy(grant=("mfa", "passwordChange"), operator="AND", userRiskLevels=["high"])
    first = run(document, user_risk="high")
    assert [r.control for r in first.requirements] == [Control.MFA, Control.PASSWORD_CHANGE]
    second = run(document, user_risk="high", is_multi_factor=True)
    assert [r.control for r in second.requirements] == [Control.PASSWORD_CHANGE]
    done = run(document, user_risk="high", is_multi_factor=True, password_changed=True)
    assert done.requirements == ()
    assert only(done).result is PolicyResult.SUCCESS


@pytest.mark.parametrize(
    "controls",
    [("approvedApplication",), ("compliantApplication",), ("riskRemediation",), ("compliantNetwork",)],
)
def test_controls_limen_cannot_meet(controls: tuple[str, ...]) -> None:
    alone = run(policy(grant=controls))
    assert alone.blocked
    assert only(alone).grant is GrantStatus.IMPOSSIBLE
    assert any("cannot be met" in note for note in only(alone).policy.notes)
    # With OR, another control can still be met.
    either = run(policy(grant=(*controls, "mfa")))
    assert [r.control for r in either.requirements] == [Control.MFA]


def test_terms_of_use_and_custom_controls_cannot_be_met() -> None:
    document = policy(grant=())
    document["grantControls"]["termsOfUse"] = ["tou-1"]
    assert run(document).block_causes[0].cause == "termsOfUse"
    custom = policy(grant=())
    custom["grantControls"]["customAuthenticationFactors"] = ["duo"]
    assert run(custom).block_causes[0].cause == "customAuthenticationFactor"
    assert only(run(custom)).to_graph()["enforcedGrantControls"] == ["duo"]


def test_legacy_clients_cannot_meet_grant_controls() -> None:
    for client in ("exchangeActiveSync", "other"):
        evaluation = run(policy(), client_app_type=client)
        assert evaluation.blocked
        assert evaluation.block_causes[0].cause == "legacyClient"
        # Even a control the session happens to meet: legacy clients cannot present it.
        assert run(policy(grant=("compliantDevice",)), client_app_type=client, device=COMPLIANT).blocked
    # No grant controls, no problem.
    session_only = policy(grant=None, session={"persistentBrowser": {"isEnabled": True, "mode": "never"}})
    assert not run(session_only, client_app_type="other").blocked


def test_a_policy_with_nothing_to_meet_succeeds() -> None:
    evaluation = run(policy(grant=None))
    assert only(evaluation).result is PolicyResult.SUCCESS
    assert evaluation.conditional_access_status == "success"


# --- states and report-only -----------------------------------------------------------------------


def test_disabled_policies_are_not_evaluated() -> None:
    evaluation = run(policy(grant=("block",), state="disabled"))
    result = only(evaluation)
    assert result.result is PolicyResult.NOT_ENABLED
    assert result.reasons == ("policyNotEnabled",)
    assert not evaluation.blocked
    assert evaluation.conditional_access_status == "notApplied"
    assert result.to_graph()["enforcedGrantControls"] == []
    assert evaluation.what_if() == []


def test_report_only_results_are_recorded_never_enforced() -> None:
    state = "enabledForReportingButNotEnforced"
    cases = [
        (policy(grant=("block",), state=state), {}, PolicyResult.REPORT_ONLY_FAILURE),
        (policy(state=state), {}, PolicyResult.REPORT_ONLY_INTERRUPTED),
        (policy(state=state), {"is_multi_factor": True}, PolicyResult.REPORT_ONLY_SUCCESS),
        (policy(grant=("compliantDevice",), state=state), {}, PolicyResult.REPORT_ONLY_FAILURE),
        (policy(state=state, users={"includeUsers": ["None"]}), {}, PolicyResult.REPORT_ONLY_NOT_APPLIED),
        (policy(state=state), {"client_app_type": "other"}, PolicyResult.REPORT_ONLY_FAILURE),
    ]
    for document, changes, expected in cases:
        evaluation = run(document, **changes)
        assert only(evaluation).result is expected
        assert not evaluation.blocked
        assert evaluation.requirements == ()
        assert evaluation.conditional_access_status == "notApplied"


def test_unknown_state_is_treated_as_disabled() -> None:
    result = only(run(policy(state="sometimes")))
    assert result.result is PolicyResult.NOT_ENABLED
    assert any("state" in note for note in result.policy.notes)


# --- session controls ------------------------------------------------------------------------------


def hours(n: int) -> dict[str, Any]:
    return {"signInFrequency": {"isEnabled": True, "type": "hours", "value": n, "frequencyInterval": "timeBased"}}


def test_sign_in_frequency_asks_for_a_new_sign_in_when_the_session_is_too_old() -> None:
    document = policy(grant=None, session=hours(12))
    old = (CompletedStep("password", NOW - timedelta(hours=13)),)
    stale = run(document, completed=old)
    assert [r.control for r in stale.requirements] == [Control.REAUTHENTICATE]
    assert only(stale).result is PolicyResult.FAILURE
    fresh = run(document, completed=(CompletedStep("password", NOW - timedelta(hours=11)),))
    assert fresh.requirements == ()
    assert fresh.sign_in_frequency is not None
    assert fresh.sign_in_frequency.period == timedelta(hours=12)
    # Nothing completed yet: the sign-in in progress is the authentication.
    assert run(document, completed=()).requirements == ()


def test_sign_in_frequency_every_time_allows_five_minutes() -> None:
    document = policy(
        grant=None, session={"signInFrequency": {"isEnabled": True, "frequencyInterval": "everyTime", "type": None}}
    )
    assert run(document, completed=(CompletedStep("password", NOW - timedelta(minutes=4)),)).requirements == ()
    late = run(document, completed=(CompletedStep("password", NOW - timedelta(minutes=6)),))
    assert [r.control for r in late.requirements] == [Control.REAUTHENTICATE]
    assert late.sign_in_frequency is not None and late.sign_in_frequency.every_time


def test_sign_in_frequency_for_secondary_authentication_only() -> None:
    session = {
        "signInFrequency": {
            "isEnabled": True,
            "type": "days",
            "value": 1,
            "authenticationType": "secondaryAuthentication",
        }
    }
    document = policy(session=session)
    completed = (CompletedStep("password", NOW - timedelta(days=3)), CompletedStep("softwareOath", NOW))
    assert run(document, completed=completed, is_multi_factor=True).requirements == ()
    old_mfa = (PASSWORD, CompletedStep("softwareOath", NOW - timedelta(days=2)))
    assert Control.REAUTHENTICATE in run(document, completed=old_mfa, is_multi_factor=True).requirement_keys


def test_sign_in_frequency_out_of_range_is_ignored_and_noted() -> None:
    document = policy(grant=None, session=hours(24))
    result = only(run(document, completed=(CompletedStep("password", NOW - timedelta(days=30)),)))
    assert result.result is PolicyResult.SUCCESS
    assert any("signInFrequency" in note for note in result.policy.notes)


def test_session_controls_combine_strictly() -> None:
    evaluation = run(
        policy("a", grant=None, session={**hours(12), "persistentBrowser": {"isEnabled": True, "mode": "always"}}),
        policy(
            "b",
            grant=None,
            session={
                "signInFrequency": {"isEnabled": True, "type": "hours", "value": 4},
                "persistentBrowser": {"isEnabled": True, "mode": "never"},
                "cloudAppSecurity": {"isEnabled": True, "cloudAppSecurityType": "monitorOnly"},
                "disableResilienceDefaults": False,
            },
        ),
        policy("c", grant=None, session={"persistentBrowser": {"isEnabled": True, "mode": "always"}}),
    )
    assert evaluation.sign_in_frequency is not None
    assert evaluation.sign_in_frequency.period == timedelta(hours=4)
    assert evaluation.persistent_browser == "never"
    assert evaluation.session_not_enforced == ("cloudAppSecurity",)
    assert evaluation.policies[1].to_graph()["enforcedSessionControls"] == [
        "SignInFrequency",
        "PersistentBrowserSessionMode",
        "CloudAppSecurity",
    ]


def test_session_controls_of_policies_that_do_not_apply_are_ignored() -> None:
    evaluation = run(policy(grant=None, session=hours(1), users={"includeUsers": ["None"]}))
    assert evaluation.sign_in_frequency is None


# --- log and What If shapes -------------------------------------------------------------------------


def test_applied_policies_in_graph_shape() -> None:
    evaluation = run(policy("a"), policy("b", platforms={"includePlatforms": ["iOS"]}), policy("c", state="disabled"))
    applied = evaluation.applied_policies
    assert applied[0] == {
        "id": "a",
        "displayName": "Policy a",
        "enforcedGrantControls": ["Mfa"],
        "enforcedSessionControls": [],
        "result": "failure",
        "conditionsSatisfied": "users,application",
        "conditionsNotSatisfied": "none",
    }
    assert applied[1]["result"] == "notApplied"
    assert applied[1]["conditionsSatisfied"] == "users,application"
    assert applied[1]["conditionsNotSatisfied"] == "devicePlatform"
    assert applied[2]["result"] == "notEnabled"
    json.dumps(applied)


def test_what_if_shape() -> None:
    evaluation = run(policy("a"), policy("b", platforms={"includePlatforms": ["iOS"]}))
    results = evaluation.what_if()
    assert results[0]["policyApplies"] is True
    assert results[0]["analysisReasons"] == "notSet"
    assert results[0]["displayName"] == "Policy a"
    assert results[1]["policyApplies"] is False
    assert results[1]["analysisReasons"] == "devicePlatform"
    assert [r["id"] for r in evaluation.what_if(applied_only=True)] == ["a"]


def test_evaluation_is_repeatable_and_shares_the_compiled_set() -> None:
    compiled = compile_(policy("a"), policy("b", users={"includeUsers": ["None"]}))
    first = evaluate(compiled, context(), NOW)
    second = evaluate(compiled, context(), NOW)
    assert first == second
    assert first.version == 7


# --- the conformance corpus --------------------------------------------------------------------------

# A copy of the shared conformance corpus ships with the tests (SOURCES.md there says where each came from).
CORPUS = Path(__file__).resolve().parents[2] / "data" / "conformance" / "ca-policies"


def _corpus_objects() -> Iterator[dict[str, Any]]:
    for path in sorted(CORPUS.rglob("*.json")):
        # UTF-8, UTF-8 with BOM and UTF-16 all decode from bytes.
        document = json.loads(path.read_bytes())
        items = document if isinstance(document, list) else document.get("value", [document])
        yield from (item for item in items if isinstance(item, dict))


def test_every_policy_of_the_conformance_corpus_compiles_and_evaluates() -> None:
    objects = list(_corpus_objects())
    policies = [o for o in objects if "conditions" in o or "grantControls" in o]
    locations = {str(o.get("id") or f"location-{i}"): o for i, o in enumerate(objects) if o not in policies}
    assert len(policies) >= 240
    compiled = compile_policy_set(policies, locations, {}, version=1)
    assert len(compiled.policies) == len(policies)
    contexts = [
        context(),
        context(user_type="guest", client_app_type="other", platform="android", country=None, device=PERSONAL),
        context(
            role_ids=frozenset({GLOBAL_ADMIN}),
            app_keywords=frozenset({"MicrosoftAdminPortals"}),
            sign_in_risk="high",
            user_risk="high",
            completed=(PASSWORD, TOTP),
            is_multi_factor=True,
            device=COMPLIANT,
            ip_address="2001:db8::5",
        ),
        context(ip_address=None, country=None, client_app_type=None, platform=None, app_id=None),
        context(user_action="urn:user:registersecurityinfo", authentication_flow="deviceCodeFlow"),
    ]
    for ctx in contexts:
        evaluation = evaluate(compiled, ctx, NOW)
        assert len(evaluation.policies) == len(policies)
        assert evaluation.conditional_access_status in ("success", "failure", "notApplied")
        json.dumps(evaluation.applied_policies)
        json.dumps(evaluation.what_if())
        for result in evaluation.policies:
            assert result.applies or result.reasons
    # Every policy of the corpus applies to somebody in some context, or says why not.
    disabled = sum(1 for p in compiled.policies if p.state.value == "disabled")
    assert 0 < disabled < len(policies)
