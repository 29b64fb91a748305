"""Graph JSON validation of Conditional Access policies, named locations and authentication strengths
(limen.domain.access.schema): each rule, with the JSON path it reports."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from limen.domain.access.schema import (
    MAX_POLICY_BYTES,
    PolicyInvalid,
    ValidatedPolicy,
    policy_references,
    uses_risk_conditions,
    validate_authentication_strength,
    validate_named_location,
    validate_policy,
)
from limen.domain.access.schema_strengths import BUILT_IN_STRENGTHS, requirements_satisfied
from limen.domain.errors import ValidationFailed


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `changes` merged in; a value of ... deletes the key."""
    result = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is ...:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


BASE: dict[str, Any] = {
    "displayName": "Require MFA for everyone",
    "state": "enabled",
    "conditions": {
        "users": {"includeUsers": ["All"]},
        "applications": {"includeApplications": ["All"]},
        "clientAppTypes": ["all"],
    },
    "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
}


def policy(**changes: Any) -> dict[str, Any]:
    return merged(BASE, changes)


def valid(doc: Mapping[str, Any]) -> ValidatedPolicy:
    return validate_policy(doc)


def invalid(doc: Mapping[str, Any]) -> PolicyInvalid:
    with pytest.raises(PolicyInvalid) as caught:
        validate_policy(doc)
    return caught.value


def warning_paths(result: Any) -> list[str]:
    return [issue.path for issue in result.warnings]


# -- shape and normalisation -------------------------------------------------------------------------


def test_a_minimal_policy_is_filled_out_to_graphs_full_shape() -> None:
    document = valid(BASE).document
    assert document["description"] is None and document["sessionControls"] is None
    conditions = document["conditions"]
    assert conditions["users"] == {
        "excludeGroups": [],
        "excludeGuestsOrExternalUsers": None,
        "excludeRoles": [],
        "excludeUsers": [],
        "includeGroups": [],
        "includeGuestsOrExternalUsers": None,
        "includeRoles": [],
        "includeUsers": ["All"],
    }
    assert conditions["signInRiskLevels"] == [] and conditions["locations"] is None
    assert conditions["insiderRiskLevels"] is None and conditions["authenticationFlows"] is None
    # Beta-only conditions appear only when given.
    assert "agents" not in conditions and "deviceStates" not in conditions
    assert document["grantControls"] == {
        "operator": "OR",
        "builtInControls": ["mfa"],
        "customAuthenticationFactors": [],
        "termsOfUse": [],
        "authenticationStrength": None,
    }


def test_the_spec_example_policy_is_valid() -> None:
    example = {
        "displayName": "CA010 - All users - All resources - Require MFA off trusted networks",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": ["4b8f2c7e-9c3a-4a43-a7a1-2f1f0b0d7f10"],
                "excludeGroups": ["6c96716b-b32b-40b8-9009-49748bb6fcd5"],
                "excludeGuestsOrExternalUsers": {
                    "guestOrExternalUserTypes": "serviceProvider",
                    "externalTenants": {
                        "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
                        "membershipKind": "all",
                    },
                },
            },
            "applications": {"includeApplications": ["All"], "excludeApplications": []},
            "clientAppTypes": ["browser", "mobileAppsAndDesktopClients"],
            "platforms": {"includePlatforms": ["all"], "excludePlatforms": []},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
            "devices": {
                "deviceFilter": {
                    "mode": "exclude",
                    "rule": 'device.trustType -eq "ServerAD" -and device.isCompliant -eq "True"',
                }
            },
            "authenticationFlows": None,
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": [],
            "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000002"},
        },
        "sessionControls": {
            "signInFrequency": {
                "isEnabled": True,
                "type": "hours",
                "value": 12,
                "frequencyInterval": "timeBased",
                "authenticationType": "primaryAndSecondaryAuthentication",
            },
            "persistentBrowser": {"isEnabled": True, "mode": "never"},
            "applicationEnforcedRestrictions": None,
            "disableResilienceDefaults": False,
        },
    }
    result = valid(example)
    assert result.warnings == ()
    tenants = result.document["conditions"]["users"]["excludeGuestsOrExternalUsers"]["externalTenants"]
    assert tenants == {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}
    assert result.document["grantControls"]["authenticationStrength"] == {"id": "00000000-0000-0000-0000-000000000002"}


