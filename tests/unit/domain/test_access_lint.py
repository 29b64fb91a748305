"""Conditional Access lint: each rule firing and not firing (limen/domain/access/lint.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from limen.domain.access.lint import DirectoryFacts, Finding, Severity, lint
from limen.domain.defaults import ADMIN_PORTALS_APP_ID
from limen.domain.directory import GLOBAL_ADMINISTRATOR

BREAK_GLASS = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
ADMIN = "0a1b2c3d-0000-4000-8000-000000000001"
OTHER = "0a1b2c3d-0000-4000-8000-000000000002"
ADMINS_GROUP = "9e000000-0000-4000-8000-000000000001"
EMERGENCY_GROUP = "9e000000-0000-4000-8000-000000000002"
APP = "a0000000-0000-4000-8000-000000000001"
OFFICE = "10c00000-0000-4000-8000-000000000001"
MISSING = "deadbeef-0000-4000-8000-000000000000"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
CUSTOM_STRENGTH = "5c000000-0000-4000-8000-000000000001"

FACTS = DirectoryFacts(
    user_ids=frozenset({BREAK_GLASS, ADMIN, OTHER}),
    group_ids=frozenset({ADMINS_GROUP, EMERGENCY_GROUP}),
    application_ids=frozenset({APP}),
    named_location_ids=frozenset({OFFICE}),
    groups_of={ADMIN: frozenset({ADMINS_GROUP})},
    roles_of={ADMIN: frozenset({GLOBAL_ADMINISTRATOR})},
)


def policy(**changes: Any) -> dict[str, Any]:
    """A clean enabled policy (All users but the emergency account, All apps, MFA); `changes` are dotted paths."""
    document: dict[str, Any] = {
        "id": "policy-1",
        "displayName": "Require MFA",
        "state": "enabled",
        "conditions": {
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": [BREAK_GLASS],
                "includeGroups": [],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
            },
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": []},
            "clientAppTypes": ["all"],
            "platforms": None,
            "locations": None,
            "signInRiskLevels": [],
            "userRiskLevels": [],
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": ["mfa"],
            "customAuthenticationFactors": [],
            "termsOfUse": [],
            "authenticationStrength": None,
        },
        "sessionControls": None,
    }
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        target[last] = copy.deepcopy(value)
    return document


def run(*policies: dict[str, Any], acting: str | None = None, facts: DirectoryFacts = FACTS) -> list[Finding]:
    return lint(list(policies), directory=facts, acting_user_id=acting)


def codes(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.severity.value) for f in findings]


def test_a_clean_policy_has_no_findings() -> None:
    assert run(policy()) == []
    assert run(policy(), acting=ADMIN) == []


# ------------------------------------------------------------------ could lock everyone out


def test_all_users_with_no_exclusion_could_lock_everyone_out() -> None:
    [finding] = run(policy(conditions__users__excludeUsers=[]))
    assert (finding.code, finding.severity) == ("couldLockEveryoneOut", Severity.ERROR)
    assert "exclude an emergency-access account" in finding.message.lower()
    assert finding.path == "conditions.users.excludeUsers"
    assert (finding.policy_id, finding.display_name) == ("policy-1", "Require MFA")


def test_a_block_for_all_users_says_it_blocks() -> None:
    [finding] = run(policy(conditions__users__excludeUsers=[], grantControls__builtInControls=["block"]))
    assert finding.code == "couldLockEveryoneOut" and "blocks all users" in finding.message


def test_lock_out_is_a_warning_in_report_only_and_silent_when_disabled() -> None:
    report_only = run(policy(state="enabledForReportingButNotEnforced", conditions__users__excludeUsers=[]))
    assert codes(report_only) == [("couldLockEveryoneOut", "warning")]
    assert "when it is turned on" in report_only[0].message
    assert run(policy(state="disabled", conditions__users__excludeUsers=[])) == []


def test_an_excluded_group_counts_as_the_emergency_exclusion() -> None:
    assert run(policy(conditions__users__excludeUsers=[], conditions__users__excludeGroups=[EMERGENCY_GROUP])) == []


@pytest.mark.parametrize(
    "exclusions",
    [
        {"conditions__users__excludeUsers": ["GuestsOrExternalUsers"]},
        {"conditions__users__excludeUsers": [], "conditions__users__excludeRoles": [GLOBAL_ADMINISTRATOR]},
    ],
    ids=["guests keyword", "a role"],
)
def test_keywords_and_roles_are_not_an_emergency_account(exclusions: dict[str, Any]) -> None:
    assert ("couldLockEveryoneOut", "error") in codes(run(policy(**exclusions)))


def test_an_exclusion_naming_a_user_that_does_not_exist_protects_nobody() -> None:
    findings = run(policy(conditions__users__excludeUsers=[MISSING]))
    assert codes(findings) == [("couldLockEveryoneOut", "error"), ("unknownUser", "warning")]
    assert MISSING in findings[0].message and "nobody is exempt" in findings[0].message


def test_without_user_facts_an_exclusion_is_taken_at_its_word() -> None:
    assert run(policy(conditions__users__excludeUsers=[MISSING]), facts=DirectoryFacts()) == []


def test_a_single_application_policy_is_only_a_warning() -> None:
    findings = run(policy(conditions__users__excludeUsers=[], conditions__applications__includeApplications=[APP]))
    assert codes(findings) == [("couldLockEveryoneOut", "warning")]


def test_the_admin_portal_alone_is_enough_for_an_error() -> None:
    changes = {
        "conditions__users__excludeUsers": [],
        "conditions__applications__includeApplications": ["MicrosoftAdminPortals"],
    }
    assert codes(run(policy(**changes))) == [("couldLockEveryoneOut", "error")]


def test_policies_not_for_all_users_or_without_controls_cannot_lock_everyone_out() -> None:
    assert run(policy(conditions__users__includeUsers=[OTHER], conditions__users__excludeUsers=[])) == []
    session_only = policy(
        conditions__users__excludeUsers=[],
        grantControls=None,
        sessionControls={"persistentBrowser": {"isEnabled": True, "mode": "never"}},
    )
    assert run(session_only) == []


# ------------------------------------------------------------------ blocks the admin portal for the acting admin


def blocking(**changes: Any) -> dict[str, Any]:
    return policy(grantControls__builtInControls=["block"], **changes)


def test_a_block_on_all_apps_for_the_acting_admin_is_an_error() -> None:
    [finding] = run(blocking(), acting=ADMIN)
    assert (finding.code, finding.severity) == ("blocksAdminPortalForActingAdmin", Severity.ERROR)
    assert "admin portal" in finding.message and finding.path == "conditions.applications.includeApplications"


def test_without_an_acting_admin_the_rule_is_not_checked() -> None:
    assert run(blocking()) == []


@pytest.mark.parametrize(
    "scope",
    [
        {"conditions__users__includeUsers": [ADMIN.upper()]},
        {"conditions__users__includeUsers": [], "conditions__users__includeGroups": [ADMINS_GROUP]},
        {"conditions__users__includeUsers": [], "conditions__users__includeRoles": [GLOBAL_ADMINISTRATOR]},
    ],
    ids=["directly", "through a group", "through a role"],
)
def test_the_acting_admin_is_in_scope(scope: dict[str, Any]) -> None:
    assert codes(run(blocking(**scope), acting=ADMIN)) == [("blocksAdminPortalForActingAdmin", "error")]


@pytest.mark.parametrize(
    "exclusion",
    [
        {"conditions__users__excludeUsers": [BREAK_GLASS, ADMIN]},
        {"conditions__users__excludeGroups": [ADMINS_GROUP]},
        {"conditions__users__excludeRoles": [GLOBAL_ADMINISTRATOR]},
    ],
    ids=["directly", "through a group", "through a role"],
)
def test_an_excluded_acting_admin_is_not_blocked(exclusion: dict[str, Any]) -> None:
    assert run(blocking(**exclusion), acting=ADMIN) == []


def test_an_acting_admin_outside_the_included_users_is_not_blocked() -> None:
    assert run(blocking(conditions__users__includeUsers=[OTHER]), acting=ADMIN) == []
    assert run(blocking(conditions__users__includeUsers=["GuestsOrExternalUsers"]), acting=ADMIN) == []


@pytest.mark.parametrize("target", ["MicrosoftAdminPortals", ADMIN_PORTALS_APP_ID])
def test_the_admin_portal_by_keyword_or_by_limen_app_id(target: str) -> None:
    found = codes(run(blocking(conditions__applications__includeApplications=[target]), acting=ADMIN))
    assert found == [("blocksAdminPortalForActingAdmin", "error")]


def test_other_apps_an_excluded_portal_or_legacy_clients_do_not_block_the_portal() -> None:
    assert run(blocking(conditions__applications__includeApplications=[APP]), acting=ADMIN) == []
    excluded = blocking(conditions__applications__excludeApplications=["MicrosoftAdminPortals"])
    assert run(excluded, acting=ADMIN) == []
    legacy = blocking(conditions__clientAppTypes=["exchangeActiveSync", "other"])
    assert run(legacy, acting=ADMIN) == []


def test_a_conditional_block_of_the_admin_is_a_warning_naming_the_conditions() -> None:
    located = blocking(conditions__locations={"includeLocations": ["All"], "excludeLocations": [OFFICE]})
    [finding] = run(located, acting=ADMIN)
    assert (finding.code, finding.severity) == ("blocksAdminPortalForActingAdmin", Severity.WARNING)
    assert "locations" in finding.message


def test_a_report_only_block_of_the_admin_is_a_warning_and_controls_other_than_block_are_fine() -> None:
    report_only = run(blocking(state="enabledForReportingButNotEnforced"), acting=ADMIN)
    assert codes(report_only) == [("blocksAdminPortalForActingAdmin", "warning")]
    assert run(policy(), acting=ADMIN) == []


# ------------------------------------------------------------------ contradictions


@pytest.mark.parametrize(
    ("section", "include", "exclude", "value"),
    [
        ("users", "includeUsers", "excludeUsers", OTHER),
        ("users", "includeGroups", "excludeGroups", ADMINS_GROUP),
        ("users", "includeRoles", "excludeRoles", GLOBAL_ADMINISTRATOR),
        ("applications", "includeApplications", "excludeApplications", APP),
        ("locations", "includeLocations", "excludeLocations", OFFICE),
        ("platforms", "includePlatforms", "excludePlatforms", "iOS"),
    ],
)
def test_the_same_value_included_and_excluded(section: str, include: str, exclude: str, value: str) -> None:
    document = policy()
    block = document["conditions"][section] or {}
    block.update({include: [value], exclude: [value.upper()] if "-" in value else [value]})
    if section == "users":
        block["excludeUsers"] = [BREAK_GLASS, *block["excludeUsers"]] if exclude == "excludeUsers" else [BREAK_GLASS]
    document["conditions"][section] = block
    findings = [f for f in run(document) if f.code == "includedAndExcluded"]
    assert len(findings) == 1 and findings[0].severity is Severity.WARNING
    index = 1 if exclude == "excludeUsers" else 0
    assert findings[0].path == f"conditions.{section}.{exclude}[{index}]"
    assert "exclusion wins" in findings[0].message


def test_distinct_include_and_exclude_values_are_fine() -> None:
    document = policy(conditions__platforms={"includePlatforms": ["all"], "excludePlatforms": ["iOS"]})
    assert run(document) == []


def test_include_none_applies_to_nobody() -> None:
    [users] = run(policy(conditions__users__includeUsers=["None"]))
    assert (users.code, users.path) == ("includesNone", "conditions.users.includeUsers")
    assert "no user" in users.message
    [apps] = run(policy(conditions__applications__includeApplications=["None"]))
    assert (apps.code, apps.path) == ("includesNone", "conditions.applications.includeApplications")


def test_none_beside_other_targets_is_reported_as_a_contradiction() -> None:
    [finding] = run(policy(conditions__users__includeUsers=["None"], conditions__users__includeGroups=[ADMINS_GROUP]))
    assert finding.code == "includesNone" and "remove None" in finding.message
    [apps] = run(policy(conditions__applications__includeApplications=["None", APP]))
    assert "remove None" in apps.message


def test_none_is_normal_for_workload_identities_and_user_actions() -> None:
    workload = policy(
        conditions__users__includeUsers=["None"],
        conditions__clientApplications={"includeServicePrincipals": ["ServicePrincipalsInMyTenant"]},
    )
    assert run(workload) == []
    user_action = policy(
        conditions__applications__includeApplications=["None"],
        conditions__applications__includeUserActions=["urn:user:registersecurityinfo"],
    )
    assert run(user_action) == []


@pytest.mark.parametrize(
    "grant",
    [
        {"grantControls__builtInControls": ["block", "mfa"]},
        {"grantControls__builtInControls": ["block"], "grantControls__termsOfUse": ["tou"]},
        {"grantControls__builtInControls": ["block"], "grantControls__authenticationStrength": {"id": "x"}},
    ],
    ids=["mfa", "terms of use", "strength"],
)
def test_block_with_other_controls_is_an_error(grant: dict[str, Any]) -> None:
    findings = run(policy(**grant), facts=DirectoryFacts(authentication_strength_ids=None))
    assert ("blockWithOtherControls", "error") in codes(findings)


def test_block_alone_is_fine() -> None:
    assert run(policy(grantControls__builtInControls=["block"])) == []


def test_mfa_and_an_authentication_strength_cannot_be_combined() -> None:
    both = policy(grantControls__authenticationStrength={"id": "00000000-0000-0000-0000-000000000004"})
    assert codes(run(both)) == [("mfaAndAuthenticationStrength", "error")]
    strength_only = policy(
        grantControls__builtInControls=[],
        grantControls__authenticationStrength={"id": "00000000-0000-0000-0000-000000000004"},
    )
    assert run(strength_only) == []


def test_a_policy_without_grant_or_session_controls_does_nothing() -> None:
    [finding] = run(policy(grantControls__builtInControls=[]))
    assert (finding.code, finding.severity, finding.path) == ("noControls", Severity.WARNING, "grantControls")
    switched_off = policy(grantControls=None, sessionControls={"signInFrequency": {"isEnabled": False}})
    assert codes(run(switched_off)) == [("noControls", "warning")]
    frequency = {"signInFrequency": {"isEnabled": True, "type": "hours", "value": 4}}
    assert run(policy(grantControls=None, sessionControls=frequency)) == []
    assert run(policy(grantControls=None, sessionControls={"disableResilienceDefaults": True})) == []


def test_controls_for_legacy_clients_only_amount_to_a_block() -> None:
    [finding] = run(policy(conditions__clientAppTypes=["exchangeActiveSync", "other"]))
    assert (finding.code, finding.severity) == ("legacyClientsCannotSatisfyControls", Severity.WARNING)
    assert run(policy(conditions__clientAppTypes=["other"], grantControls__builtInControls=["block"])) == []
    assert run(policy(conditions__clientAppTypes=["browser", "other"])) == []


def password_change(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "conditions__userRiskLevels": ["high"],
        "grantControls__operator": "AND",
        "grantControls__builtInControls": ["mfa", "passwordChange"],
    }
    values.update(changes)
    return policy(**values)


def test_a_correct_password_change_policy_has_no_findings() -> None:
    assert run(password_change()) == []
    strength = password_change(
        grantControls__builtInControls=["passwordChange"],
        grantControls__authenticationStrength={"id": "00000000-0000-0000-0000-000000000002"},
    )
    assert run(strength) == []


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"conditions__userRiskLevels": []}, "passwordChangeWithoutUserRisk"),
        ({"grantControls__operator": "OR"}, "passwordChangeWithoutMfa"),
        ({"grantControls__builtInControls": ["passwordChange"]}, "passwordChangeWithoutMfa"),
        (
            {"grantControls__builtInControls": ["mfa", "passwordChange", "compliantDevice"]},
            "passwordChangeWithOtherControls",
        ),
        ({"conditions__applications__includeApplications": [APP]}, "passwordChangeNeedsAllApplications"),
        ({"conditions__applications__excludeApplications": [APP]}, "passwordChangeNeedsAllApplications"),
        ({"conditions__signInRiskLevels": ["high"]}, "passwordChangeWithOtherConditions"),
        ({"conditions__clientAppTypes": ["browser"]}, "passwordChangeWithOtherConditions"),
        (
            {"conditions__locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}},
            "passwordChangeWithOtherConditions",
        ),
    ],
)
def test_password_change_rules(changes: dict[str, Any], code: str) -> None:
    findings = run(password_change(**changes))
    assert (code, "error") in codes(findings)
    assert {f.code for f in findings if f.code.startswith("passwordChange")} == {code}


# ------------------------------------------------------------------ unknown references


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("conditions__users__includeUsers", [OTHER, MISSING], "unknownUser"),
        ("conditions__users__includeGroups", [ADMINS_GROUP, MISSING], "unknownGroup"),
        ("conditions__users__excludeRoles", [GLOBAL_READER, MISSING], "unknownRole"),
        ("conditions__applications__excludeApplications", [APP, MISSING], "unknownApplication"),
    ],
)
def test_unknown_references_are_warnings_naming_the_path(path: str, value: list[str], code: str) -> None:
    [finding] = run(policy(**{path: value}))
    assert (finding.code, finding.severity) == (code, Severity.WARNING)
    assert finding.path == path.replace("__", ".") + "[1]" and MISSING in finding.message


def test_unknown_named_locations_and_strengths() -> None:
    located = policy(conditions__locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted", MISSING]})
    assert [(f.code, f.path) for f in run(located)] == [
        ("unknownNamedLocation", "conditions.locations.excludeLocations[1]")
    ]
    custom = policy(grantControls__builtInControls=[], grantControls__authenticationStrength={"id": CUSTOM_STRENGTH})
    assert codes(run(custom)) == [("unknownAuthenticationStrength", "warning")]
    with_custom = DirectoryFacts(authentication_strength_ids=frozenset({CUSTOM_STRENGTH}))
    assert run(custom, facts=with_custom) == []


def test_keywords_known_ids_in_any_case_and_limens_admin_app_are_not_unknown() -> None:
    document = policy(
        conditions__users__includeUsers=["All", "GuestsOrExternalUsers", OTHER.upper()],
        conditions__users__includeRoles=[GLOBAL_ADMINISTRATOR.upper()],
        conditions__applications__includeApplications=["Office365", "MicrosoftAdminPortals", ADMIN_PORTALS_APP_ID],
        conditions__locations={"includeLocations": ["all", OFFICE.upper()], "excludeLocations": ["AllTrusted"]},
    )
    assert run(document) == []


def test_facts_left_unset_are_not_checked() -> None:
    document = policy(
        conditions__users__includeGroups=[MISSING],
        conditions__locations={"includeLocations": [MISSING]},
    )
    assert run(document, facts=DirectoryFacts(user_ids=frozenset({BREAK_GLASS}))) == []


def test_role_ids_come_from_the_catalogue_by_default() -> None:
    assert run(policy(conditions__users__excludeRoles=[GLOBAL_READER])) == []
    assert codes(run(policy(conditions__users__excludeRoles=[MISSING]))) == [("unknownRole", "warning")]


# ------------------------------------------------------------------ robustness and output


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"displayName": 3, "state": None, "conditions": []},
        {"conditions": {"users": "All", "applications": None}, "grantControls": {"builtInControls": "block"}},
        {"conditions": {"users": {"includeUsers": [None, 1, "All"]}}, "grantControls": [], "sessionControls": []},
        {"conditions": {"users": {"includeUsers": ["All"]}}, "grantControls": {"authenticationStrength": "x"}},
    ],
)
def test_odd_shapes_never_raise(document: dict[str, Any]) -> None:
    for finding in run(document, acting=ADMIN):
        assert finding.display_name and finding.code


def test_findings_follow_policy_order_and_serialise_with_graph_names() -> None:
    first = policy(id="a", displayName="First", conditions__users__excludeUsers=[])
    second = policy(id="b", displayName="Second", grantControls__builtInControls=[])
    findings = run(first, second)
    assert [(f.policy_id, f.code) for f in findings] == [("a", "couldLockEveryoneOut"), ("b", "noControls")]
    assert findings[0].to_json() == {
        "policyId": "a",
        "displayName": "First",
        "severity": "error",
        "code": "couldLockEveryoneOut",
        "message": findings[0].message,
        "path": "conditions.users.excludeUsers",
    }
