"""The recommended Conditional Access templates: valid Graph JSON (SPEC.md §2), report-only, exclusions applied."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from limen.domain.access.lint import DirectoryFacts, lint
from limen.domain.access.schema import validate_policy
from limen.domain.access.templates import (
    MFA_STRENGTH_ID,
    REPORT_ONLY,
    TEMPLATES,
    Template,
    find_template,
    template_keys,
)
from limen.domain.defaults import admin_role_ids
from limen.domain.directory import DIRECTORY_SYNCHRONIZATION_ACCOUNTS, Plan, role_catalogue
from limen.domain.errors import NotFound

BREAK_GLASS = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
SECOND = "8c4a1e7d-2b5f-4c6e-9d3a-7f1e2b4c6d8e"

# SPEC §2.1-§2.6: the properties and enum values Graph defines.
POLICY_KEYS = {"displayName", "state", "conditions", "grantControls", "sessionControls"}
CONDITION_KEYS = {
    "users",
    "clientApplications",
    "applications",
    "clientAppTypes",
    "platforms",
    "locations",
    "devices",
    "signInRiskLevels",
    "userRiskLevels",
    "servicePrincipalRiskLevels",
    "insiderRiskLevels",
    "authenticationFlows",
}
USER_KEYS = {
    "includeUsers",
    "excludeUsers",
    "includeGroups",
    "excludeGroups",
    "includeRoles",
    "excludeRoles",
    "includeGuestsOrExternalUsers",
    "excludeGuestsOrExternalUsers",
}
APPLICATION_KEYS = {
    "includeApplications",
    "excludeApplications",
    "includeUserActions",
    "includeAuthenticationContextClassReferences",
    "applicationFilter",
}
CLIENT_APP_TYPES = {"all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other"}
PLATFORMS = {"android", "iOS", "windows", "windowsPhone", "macOS", "linux", "all"}
RISK_LEVELS = {"low", "medium", "high", "hidden", "none"}
BUILT_IN_CONTROLS = {
    "block",
    "mfa",
    "compliantDevice",
    "domainJoinedDevice",
    "approvedApplication",
    "compliantApplication",
    "passwordChange",
}
GRANT_KEYS = {"operator", "builtInControls", "customAuthenticationFactors", "termsOfUse", "authenticationStrength"}
SESSION_KEYS = {
    "applicationEnforcedRestrictions",
    "cloudAppSecurity",
    "signInFrequency",
    "persistentBrowser",
    "disableResilienceDefaults",
    "continuousAccessEvaluation",
}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def assert_graph_shape(policy: dict[str, Any]) -> None:
    assert set(policy) == POLICY_KEYS
    assert isinstance(policy["displayName"], str) and policy["displayName"]
    conditions = policy["conditions"]
    assert set(conditions) <= CONDITION_KEYS
    users = conditions["users"]
    assert set(users) <= USER_KEYS
    for key in ("includeGroups", "excludeGroups", "includeRoles", "excludeRoles"):
        assert all(GUID.match(v) for v in users[key]), key
    assert set(users["includeUsers"]) <= {"All"} | {v for v in users["includeUsers"] if GUID.match(v)}
    applications = conditions["applications"]
    assert set(applications) <= APPLICATION_KEYS
    assert applications["includeApplications"] == ["All"] and applications["excludeApplications"] == []
    assert conditions["clientAppTypes"] and set(conditions["clientAppTypes"]) <= CLIENT_APP_TYPES
    if conditions.get("platforms") is not None:
        platforms = conditions["platforms"]
        assert set(platforms) == {"includePlatforms", "excludePlatforms"}
        assert set(platforms["includePlatforms"]) | set(platforms["excludePlatforms"]) <= PLATFORMS
    for key in ("signInRiskLevels", "userRiskLevels"):
        assert set(conditions[key]) <= RISK_LEVELS
    grant = policy["grantControls"]
    assert set(grant) == GRANT_KEYS and grant["operator"] in ("AND", "OR")
    assert set(grant["builtInControls"]) <= BUILT_IN_CONTROLS
    assert grant["builtInControls"] or grant["authenticationStrength"], "a usable policy needs grant or block"
    if grant["authenticationStrength"] is not None:
        assert set(grant["authenticationStrength"]) == {"id"}
    session = policy["sessionControls"]
    if session is not None:
        assert set(session) <= SESSION_KEYS
        frequency = session["signInFrequency"]
        if frequency is not None:
            assert frequency["frequencyInterval"] in ("timeBased", "everyTime")
            assert frequency["authenticationType"] in ("primaryAndSecondaryAuthentication", "secondaryAuthentication")
            if frequency["frequencyInterval"] == "everyTime":
                assert frequency["type"] is None and frequency["value"] is None


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_every_template_is_valid_graph_json_in_report_only(template: Template) -> None:
    policy = template.build([BREAK_GLASS])
    assert policy["state"] == REPORT_ONLY == "enabledForReportingButNotEnforced"
    assert policy["displayName"] == template.display_name
    assert_graph_shape(policy)
    assert json.loads(json.dumps(policy)) == policy


def assert_kept(template_value: Any, stored: Any, path: str = "") -> None:
    """Everything the template says survives normalisation; normalisation may only add unset properties."""
    if isinstance(template_value, dict):
        assert isinstance(stored, dict), path
        for key, value in template_value.items():
            assert_kept(value, stored.get(key), f"{path}.{key}")
        for key in stored.keys() - template_value.keys():
            assert stored[key] in (None, [], False), f"{path}.{key} added as {stored[key]!r}"
    else:
        assert stored == template_value, path


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_every_template_passes_limens_policy_validation_without_warnings(template: Template) -> None:
    policy = template.build([BREAK_GLASS])
    validated = validate_policy(policy)
    assert validated.warnings == ()
    assert_kept(policy, validated.document)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_exclusions_go_to_exclude_users_once_each_and_in_order(template: Template) -> None:
    assert template.build([SECOND, BREAK_GLASS, SECOND])["conditions"]["users"]["excludeUsers"] == [SECOND, BREAK_GLASS]
    assert template.build([])["conditions"]["users"]["excludeUsers"] == []
    assert template.build((BREAK_GLASS,))["conditions"]["users"]["excludeUsers"] == [BREAK_GLASS]


def test_a_lone_string_is_refused_rather_than_excluded_character_by_character() -> None:
    with pytest.raises(TypeError):
        TEMPLATES[0].build(BREAK_GLASS)


def test_each_build_is_a_fresh_document() -> None:
    template = find_template("require-mfa-all-users")
    first = template.build([BREAK_GLASS])
    first["conditions"]["users"]["excludeUsers"].append(SECOND)
    first["conditions"]["applications"]["includeApplications"].append("x")
    second = template.build([BREAK_GLASS])
    assert second["conditions"]["users"]["excludeUsers"] == [BREAK_GLASS]
    assert second["conditions"]["applications"]["includeApplications"] == ["All"]


def test_the_six_recommended_templates_with_stable_keys() -> None:
    assert template_keys() == (
        "require-mfa-admins",
        "require-mfa-all-users",
        "block-legacy-authentication",
        "require-mfa-risky-sign-ins",
        "block-unknown-platforms",
        "require-password-change-high-risk-users",
    )
    assert len({t.display_name for t in TEMPLATES}) == len(TEMPLATES)
    assert all(t.description for t in TEMPLATES)


def test_find_template_is_case_insensitive_and_names_the_keys_when_unknown() -> None:
    assert find_template(" Block-Legacy-Authentication ").key == "block-legacy-authentication"
    with pytest.raises(NotFound, match="require-mfa-admins"):
        find_template("block-everything")


def test_mfa_for_admins_targets_the_security_defaults_admin_roles() -> None:
    policy = find_template("require-mfa-admins").build([BREAK_GLASS])
    users = policy["conditions"]["users"]
    assert users["includeRoles"] == sorted(admin_role_ids())
    assert all(role_catalogue()[r].security_defaults_admin for r in users["includeRoles"])
    assert users["includeUsers"] == [] and users["excludeRoles"] == []
    assert policy["grantControls"]["builtInControls"] == ["mfa"]
    assert policy["conditions"]["clientAppTypes"] == ["all"]


def test_all_user_templates_exclude_the_directory_sync_role() -> None:
    # SPEC §4.6: service accounts such as the sync account are excluded; they cannot do MFA.
    for template in TEMPLATES:
        users = template.build([BREAK_GLASS])["conditions"]["users"]
        if users["includeUsers"] == ["All"]:
            assert users["excludeRoles"] == [DIRECTORY_SYNCHRONIZATION_ACCOUNTS], template.key


def test_mfa_for_all_users() -> None:
    policy = find_template("require-mfa-all-users").build([BREAK_GLASS])
    assert policy["conditions"]["users"]["includeUsers"] == ["All"]
    assert policy["grantControls"]["builtInControls"] == ["mfa"]


def test_block_legacy_authentication_blocks_exchange_active_sync_and_other_clients() -> None:
    policy = find_template("block-legacy-authentication").build([BREAK_GLASS])
    assert policy["conditions"]["clientAppTypes"] == ["exchangeActiveSync", "other"]
    assert policy["grantControls"]["builtInControls"] == ["block"]


def test_risky_sign_ins_need_the_mfa_strength_every_time() -> None:
    policy = find_template("require-mfa-risky-sign-ins").build([BREAK_GLASS])
    assert policy["conditions"]["signInRiskLevels"] == ["high", "medium"]
    assert policy["grantControls"]["authenticationStrength"] == {"id": MFA_STRENGTH_ID}
    assert policy["grantControls"]["builtInControls"] == []  # mfa and a strength cannot be combined (SPEC §2.5)
    assert policy["sessionControls"]["signInFrequency"]["frequencyInterval"] == "everyTime"


def test_unknown_platforms_are_blocked_and_the_known_ones_let_through() -> None:
    policy = find_template("block-unknown-platforms").build([BREAK_GLASS])
    assert policy["conditions"]["platforms"] == {
        "includePlatforms": ["all"],
        "excludePlatforms": ["android", "iOS", "windows", "macOS", "linux"],
    }
    assert policy["grantControls"]["builtInControls"] == ["block"]


def test_password_change_for_high_risk_users_follows_the_spec_rules() -> None:
    # SPEC §2.5: mfa AND passwordChange, userRiskLevels, All applications without exclusions, no other condition.
    policy = find_template("require-password-change-high-risk-users").build([BREAK_GLASS])
    conditions = policy["conditions"]
    assert policy["grantControls"]["operator"] == "AND"
    assert policy["grantControls"]["builtInControls"] == ["mfa", "passwordChange"]
    assert conditions["userRiskLevels"] == ["high"]
    assert conditions["applications"]["includeApplications"] == ["All"]
    assert conditions["applications"]["excludeApplications"] == []
    assert conditions["clientAppTypes"] == ["all"]
    assert not conditions["signInRiskLevels"]
    assert all(conditions[k] is None for k in ("platforms", "locations", "devices", "authenticationFlows"))
    assert policy["sessionControls"]["signInFrequency"]["frequencyInterval"] == "everyTime"


def test_risk_templates_need_p2_and_the_others_p1() -> None:
    plans = {t.key: t.plan for t in TEMPLATES}
    assert {k for k, p in plans.items() if p is Plan.P2} == {
        "require-mfa-risky-sign-ins",
        "require-password-change-high-risk-users",
    }
    assert all(p in (Plan.P1, Plan.P2) for p in plans.values())
    for template in TEMPLATES:
        conditions = template.build([])["conditions"]
        uses_risk = bool(conditions["signInRiskLevels"] or conditions["userRiskLevels"])
        assert uses_risk == (template.plan is Plan.P2)


def test_lint_finds_nothing_in_the_templates_when_the_emergency_account_exists() -> None:
    policies = [t.build([BREAK_GLASS]) for t in TEMPLATES]
    facts = DirectoryFacts(
        user_ids=frozenset({BREAK_GLASS}),
        group_ids=frozenset(),
        application_ids=frozenset(),
        named_location_ids=frozenset(),
    )
    assert lint(policies, directory=facts, acting_user_id=None) == []


def test_lint_flags_every_all_users_template_built_without_an_exclusion() -> None:
    policies = [t.build([]) for t in TEMPLATES]
    findings = lint(policies, directory=DirectoryFacts(user_ids=frozenset()), acting_user_id=None)
    flagged = {f.display_name for f in findings if f.code == "couldLockEveryoneOut"}
    assert flagged == {t.display_name for t in TEMPLATES if t.key != "require-mfa-admins"}
    # Report-only cannot lock anyone out yet: a warning, not an error.
    assert {f.severity.value for f in findings} == {"warning"}