def test_server_set_properties_and_annotations_are_accepted_and_dropped() -> None:
    exported = policy(
        **{
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#identity/conditionalAccess/policies/$entity",
            "@odata.type": "#microsoft.graph.conditionalAccessPolicy",
            "#microsoft.graph.restore": {"title": "microsoft.graph.restore", "target": "https://example.test"},
            "id": "809741fe-fb1b-4746-9ff0-83a978a4c891",
            "templateId": None,
            "createdDateTime": "2026-02-13T11:37:41.7574033Z",
            "createdDateTime@odata.type": "#DateTimeOffset",
            "modifiedDateTime": None,
            "deletedDateTime": None,
            "partialEnablementStrategy": None,
            "conditions": {"users": {"includeUsers@odata.type": "#Collection(String)"}},
        }
    )
    result = valid(exported)
    assert result.id == "809741fe-fb1b-4746-9ff0-83a978a4c891"
    assert set(result.document) == {
        "displayName",
        "description",
        "state",
        "conditions",
        "grantControls",
        "sessionControls",
    }
    assert "includeUsers@odata.type" not in result.document["conditions"]["users"]


def test_null_missing_and_empty_arrays_are_read_as_graph_reads_them() -> None:
    result = valid(
        policy(
            conditions={"locations": [], "platforms": None, "users": {"excludeUsers": None}, "signInRiskLevels": None}
        )
    )
    conditions = result.document["conditions"]
    assert conditions["locations"] is None and conditions["platforms"] is None
    assert conditions["users"]["excludeUsers"] == [] and conditions["signInRiskLevels"] == []


def test_beta_conditions_are_kept() -> None:
    beta = policy(
        conditions={
            "agents": {"includeAgentUsers": ["All"], "excludeAgentUsers": [], "agentFilter": None},
            "agentIdRiskLevels": "medium,high",
            "insiderRiskLevels": "elevated",
            "authenticationFlows": {"transferMethods": "deviceCodeFlow,authenticationTransfer"},
            "clientApplications": {
                "includeServicePrincipals": ["ServicePrincipalsInMyTenant"],
                "includeAgentIdServicePrincipals": ["All"],
            },
            "applications": {"applicationFilter": {"mode": "include", "rule": 'CustomSecurityAttribute.x -eq "y"'}},
        },
        sessionControls={"continuousAccessEvaluation": {"mode": "strictLocation"}, "secureSignInSession": None},
    )
    document = valid(beta).document
    conditions = document["conditions"]
    assert conditions["agents"] == {"includeAgentUsers": ["All"], "excludeAgentUsers": [], "agentFilter": None}
    assert conditions["agentIdRiskLevels"] == "medium,high"
    assert conditions["authenticationFlows"] == {"transferMethods": "deviceCodeFlow,authenticationTransfer"}
    assert conditions["clientApplications"]["includeAgentIdServicePrincipals"] == ["All"]
    assert conditions["applications"]["applicationFilter"]["mode"] == "include"
    assert document["sessionControls"]["continuousAccessEvaluation"] == {"mode": "strictLocation"}


def test_an_unknown_property_is_an_error_at_its_path() -> None:
    error = invalid(policy(conditions={"users": {"includeUserz": ["All"]}}))
    assert error.path == "conditions.users.includeUserz"
    assert "does not exist on type 'conditionalAccessUsers'" in error.reason
    assert isinstance(error, ValidationFailed)


def test_a_property_name_in_the_wrong_case_is_normalised_with_a_warning() -> None:
    result = valid(
        merged({k: v for k, v in BASE.items() if k != "grantControls"}, {"GrantControls": BASE["grantControls"]})
    )
    assert result.document["grantControls"]["builtInControls"] == ["mfa"]
    assert warning_paths(result) == ["GrantControls"]
    both = invalid(policy(displayname="Twice"))
    assert both.path == "displayname" and "differ only in case" in both.reason


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"conditions": {"users": {"includeUsers": "All"}}}, "conditions.users.includeUsers", "expected an array"),
        ({"conditions": {"users": {"includeUsers": ["All", 5]}}}, "conditions.users.includeUsers[1]", "a number"),
        ({"conditions": {"users": {"excludeGroups": [""]}}}, "conditions.users.excludeGroups[0]", "empty string"),
        ({"conditions": {"clientAppTypes": ["browser", "fax"]}}, "conditions.clientAppTypes[1]", "'fax'"),
        (
            {"conditions": {"platforms": {"includePlatforms": ["amiga"]}}},
            "conditions.platforms.includePlatforms[0]",
            "amiga",
        ),
        ({"conditions": {"signInRiskLevels": ["extreme"]}}, "conditions.signInRiskLevels[0]", "riskLevel"),
        (
            {"conditions": {"servicePrincipalRiskLevels": ["hidden"]}},
            "conditions.servicePrincipalRiskLevels[0]",
            "hidden",
        ),
        ({"state": "on"}, "state", "conditionalAccessPolicyState"),
        ({"state": None}, "state", "cannot be null"),
        ({"state": ...}, "state", "is required"),
        ({"displayName": ""}, "displayName", "must not be empty"),
        ({"displayName": "x" * 257}, "displayName", "at most 256"),
        ({"displayName": 7}, "displayName", "expected a string"),
        ({"conditions": ...}, "conditions", "is required"),
        ({"conditions": {"users": []}}, "conditions.users", "is required"),
        ({"conditions": {"applications": None}}, "conditions.applications", "is required"),
        ({"conditions": {"locations": "All"}}, "conditions.locations", "expected an object"),
        (
            {"grantControls": {"builtInControls": ["compliantNetwork"]}},
            "grantControls.builtInControls[0]",
            "compliantNetwork",
        ),
        (
            {"grantControls": {"builtInControls": ["unknownFutureValue"]}},
            "grantControls.builtInControls[0]",
            "not a valid",
        ),
        ({"grantControls": {"operator": "XOR"}}, "grantControls.operator", "'XOR'"),
        (
            {"conditions": {"applications": {"includeUserActions": ["urn:user:changepassword"]}}},
            "conditions.applications.includeUserActions[0]",
            "not a user action",
        ),
        (
            {
                "conditions": {
                    "users": {"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": ["internalGuest"]}}
                }
            },
            "conditions.users.includeGuestsOrExternalUsers.guestOrExternalUserTypes",
            "comma-separated string",
        ),
        (
            {
                "conditions": {
                    "users": {"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest,alien"}}
                }
            },
            "conditions.users.includeGuestsOrExternalUsers.guestOrExternalUserTypes",
            "'alien'",
        ),
        (
            {"conditions": {"users": {"includeGuestsOrExternalUsers": {"externalTenants": None}}}},
            "conditions.users.includeGuestsOrExternalUsers.guestOrExternalUserTypes",
            "is required",
        ),
        (
            {"conditions": {"authenticationFlows": {"transferMethods": ["deviceCodeFlow"]}}},
            "conditions.authenticationFlows.transferMethods",
            "got an array",
        ),
        ({"conditions": {"insiderRiskLevels": "severe"}}, "conditions.insiderRiskLevels", "'severe'"),
        (
            {"conditions": {"devices": {"deviceFilter": {"mode": "maybe", "rule": "x"}}}},
            "conditions.devices.deviceFilter.mode",
            "filterMode",
        ),
        (
            {"conditions": {"devices": {"deviceFilter": {"mode": "include"}}}},
            "conditions.devices.deviceFilter.rule",
            "is required",
        ),
        (
            {"grantControls": {"authenticationStrength": {"displayName": "x"}}},
            "grantControls.authenticationStrength.id",
            "is required",
        ),
        (
            {"grantControls": {"authenticationStrength": {"id": "strong"}, "builtInControls": []}},
            "grantControls.authenticationStrength.id",
            "not an authentication strength id",
        ),
        (
            {"sessionControls": {"disableResilienceDefaults": "yes"}},
            "sessionControls.disableResilienceDefaults",
            "a boolean",
        ),
        (
            {"sessionControls": {"signInFrequency": {"isEnabled": True, "type": "hours", "value": 1.5}}},
            "sessionControls.signInFrequency.value",
            "an integer",
        ),
    ],
)
def test_shape_errors_name_the_json_path(changes: dict[str, Any], path: str, reason: str) -> None:
    error = invalid(policy(**changes))
    assert error.path == path
    assert reason in error.reason


def test_every_problem_is_reported_not_only_the_first() -> None:
    error = invalid(policy(state="on", conditions={"clientAppTypes": ["fax"], "users": {"includeUserz": []}}))
    assert [issue.path for issue in error.errors] == [
        "state",
        "conditions.clientAppTypes[0]",
        "conditions.users.includeUserz",
    ]
    assert error.path == "state" and str(error).startswith("state: ")


def test_enum_values_in_another_case_and_deprecated_ones_are_normalised_with_warnings() -> None:
    result = valid(
        policy(
            conditions={
                "clientAppTypes": ["All", "easUnsupported", "modern"],
                "platforms": {"includePlatforms": ["IOS"]},
            },
            grantControls={"operator": "or"},
        )
    )
    conditions = result.document["conditions"]
    assert conditions["clientAppTypes"] == ["all", "exchangeActiveSync", "mobileAppsAndDesktopClients"]
    assert conditions["platforms"]["includePlatforms"] == ["iOS"]
    assert result.document["grantControls"]["operator"] == "OR"
    messages = {issue.path: issue.message for issue in result.warnings}
    assert (
        messages["conditions.clientAppTypes[1]"] == "'easUnsupported' is deprecated; replaced by 'exchangeActiveSync'"
    )
    assert "grantControls.operator" in messages


def test_keywords_are_written_graphs_way() -> None:
    result = valid(
        policy(
            conditions={
                "users": {"includeUsers": ["all"]},
                "locations": {"includeLocations": ["all"], "excludeLocations": ["alltrusted"]},
            }
        )
    )
    conditions = result.document["conditions"]
    assert conditions["users"]["includeUsers"] == ["All"]
    assert conditions["locations"] == {"excludeLocations": ["AllTrusted"], "includeLocations": ["All"]}
    assert "conditions.users.includeUsers[0]" in warning_paths(result)


def test_flag_enums_are_one_comma_separated_string() -> None:
    guests = {"guestOrExternalUserTypes": " internalGuest , b2bCollaborationGuest", "externalTenants": None}
    result = valid(policy(conditions={"users": {"includeGuestsOrExternalUsers": guests}}))
    value = result.document["conditions"]["users"]["includeGuestsOrExternalUsers"]["guestOrExternalUserTypes"]
    assert value == "internalGuest,b2bCollaborationGuest"
    assert warning_paths(result) == ["conditions.users.includeGuestsOrExternalUsers.guestOrExternalUserTypes"]


def test_external_tenants_need_guest_types_and_a_known_kind() -> None:
    tenants = {"membershipKind": "enumerated", "members": ["cb9543bb-9168-4dc6-b17f-766487518a6a"]}
    result = valid(
        policy(
            conditions={
                "users": {
                    "includeGuestsOrExternalUsers": {
                        "guestOrExternalUserTypes": "b2bCollaborationGuest",
                        "externalTenants": tenants,
                    }
                }
            }
        )
    )
    inferred = result.document["conditions"]["users"]["includeGuestsOrExternalUsers"]["externalTenants"]
    assert inferred["@odata.type"] == "#microsoft.graph.conditionalAccessEnumeratedExternalTenants"
    base = "conditions.users.includeGuestsOrExternalUsers"
    error = invalid(
        policy(
            conditions={
                "users": {
                    "includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "none", "externalTenants": tenants}
                }
            }
        )
    )
    assert error.path == f"{base}.externalTenants"
    odd = {"@odata.type": "#microsoft.graph.conditionalAccessSomeTenants", "membershipKind": "all"}
    error = invalid(
        policy(
            conditions={
                "users": {
                    "includeGuestsOrExternalUsers": {
                        "guestOrExternalUserTypes": "serviceProvider",
                        "externalTenants": odd,
                    }
                }
            }
        )
    )
    assert error.path == f"{base}.externalTenants.@odata.type"


def test_a_wrong_odata_type_is_an_error() -> None:
    error = invalid(policy(conditions={"users": {"@odata.type": "#microsoft.graph.conditionalAccessApplications"}}))
    assert error.path == "conditions.users.@odata.type"


def test_users_or_client_applications_and_applications_are_required() -> None:
    error = invalid(policy(conditions={"users": None}))
    assert error.path == "conditions.users" and "clientApplications" in error.reason
    workload = policy(
        conditions={"users": None, "clientApplications": {"includeServicePrincipals": ["ServicePrincipalsInMyTenant"]}}
    )
    assert valid(workload).document["conditions"]["users"] is None


def test_a_policy_without_controls_is_valid_with_a_warning() -> None:
    result = valid(policy(grantControls=None))
    assert [str(issue) for issue in result.warnings] == [
        "the policy has neither grant nor session controls: it does nothing when it applies"
    ]


# -- size limits and device filters --------------------------------------------------------------------


def test_a_policy_larger_than_256_kib_is_refused() -> None:
    many = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(MAX_POLICY_BYTES // 38 + 1)]
    error = invalid(policy(conditions={"users": {"excludeUsers": many}}))
    assert error.path == "" and "256 KiB" in error.reason


def test_device_filter_rules_are_at_most_3072_characters_and_must_parse() -> None:
    long_rule = " -or ".join(['device.displayName -eq "PAW-00000001"'] * 80)
    assert len(long_rule) > 3072
    error = invalid(policy(conditions={"devices": {"deviceFilter": {"mode": "exclude", "rule": long_rule}}}))
    assert error.path == "conditions.devices.deviceFilter.rule" and "at most 3072" in error.reason
    error = invalid(
        policy(conditions={"devices": {"deviceFilter": {"mode": "exclude", "rule": "device.isCompliant -eq"}}})
    )
    assert error.path == "conditions.devices.deviceFilter.rule"
    fine = {"mode": "exclude", "rule": 'device.isCompliant -eq True -and device.trustType -eq "ServerAD"'}
    assert (
        valid(policy(conditions={"devices": {"deviceFilter": fine}})).document["conditions"]["devices"]["deviceFilter"]
        == fine
    )


def test_deprecated_device_states_warn_and_cannot_meet_a_device_filter() -> None:
    states = {"includeStates": ["All"], "excludeStates": ["Compliant"]}
    result = valid(policy(conditions={"deviceStates": states}))
    assert result.document["conditions"]["deviceStates"] == states
    assert warning_paths(result) == ["conditions.deviceStates"]
    both = policy(
        conditions={
            "deviceStates": states,
            "devices": {"deviceFilter": {"mode": "include", "rule": "device.isCompliant -eq True"}},
        }
    )
    assert invalid(both).path == "conditions.deviceStates"


# -- grant controls (SPEC.md §2.5) ---------------------------------------------------------------------

PASSWORD_CHANGE = {
    "conditions": {"userRiskLevels": ["high"]},
    "grantControls": {"operator": "AND", "builtInControls": ["mfa", "passwordChange"]},
}


def test_a_password_change_policy_as_documented_is_valid() -> None:
    assert valid(policy(**PASSWORD_CHANGE)).document["grantControls"]["builtInControls"] == ["mfa", "passwordChange"]


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        (
            {"grantControls": {"builtInControls": ["passwordChange"]}},
            "grantControls.builtInControls",
            "with 'mfa' using operator AND",
        ),
        ({"grantControls": {"operator": "OR"}}, "grantControls.builtInControls", "with 'mfa' using operator AND"),
        (
            {"grantControls": {"builtInControls": ["mfa", "passwordChange", "compliantDevice"]}},
            "grantControls.builtInControls",
            "cannot be combined with other controls (compliantDevice)",
        ),
        (
            {"grantControls": {"termsOfUse": ["7616e160-251b-4c7a-a2de-4bcc2eda5c29"]}},
            "grantControls.builtInControls",
            "other controls",
        ),
        ({"conditions": {"userRiskLevels": []}}, "conditions.userRiskLevels", "must be set"),
        (
            {"conditions": {"applications": {"includeApplications": ["Office365"]}}},
            "conditions.applications",
            "all resources",
        ),
        (
            {"conditions": {"applications": {"excludeApplications": ["00000002-0000-0ff1-ce00-000000000000"]}}},
            "conditions.applications",
            "no exclusions",
        ),
        ({"conditions": {"locations": {"includeLocations": ["All"]}}}, "conditions.locations", "may only use"),
        ({"conditions": {"signInRiskLevels": ["high"]}}, "conditions.signInRiskLevels", "may only use"),
        ({"conditions": {"clientAppTypes": ["browser"]}}, "conditions.clientAppTypes", "may only use"),
    ],
)
def test_password_change_rules(changes: dict[str, Any], path: str, reason: str) -> None:
    error = invalid(merged(policy(**PASSWORD_CHANGE), changes))
    assert (error.path, reason in error.reason) == (path, True), error.reason


def test_mfa_and_an_authentication_strength_are_not_both_allowed() -> None:
    error = invalid(policy(grantControls={"authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004"}}))
    assert error.path == "grantControls.authenticationStrength" and "'mfa'" in error.reason


def test_risk_remediation_needs_a_strength_with_and_and_no_password_change() -> None:
    strength = {"id": "00000000-0000-0000-0000-000000000004"}
    good = policy(
        conditions={"userRiskLevels": ["high"]},
        grantControls={"operator": "AND", "builtInControls": ["riskRemediation"], "authenticationStrength": strength},
    )
    assert valid(good).document["grantControls"]["builtInControls"] == ["riskRemediation"]
    for grant in (
        {"operator": "AND", "builtInControls": ["riskRemediation"]},
        {"operator": "OR", "builtInControls": ["riskRemediation"], "authenticationStrength": strength},
    ):
        error = invalid(
            merged(good, {"grantControls": grant | {"authenticationStrength": grant.get("authenticationStrength")}})
        )
        assert (
            error.path == "grantControls.builtInControls"
            and "authenticationStrength using operator AND" in error.reason
        )
    both = merged(good, {"grantControls": {"builtInControls": ["riskRemediation", "passwordChange", "mfa"]}})
    assert any("cannot be used together" in issue.message for issue in invalid(both).errors)


def test_several_controls_need_an_operator() -> None:
    error = invalid(policy(grantControls={"operator": None, "builtInControls": ["mfa", "compliantDevice"]}))
    assert error.path == "grantControls.operator"
    assert valid(policy(grantControls={"operator": None})).document["grantControls"]["operator"] is None


def test_app_protection_controls_on_macos_warn() -> None:
    result = valid(
        policy(
            conditions={"platforms": {"includePlatforms": ["iOS", "macOS"]}},
            grantControls={"builtInControls": ["approvedApplication"]},
        )
    )
    assert warning_paths(result) == ["grantControls.builtInControls"]


# -- session controls ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "path"),
    [
        ({"type": "hours", "value": 24}, "sessionControls.signInFrequency.value"),
        ({"type": "hours", "value": 0}, "sessionControls.signInFrequency.value"),
        ({"type": "days", "value": 366}, "sessionControls.signInFrequency.value"),
        ({"value": 4}, "sessionControls.signInFrequency.type"),
        ({"type": "days"}, "sessionControls.signInFrequency.value"),
        ({"frequencyInterval": "everyTime", "type": "hours", "value": 1}, "sessionControls.signInFrequency.type"),
    ],
)
def test_sign_in_frequency_ranges(frequency: dict[str, Any], path: str) -> None:
    error = invalid(policy(sessionControls={"signInFrequency": {"isEnabled": True, **frequency}}))
    assert error.path == path


@pytest.mark.parametrize(
    "frequency",
    [
        {"isEnabled": True, "type": "hours", "value": 23, "frequencyInterval": "timeBased"},
        {"isEnabled": True, "type": "days", "value": 365, "frequencyInterval": None},
        {"isEnabled": True, "type": None, "value": None, "frequencyInterval": "everyTime"},
        {"isEnabled": False, "type": "hours", "value": 99},
    ],
)
def test_valid_sign_in_frequencies(frequency: dict[str, Any]) -> None:
    assert valid(policy(sessionControls={"signInFrequency": frequency})).document["sessionControls"]["signInFrequency"]


def test_enabled_session_controls_need_their_setting() -> None:
    assert (
        invalid(policy(sessionControls={"persistentBrowser": {"isEnabled": True}})).path
        == "sessionControls.persistentBrowser.mode"
    )
    error = invalid(policy(sessionControls={"cloudAppSecurity": {"isEnabled": True}}))
    assert error.path == "sessionControls.cloudAppSecurity.cloudAppSecurityType"


def test_a_persistent_browser_control_on_some_apps_warns() -> None:
    result = valid(
        policy(
            conditions={"applications": {"includeApplications": ["Office365"]}},
            sessionControls={"persistentBrowser": {"isEnabled": True, "mode": "never"}},
        )
    )
    assert warning_paths(result) == ["sessionControls.persistentBrowser"]


# -- embedded strengths, references, plans ---------------------------------------------------------------


def test_an_embedded_custom_strength_is_extracted_for_the_import() -> None:
    embedded = {
        "id": "6e301588-db43-4d12-a79b-b2b2cc6cfad5",
        "createdDateTime": "2026-08-03T19:29:58Z",
        "displayName": "BreakGlass",
        "description": "",
        "policyType": "custom",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": ["fido2"],
        "combinationConfigurations": [],
    }
    result = valid(policy(grantControls={"builtInControls": [], "authenticationStrength": embedded}))
    assert result.document["grantControls"]["authenticationStrength"] == {"id": embedded["id"]}
    assert result.authentication_strength == {
        "id": embedded["id"],
        "displayName": "BreakGlass",
        "description": "",
        "allowedCombinations": ["fido2"],
        "combinationConfigurations": [],
    }
    broken = embedded | {"allowedCombinations": ["carrierPigeon"]}
    result = valid(policy(grantControls={"builtInControls": [], "authenticationStrength": broken}))
    assert result.authentication_strength is None
    assert warning_paths(result) == ["grantControls.authenticationStrength.allowedCombinations[0]"]
    built_in = dict(BUILT_IN_STRENGTHS["00000000-0000-0000-0000-000000000002"])
    assert (
        valid(policy(grantControls={"builtInControls": [], "authenticationStrength": built_in})).authentication_strength
        is None
    )


def test_policy_references_list_ids_with_their_paths_and_skip_keywords() -> None:
    document = valid(
        policy(
            conditions={
                "users": {
                    "includeUsers": ["All"],
                    "excludeUsers": ["GuestsOrExternalUsers", "f974c6fd-78b5-462f-8c22-20088cf70dec"],
                    "excludeGroups": ["<EmergencyAccessGroup>"],
                    "includeRoles": ["62e90394-69f5-4237-9190-012177145e10"],
                },
                "applications": {"includeApplications": ["Office365", "797f4846-ba00-4fd7-ba43-dac1f8f63013"]},
                "locations": {
                    "includeLocations": ["All"],
                    "excludeLocations": ["AllTrusted", "16c50f86-4c85-4dd4-867d-f07ee473234c"],
                },
            }
        )
    ).document
    assert [(ref.kind, ref.path, ref.value) for ref in policy_references(document)] == [
        ("user", "conditions.users.excludeUsers[1]", "f974c6fd-78b5-462f-8c22-20088cf70dec"),
        ("group", "conditions.users.excludeGroups[0]", "<EmergencyAccessGroup>"),
        ("role", "conditions.users.includeRoles[0]", "62e90394-69f5-4237-9190-012177145e10"),
        ("application", "conditions.applications.includeApplications[1]", "797f4846-ba00-4fd7-ba43-dac1f8f63013"),
        ("namedLocation", "conditions.locations.excludeLocations[1]", "16c50f86-4c85-4dd4-867d-f07ee473234c"),
    ]


def test_risk_conditions_are_what_plan_p1_lacks() -> None:
    assert not uses_risk_conditions(valid(BASE).document)
    assert uses_risk_conditions(valid(policy(conditions={"signInRiskLevels": ["high"]})).document)
    assert uses_risk_conditions(valid(policy(**PASSWORD_CHANGE)).document)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PolicyInvalid) as caught:
        validate_policy(["not", "a", "policy"])  # type: ignore[arg-type]
    assert caught.value.path == ""


# -- named locations -----------------------------------------------------------------------------------

IP_LOCATION = {
    "@odata.type": "#microsoft.graph.ipNamedLocation",
    "displayName": "HQ egress",
    "isTrusted": True,
    "ipRanges": [
        {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
        {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/48"},
    ],
}
COUNTRY_LOCATION = {
    "@odata.type": "#microsoft.graph.countryNamedLocation",
    "displayName": "Allowed countries",
    "countriesAndRegions": ["US", "GB"],
    "includeUnknownCountriesAndRegions": False,
    "countryLookupMethod": "clientIpAddress",
}


def test_the_spec_named_locations_are_valid() -> None:
    ip = validate_named_location(IP_LOCATION)
    assert ip.document == IP_LOCATION and ip.odata_type == "#microsoft.graph.ipNamedLocation" and ip.is_trusted
    assert validate_named_location(COUNTRY_LOCATION).document == COUNTRY_LOCATION


def test_named_location_defaults_and_exported_properties() -> None:
    exported = {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "id": "11b57b4b-f815-4c91-8a70-e0ca96ad71a0",
        "displayName": "loc_T1Ext",
        "createdDateTime": None,
        "modifiedDateTime": "2021-06-09T09:29:57.4196073Z",
        "deletedDateTime": None,
        "ipRanges": [{"cidrAddress": "10.0.0.4/27"}, {"cidrAddress": "2001:db8:1::/48"}],
    }
    result = validate_named_location(exported)
    assert result.id == "11b57b4b-f815-4c91-8a70-e0ca96ad71a0"
    assert result.document == {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": "loc_T1Ext",
        # Ranges without @odata.type get it from their address family; host bits are kept as entered.
        "ipRanges": [
            {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.4/27"},
            {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8:1::/48"},
        ],
        "isTrusted": False,
    }
    country = validate_named_location(
        {"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "NL", "countriesAndRegions": ["nl"]}
    )
    assert country.document["countriesAndRegions"] == ["NL"]
    assert country.document["countryLookupMethod"] == "clientIpAddress"
    assert country.document["includeUnknownCountriesAndRegions"] is False
    assert [issue.path for issue in country.warnings] == ["countriesAndRegions[0]"]


@pytest.mark.parametrize(
    ("doc", "path", "reason"),
    [
        ({k: v for k, v in IP_LOCATION.items() if k != "@odata.type"}, "@odata.type", "is required"),
        (IP_LOCATION | {"@odata.type": "#microsoft.graph.serviceTagNamedLocation"}, "@odata.type", "not supported"),
        (IP_LOCATION | {"note": "placeholder"}, "note", "does not exist on type 'ipNamedLocation'"),
        (IP_LOCATION | {"displayName": None}, "displayName", "cannot be null"),
        (IP_LOCATION | {"ipRanges": []}, "ipRanges", "at least one range"),
        (IP_LOCATION | {"ipRanges": [{"cidrAddress": "10.0.0.0/8"}]}, "ipRanges[0].cidrAddress", "longer than /8"),
        (
            IP_LOCATION | {"ipRanges": [{"cidrAddress": "203.0.113.0/24"}, {"cidrAddress": "xx.xx.xxx.xx/32"}]},
            "ipRanges[1].cidrAddress",
            "not a CIDR range",
        ),
        (IP_LOCATION | {"ipRanges": [{"cidrAddress": "203.0.113.7"}]}, "ipRanges[0].cidrAddress", "no prefix length"),
        (
            IP_LOCATION
            | {"ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "2001:db8::/48"}]},
            "ipRanges[0].cidrAddress",
            "IPv6 range in an iPv4CidrRange",
        ),
        (
            IP_LOCATION | {"ipRanges": [{"cidrAddress": "203.0.113.0/24", "description": "HQ"}]},
            "ipRanges[0].description",
            "does not exist",
        ),
        (
            IP_LOCATION | {"ipRanges": [{"cidrAddress": f"10.{i // 256}.{i % 256}.0/24"} for i in range(2001)]},
            "ipRanges",
            "at most 2000",
        ),
        (IP_LOCATION | {"isTrusted": "yes"}, "isTrusted", "a boolean"),
        (COUNTRY_LOCATION | {"countriesAndRegions": ["US", "XX"]}, "countriesAndRegions[1]", "ISO 3166-1"),
        (COUNTRY_LOCATION | {"countryLookupMethod": "carrier"}, "countryLookupMethod", "countryLookupMethodType"),
    ],
)
def test_named_location_errors(doc: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        validate_named_location(doc)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_a_named_location_without_type_names_its_foreign_properties_too() -> None:
    hand_written = {
        "displayName": "NL001",
        "locationType": "ipNamedLocation",
        "ipRanges": [{"cidrAddress": "203.0.113.0/24"}],
    }
    with pytest.raises(PolicyInvalid) as caught:
        validate_named_location(hand_written)
    assert [issue.path for issue in caught.value.errors] == ["@odata.type", "locationType"]


def test_gps_lookup_and_compliant_networks_are_stored() -> None:
    gps = validate_named_location(COUNTRY_LOCATION | {"countryLookupMethod": "authenticatorAppGps"})
    assert gps.document["countryLookupMethod"] == "authenticatorAppGps"
    compliant = {
        "@odata.type": "#microsoft.graph.compliantNetworkNamedLocation",
        "displayName": "All Compliant Network locations",
        "compliantNetworkType": "allTenantCompliantNetworks",
        "isTrusted": False,
    }
    assert validate_named_location(compliant).document == compliant


# -- authentication strengths ----------------------------------------------------------------------------


def test_a_custom_strength_is_normalised() -> None:
    result = validate_authentication_strength(
        {
            "displayName": "Authenticator or passkey",
            "allowedCombinations": ["fido2", "Password,SoftwareOath", "softwareOath,password"],
        }
    )
    assert result.document == {
        "displayName": "Authenticator or passkey",
        "description": None,
        "allowedCombinations": ["fido2", "password,softwareOath"],
        "combinationConfigurations": [],
    }
    assert [issue.path for issue in result.warnings] == ["allowedCombinations[1]", "allowedCombinations[2]"]


def test_combinations_limen_cannot_satisfy_are_valid_with_a_warning() -> None:
    result = validate_authentication_strength(
        {"displayName": "WHfB", "allowedCombinations": ["windowsHelloForBusiness"]}
    )
    assert "Limen has no method for windowsHelloForBusiness" in result.warnings[0].message


@pytest.mark.parametrize(
    ("doc", "path", "reason"),
    [
        (
            {"id": "00000000-0000-0000-0000-000000000003", "displayName": "x", "allowedCombinations": ["fido2"]},
            "id",
            "read-only",
        ),
        ({"displayName": "x"}, "allowedCombinations", "is required"),
        ({"displayName": "x", "allowedCombinations": []}, "allowedCombinations", "at least one"),
        ({"allowedCombinations": ["fido2"]}, "displayName", "is required"),
        (
            {"displayName": "x", "allowedCombinations": ["password,carrierPigeon"]},
            "allowedCombinations[0]",
            "carrierPigeon",
        ),
        ({"displayName": "x", "allowedCombinations": ["email"]}, "allowedCombinations[0]", "can't be used"),
        ({"displayName": "x", "allowedCombinations": ["sms,sms"]}, "allowedCombinations[0]", "twice"),
        (
            {
                "displayName": "x",
                "allowedCombinations": ["fido2"],
                "combinationConfigurations": [
                    {
                        "@odata.type": "#microsoft.graph.fido2CombinationConfiguration",
                        "appliesToCombinations": ["password,sms"],
                        "allowedAAGUIDs": [],
                    }
                ],
            },
            "combinationConfigurations[0].appliesToCombinations[0]",
            "not one of the strength's allowedCombinations",
        ),
    ],
)
def test_strength_errors(doc: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        validate_authentication_strength(doc)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_requirements_satisfied_says_whether_every_combination_is_multifactor() -> None:
    assert requirements_satisfied(["fido2", "softwareOath,password"]) == "mfa"
    assert requirements_satisfied(["fido2", "sms"]) == "none"
    assert requirements_satisfied([]) == "none"
