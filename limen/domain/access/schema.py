"""Graph's `conditionalAccessPolicy` JSON: validation and the normalised document (SPEC.md §2, §10).

`validate_policy(doc)` returns a `ValidatedPolicy` whose `document` is what Limen stores, exports and
evaluates, or raises `PolicyInvalid(path, reason)`. The document is Graph JSON in the shape Graph's own
GET returns (see limen.domain.access.schema_types for the normalisation rules) without the server-set
properties (`id`, `createdDateTime`, `modifiedDateTime`, `templateId`, ...), which the service adds.

What is checked, beyond the JSON shape of every v1.0 and beta property the conformance corpus uses:
the enums (deprecated client app types are replaced by their successors), the flag enums written as
one comma-separated string, the grant-control rules of SPEC.md §2.5, the sign-in frequency ranges and
the size limits of SPEC.md §10. Beta conditions Limen cannot evaluate (agents, insider risk, ...) are
valid and kept; the engine reports them as not evaluable.

References to users, groups, roles, applications and named locations are not looked up here (the
domain has no directory); `policy_references` lists them for the service, which warns about unknown ones.
Named locations and authentication strengths are validated by `validate_named_location` and
`validate_authentication_strength`, re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from limen.domain.access.device_filter import RuleSyntaxError
from limen.domain.access.device_filter import parse as parse_device_filter
from limen.domain.access.schema_locations import validate_named_location
from limen.domain.access.schema_strengths import (
    BUILT_IN_STRENGTH_IDS,
    validate_authentication_strength,
)
from limen.domain.access.schema_types import (
    Checker,
    Issue,
    ObjectType,
    PolicyInvalid,
    boolean,
    child,
    enum,
    enums,
    flags,
    integer,
    item,
    obj,
    opaque,
    string,
    strings,
)
from limen.domain.ids import parse_guid

#: SPEC.md §10 "Policy size".
MAX_POLICY_BYTES = 256 * 1024
MAX_DEVICE_FILTER_RULE = 3072
MAX_DISPLAY_NAME = 256

ENABLED = "enabled"
DISABLED = "disabled"
REPORT_ONLY = "enabledForReportingButNotEnforced"
POLICY_STATES = (ENABLED, DISABLED, REPORT_ONLY)

CLIENT_APP_TYPES = ("all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other")
#: Deprecated client app types and their successors (SPEC.md §2.2).
DEPRECATED_CLIENT_APP_TYPES = {"easUnsupported": "exchangeActiveSync", "modern": "mobileAppsAndDesktopClients"}
PLATFORMS = ("android", "iOS", "windows", "windowsPhone", "macOS", "linux", "all")
RISK_LEVELS = ("low", "medium", "high", "hidden", "none")
SERVICE_PRINCIPAL_RISK_LEVELS = ("low", "medium", "high", "none")
INSIDER_RISK_LEVELS = ("minor", "moderate", "elevated")
AGENT_ID_RISK_LEVELS = ("low", "medium", "high")
TRANSFER_METHODS = ("none", "deviceCodeFlow", "authenticationTransfer")
GUEST_OR_EXTERNAL_USER_TYPES = (
    "none",
    "internalGuest",
    "b2bCollaborationGuest",
    "b2bCollaborationMember",
    "b2bDirectConnectUser",
    "otherExternalUser",
    "serviceProvider",
)
MEMBERSHIP_KINDS = ("all", "enumerated")
GRANT_CONTROLS = (
    "block",
    "mfa",
    "compliantDevice",
    "domainJoinedDevice",
    "approvedApplication",
    "compliantApplication",
    "passwordChange",
    "riskRemediation",
)
OPERATORS = ("AND", "OR")
FILTER_MODES = ("include", "exclude")
USER_ACTIONS = ("urn:user:registersecurityinfo", "urn:user:registerdevice")

#: Keywords that may stand where object ids go (SPEC.md §2.3, §2.4, §2.2).
USER_KEYWORDS = ("All", "None", "GuestsOrExternalUsers")
APPLICATION_KEYWORDS = ("All", "None", "Office365", "MicrosoftAdminPortals", "AllAgentIdResources")
LOCATION_KEYWORDS = ("All", "AllTrusted")

#: Set by Graph, accepted on import and dropped (the service keeps `id` when it can).
SERVER_SET = frozenset(
    {"id", "createdDateTime", "modifiedDateTime", "deletedDateTime", "templateId", "partialEnablementStrategy"}
)

# -- the shape --------------------------------------------------------------------------------------

FILTER = ObjectType(
    "conditionalAccessFilter",
    {"mode": enum("filterMode", FILTER_MODES, required=True), "rule": string(required=True)},
)


def _membership_kind(value: Mapping[str, Any]) -> str | None:
    kind = str(value.get("membershipKind", "")).lower()
    return {
        "all": "conditionalAccessAllExternalTenants",
        "enumerated": "conditionalAccessEnumeratedExternalTenants",
    }.get(kind)


EXTERNAL_TENANTS = ObjectType(
    "conditionalAccessExternalTenants",
    subtypes=(
        ObjectType(
            "conditionalAccessAllExternalTenants",
            {"membershipKind": enum("conditionalAccessExternalTenantsMembershipKind", MEMBERSHIP_KINDS)},
        ),
        ObjectType(
            "conditionalAccessEnumeratedExternalTenants",
            {
                "membershipKind": enum("conditionalAccessExternalTenantsMembershipKind", MEMBERSHIP_KINDS),
                "members": strings(),
            },
        ),
    ),
    infer=_membership_kind,
)


def _check_guests(checker: Checker, value: dict[str, Any], path: str) -> None:
    if value.get("externalTenants") is not None and value.get("guestOrExternalUserTypes") == "none":
        checker.error(child(path, "externalTenants"), "may only be set when guestOrExternalUserTypes names guest types")


GUESTS_OR_EXTERNAL_USERS = ObjectType(
    "conditionalAccessGuestsOrExternalUsers",
    {
        "guestOrExternalUserTypes": flags(
            "conditionalAccessGuestOrExternalUserTypes", GUEST_OR_EXTERNAL_USER_TYPES, required=True
        ),
        "externalTenants": obj(EXTERNAL_TENANTS),
    },
    check=_check_guests,
)

USERS = ObjectType(
    "conditionalAccessUsers",
    {
        "excludeGroups": strings(),
        "excludeGuestsOrExternalUsers": obj(GUESTS_OR_EXTERNAL_USERS),
        "excludeRoles": strings(),
        "excludeUsers": strings(),
        "includeGroups": strings(),
        "includeGuestsOrExternalUsers": obj(GUESTS_OR_EXTERNAL_USERS),
        "includeRoles": strings(),
        "includeUsers": strings(),
    },
)

APPLICATIONS = ObjectType(
    "conditionalAccessApplications",
    {
        "applicationFilter": obj(FILTER),
        "excludeApplications": strings(),
        "includeApplications": strings(),
        "includeAuthenticationContextClassReferences": strings(),
        "includeUserActions": strings(),
        # Beta, Global Secure Access traffic profiles: stored, not interpreted.
        "globalSecureAccess": opaque(),
        "networkAccess": opaque(),
    },
)

CLIENT_APPLICATIONS = ObjectType(
    "conditionalAccessClientApplications",
    {
        "excludeServicePrincipals": strings(),
        "includeServicePrincipals": strings(),
        "servicePrincipalFilter": obj(FILTER),
        "includeAgentIdServicePrincipals": strings(fill=False),
        "excludeAgentIdServicePrincipals": strings(fill=False),
        "agentIdServicePrincipalFilter": obj(FILTER, fill=False),
    },
)

AUTHENTICATION_FLOWS = ObjectType(
    "conditionalAccessAuthenticationFlows",
    {"transferMethods": flags("conditionalAccessTransferMethods", TRANSFER_METHODS, required=True)},
)

DEVICES = ObjectType(
    "conditionalAccessDevices",
    {
        "deviceFilter": obj(FILTER),
        # Beta, deprecated in favour of deviceFilter.
        "includeDevices": strings(fill=False),
        "excludeDevices": strings(fill=False),
        "includeDeviceStates": strings(fill=False),
        "excludeDeviceStates": strings(fill=False),
    },
)

DEVICE_STATES = ObjectType("conditionalAccessDeviceStates", {"includeStates": strings(), "excludeStates": strings()})

LOCATIONS = ObjectType("conditionalAccessLocations", {"excludeLocations": strings(), "includeLocations": strings()})

PLATFORMS_TYPE = ObjectType(
    "conditionalAccessPlatforms",
    {
        "excludePlatforms": enums("conditionalAccessDevicePlatform", PLATFORMS),
        "includePlatforms": enums("conditionalAccessDevicePlatform", PLATFORMS),
    },
)

AGENTS = ObjectType(
    "conditionalAccessAgents",
    {"includeAgentUsers": strings(), "excludeAgentUsers": strings(), "agentFilter": obj(FILTER)},
)

AGENT_CONTEXT = ObjectType(
    "conditionalAccessAgentContext", {"includeAgentContexts": strings(), "excludeAgentContexts": strings()}
)

CONDITIONS = ObjectType(
    "conditionalAccessConditionSet",
    {
        "applications": obj(APPLICATIONS),
        "authenticationFlows": obj(AUTHENTICATION_FLOWS),
        "clientApplications": obj(CLIENT_APPLICATIONS),
        "clientAppTypes": enums("conditionalAccessClientApp", CLIENT_APP_TYPES, replaced=DEPRECATED_CLIENT_APP_TYPES),
        "devices": obj(DEVICES),
        "insiderRiskLevels": flags("conditionalAccessInsiderRiskLevels", INSIDER_RISK_LEVELS),
        "locations": obj(LOCATIONS),
        "platforms": obj(PLATFORMS_TYPE),
        "servicePrincipalRiskLevels": enums("riskLevel", SERVICE_PRINCIPAL_RISK_LEVELS),
        "signInRiskLevels": enums("riskLevel", RISK_LEVELS),
        "userRiskLevels": enums("riskLevel", RISK_LEVELS),
        "users": obj(USERS),
        # Beta only: kept when set.
        "agentIdRiskLevels": flags("conditionalAccessAgentIdRiskLevels", AGENT_ID_RISK_LEVELS, fill=False),
        "agents": obj(AGENTS, fill=False),
        "agentContext": obj(AGENT_CONTEXT, fill=False),
        "deviceStates": obj(DEVICE_STATES, fill=False),
        "times": opaque(),
        "signInRiskDetections": opaque(),
    },
)

#: The policy refers to a strength by id; exports expand it with the strength's own (server-set) properties.
STRENGTH_PROPERTIES = frozenset(
    {
        "displayName",
        "description",
        "policyType",
        "requirementsSatisfied",
        "allowedCombinations",
        "combinationConfigurations",
        "createdDateTime",
        "modifiedDateTime",
    }
)
STRENGTH_REFERENCE = ObjectType(
    "authenticationStrengthPolicy", {"id": string(required=True)}, ignored=STRENGTH_PROPERTIES
)

GRANT_CONTROLS_TYPE = ObjectType(
    "conditionalAccessGrantControls",
    {
        "operator": enum("operator", OPERATORS),
        "builtInControls": enums("conditionalAccessGrantControl", GRANT_CONTROLS),
        "customAuthenticationFactors": strings(),
        "termsOfUse": strings(),
        "authenticationStrength": obj(STRENGTH_REFERENCE),
    },
)

#: SPEC.md §10 "Sign-in frequency ranges".
SIGN_IN_FREQUENCY_RANGES = {"hours": (1, 23), "days": (1, 365)}


def _check_sign_in_frequency(checker: Checker, value: dict[str, Any], path: str) -> None:
    if value.get("isEnabled") is not True:
        return
    unit, amount = value.get("type"), value.get("value")
    if value.get("frequencyInterval") == "everyTime":
        for name in ("type", "value"):
            if value.get(name) is not None:
                checker.error(child(path, name), "must be null when frequencyInterval is everyTime")
        return
    # timeBased, or null (older exports leave it out and mean time-based).
    if unit is None:
        checker.error(child(path, "type"), "is required for a time-based sign-in frequency (hours or days)")
        return
    if amount is None:
        checker.error(child(path, "value"), "is required for a time-based sign-in frequency")
        return
    low, high = SIGN_IN_FREQUENCY_RANGES[unit]
    if not low <= amount <= high:
        checker.error(child(path, "value"), f"must be from {low} to {high} {unit} (SPEC.md §10), not {amount}")


def _require_when_enabled(property_name: str) -> Any:
    def check(checker: Checker, value: dict[str, Any], path: str) -> None:
        if value.get("isEnabled") is True and value.get(property_name) is None:
            checker.error(child(path, property_name), "is required when isEnabled is true")

    return check


SESSION_CONTROLS = ObjectType(
    "conditionalAccessSessionControls",
    {
        "applicationEnforcedRestrictions": obj(
            ObjectType("applicationEnforcedRestrictionsSessionControl", {"isEnabled": boolean()})
        ),
        "cloudAppSecurity": obj(
            ObjectType(
                "cloudAppSecuritySessionControl",
                {
                    "isEnabled": boolean(),
                    "cloudAppSecurityType": enum(
                        "cloudAppSecuritySessionControlType", ("mcasConfigured", "monitorOnly", "blockDownloads")
                    ),
                },
                check=_require_when_enabled("cloudAppSecurityType"),
            )
        ),
        "disableResilienceDefaults": boolean(),
        "persistentBrowser": obj(
            ObjectType(
                "persistentBrowserSessionControl",
                {"isEnabled": boolean(), "mode": enum("persistentBrowserSessionMode", ("always", "never"))},
                check=_require_when_enabled("mode"),
            )
        ),
        "secureSignInSession": obj(ObjectType("secureSignInSessionControl", {"isEnabled": boolean()})),
        "signInFrequency": obj(
            ObjectType(
                "signInFrequencySessionControl",
                {
                    "isEnabled": boolean(),
                    "authenticationType": enum(
                        "signInFrequencyAuthenticationType",
                        ("primaryAndSecondaryAuthentication", "secondaryAuthentication"),
                    ),
                    "frequencyInterval": enum("signInFrequencyInterval", ("timeBased", "everyTime")),
                    "type": enum("signinFrequencyType", ("days", "hours")),
                    "value": integer(),
                },
                check=_check_sign_in_frequency,
            )
        ),
        # Beta only: kept when set.
        "continuousAccessEvaluation": obj(
            ObjectType(
                "continuousAccessEvaluationSessionControl",
                {"mode": enum("continuousAccessEvaluationMode", ("disabled", "strictEnforcement", "strictLocation"))},
            ),
            fill=False,
        ),
        "globalSecureAccessFilteringProfile": obj(
            ObjectType(
                "globalSecureAccessFilteringProfileSessionControl", {"isEnabled": boolean(), "profileId": string()}
            ),
            fill=False,
        ),
        "networkAccessSecurity": obj(
            ObjectType("networkAccessSecuritySessionControl", {"isEnabled": boolean(), "policyId": string()}),
            fill=False,
        ),
        "blockSensitiveActions": opaque(),
    },
)

POLICY = ObjectType(
    "conditionalAccessPolicy",
    {
        "displayName": string(required=True, max_length=MAX_DISPLAY_NAME),
        "description": string(),
        "state": enum("conditionalAccessPolicyState", POLICY_STATES, required=True),
        "conditions": obj(CONDITIONS, required=True),
        "grantControls": obj(GRANT_CONTROLS_TYPE),
        "sessionControls": obj(SESSION_CONTROLS),
    },
    ignored=SERVER_SET,
)

# -- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidatedPolicy:
    """A valid policy: the normalised Graph JSON to store, and what the admin should know about it."""

    document: dict[str, Any]
    warnings: tuple[Issue, ...]
    #: The `id` the input carried (an export's), which an import keeps when it is a free GUID.
    id: str | None = None
    #: A custom authentication strength the input embedded in grantControls.authenticationStrength
    #: (Graph exports expand it), validated, for an import to create when the tenant lacks it.
    authentication_strength: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """An object a policy names by id: `kind` is user, group, role, application, namedLocation or
    authenticationStrength."""

    kind: str
    path: str
    value: str


def validate_policy(doc: Mapping[str, Any]) -> ValidatedPolicy:
    """Validate and normalise a `conditionalAccessPolicy`; raise PolicyInvalid(path, reason) if invalid."""
    if not isinstance(doc, Mapping):
        raise PolicyInvalid("", f"a policy must be a JSON object, not {type(doc).__name__}")
    size = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_POLICY_BYTES:
        raise PolicyInvalid("", f"the policy's JSON is {size} bytes; at most {MAX_POLICY_BYTES} (256 KiB) are allowed")
    checker = Checker()
    document = checker.object(dict(doc), POLICY, "")
    checker.raise_if_invalid()
    assert document is not None
    _check_policy(checker, document)
    checker.raise_if_invalid()
    raw_id = doc.get("id")
    embedded = _embedded_strength(doc, checker)  # before the warnings are collected: it may add one
    return ValidatedPolicy(
        document=document,
        warnings=tuple(checker.warnings),
        id=raw_id if isinstance(raw_id, str) and raw_id else None,
        authentication_strength=embedded,
    )


def _embedded_strength(doc: Mapping[str, Any], checker: Checker) -> dict[str, Any] | None:
    grant = doc.get("grantControls")
    strength = grant.get("authenticationStrength") if isinstance(grant, Mapping) else None
    if not isinstance(strength, Mapping) or str(strength.get("policyType", "")).lower() != "custom":
        return None
    if strength.get("id") in BUILT_IN_STRENGTH_IDS or "allowedCombinations" not in strength:
        return None
    try:
        return validate_authentication_strength(strength).document | {"id": strength["id"]}
    except PolicyInvalid as exc:
        # The policy is still valid: it refers to the strength by id. Say why the copy can't be used.
        checker.warn(
            child("grantControls.authenticationStrength", exc.path),
            f"{exc.reason} (the embedded strength can't be imported)",
        )
        return None


# -- rules between properties ------------------------------------------------------------------------


def _check_policy(checker: Checker, policy: dict[str, Any]) -> None:
    conditions: dict[str, Any] = policy["conditions"]
    if conditions.get("applications") is None:
        checker.error("conditions.applications", "is required")
    if conditions.get("users") is None and conditions.get("clientApplications") is None:
        checker.error(
            "conditions.users", "is required (or conditions.clientApplications, for a policy on workload identities)"
        )
    _normalise_keywords(checker, conditions)
    _check_devices(checker, conditions)
    _check_grant_controls(checker, policy)
    _check_session_controls(checker, policy)
    grant, session = policy.get("grantControls"), policy.get("sessionControls")
    if (grant is None or not _grant_control_count(grant)) and not _is_set(session):
        checker.warn("", "the policy has neither grant nor session controls: it does nothing when it applies")


def _normalise_keywords(checker: Checker, conditions: dict[str, Any]) -> None:
    """`all` where Graph writes `All`: keywords are matched case-insensitively and written Graph's way."""
    lists = {
        "users": (("includeUsers", "excludeUsers"), USER_KEYWORDS),
        "applications": (("includeApplications", "excludeApplications"), APPLICATION_KEYWORDS),
        "locations": (("includeLocations", "excludeLocations"), LOCATION_KEYWORDS),
    }
    for section, (names, keywords) in lists.items():
        holder = conditions.get(section)
        if holder is None:
            continue
        for name in names:
            values: list[str] = holder[name]
            for index, value in enumerate(values):
                if value in keywords or parse_guid(value):
                    continue
                keyword = next((k for k in keywords if k.lower() == value.strip().lower()), None)
                if keyword is not None:
                    checker.warn(item(f"conditions.{section}.{name}", index), f"'{value}' normalised to '{keyword}'")
                    values[index] = keyword
    applications = conditions.get("applications")
    if applications is not None:
        actions: list[str] = applications["includeUserActions"]
        for index, action in enumerate(actions):
            known = next((a for a in USER_ACTIONS if a == action.strip().lower()), None)
            path = item("conditions.applications.includeUserActions", index)
            if known is None:
                checker.error(path, f"'{action}' is not a user action; expected one of {', '.join(USER_ACTIONS)}")
            elif known != action:
                checker.warn(path, f"'{action}' normalised to '{known}'")
                actions[index] = known


def _check_devices(checker: Checker, conditions: dict[str, Any]) -> None:
    devices = conditions.get("devices")
    device_filter = devices.get("deviceFilter") if devices else None
    if conditions.get("deviceStates") is not None:
        if device_filter is not None:
            checker.error(
                "conditions.deviceStates", "cannot be combined with conditions.devices.deviceFilter (it replaces it)"
            )
        else:
            checker.warn("conditions.deviceStates", "is deprecated; use conditions.devices.deviceFilter")
    if devices:
        for name in ("includeDevices", "excludeDevices", "includeDeviceStates", "excludeDeviceStates"):
            if devices.get(name):
                checker.warn(f"conditions.devices.{name}", "is deprecated; use conditions.devices.deviceFilter")
    if device_filter is not None:
        rule: str = device_filter["rule"]
        path = "conditions.devices.deviceFilter.rule"
        if len(rule) > MAX_DEVICE_FILTER_RULE:
            checker.error(path, f"is {len(rule)} characters long; at most {MAX_DEVICE_FILTER_RULE} are allowed")
        elif (problem := _rule_problem(rule)) is not None:
            checker.error(path, problem)


def _rule_problem(rule: str) -> str | None:
    """Why a device filter rule does not parse, or None. The rule language belongs to the engine."""
    try:
        parse_device_filter(rule)
    except RuleSyntaxError as exc:
        return str(exc)
    return None


def _grant_control_count(grant: Mapping[str, Any]) -> int:
    return (
        len(grant["builtInControls"])
        + len(grant["customAuthenticationFactors"])
        + len(grant["termsOfUse"])
        + (grant["authenticationStrength"] is not None)
    )


def _check_grant_controls(checker: Checker, policy: dict[str, Any]) -> None:
    grant = policy.get("grantControls")
    if grant is None:
        return
    controls: list[str] = grant["builtInControls"]
    operator = grant["operator"]
    path = "grantControls"
    if _grant_control_count(grant) > 1 and operator is None:
        checker.error(f"{path}.operator", "is required (AND or OR) when the policy has more than one grant control")
    if "mfa" in controls and grant["authenticationStrength"] is not None:
        checker.error(
            f"{path}.authenticationStrength",
            "cannot be combined with the built-in control 'mfa' (the Multifactor authentication strength is the "
            "same requirement); keep one of them",
        )
    if "passwordChange" in controls:
        _check_password_change(checker, policy, grant)
    if "riskRemediation" in controls:
        if "passwordChange" in controls:
            checker.error(f"{path}.builtInControls", "'riskRemediation' and 'passwordChange' cannot be used together")
        elif grant["authenticationStrength"] is None or operator != "AND":
            checker.error(
                f"{path}.builtInControls",
                "'riskRemediation' must be combined with an authenticationStrength using operator AND",
            )
    strength = grant["authenticationStrength"]
    if strength is not None and parse_guid(strength["id"]) is None:
        checker.error(f"{path}.authenticationStrength.id", f"'{strength['id']}' is not an authentication strength id")
    platforms = policy["conditions"].get("platforms")
    app_controls = {"approvedApplication", "compliantApplication"} & set(controls)
    if app_controls and platforms and {"macOS", "linux"} & set(platforms["includePlatforms"]):
        only = len(controls) == len(app_controls) or operator == "AND"
        if only:
            checker.warn(
                f"{path}.builtInControls",
                f"{' and '.join(sorted(app_controls))} are not supported on macOS and Linux, which this policy "
                "includes; sign-ins from them can't satisfy it",
            )


def _is_set(value: Any) -> bool:
    """Whether a condition is configured: not null, not empty, not an object of unset properties."""
    if isinstance(value, dict):
        return any(_is_set(v) for k, v in value.items() if not k.startswith("@"))
    return value not in (None, [], "")


def _configured_conditions(conditions: Mapping[str, Any]) -> Iterator[str]:
    """The conditions besides users, applications and userRiskLevels that are configured (SPEC.md §2.5)."""
    for name, value in conditions.items():
        if name in ("users", "applications", "userRiskLevels"):
            continue
        if name == "clientAppTypes" and value in ([], ["all"]):
            continue
        if _is_set(value):
            yield name


def _check_password_change(checker: Checker, policy: dict[str, Any], grant: Mapping[str, Any]) -> None:
    path = "grantControls.builtInControls"
    controls: list[str] = grant["builtInControls"]
    if "mfa" not in controls or grant["operator"] != "AND":
        checker.error(path, "'passwordChange' must be combined with 'mfa' using operator AND")
    others = [c for c in controls if c not in ("mfa", "passwordChange")]
    if others or grant["customAuthenticationFactors"] or grant["termsOfUse"] or grant["authenticationStrength"]:
        shown = ", ".join(others) or "custom controls, terms of use or an authentication strength"
        checker.error(path, f"'passwordChange' cannot be combined with other controls ({shown})")
    conditions = policy["conditions"]
    if not conditions["userRiskLevels"]:
        checker.error("conditions.userRiskLevels", "must be set when the policy requires 'passwordChange'")
    applications = conditions.get("applications") or {}
    if applications.get("includeApplications") != ["All"] or any(
        applications.get(name)
        for name in ("excludeApplications", "includeUserActions", "includeAuthenticationContextClassReferences")
    ):
        checker.error(
            "conditions.applications",
            "a policy requiring 'passwordChange' must target all resources ('All') with no exclusions",
        )
    for name in _configured_conditions(conditions):
        checker.error(
            f"conditions.{name}",
            "a policy requiring 'passwordChange' may only use the users, applications and userRiskLevels conditions",
        )


def _check_session_controls(checker: Checker, policy: dict[str, Any]) -> None:
    session = policy.get("sessionControls")
    if session is None:
        return
    browser = session.get("persistentBrowser")
    applications = policy["conditions"].get("applications") or {}
    if browser and browser.get("isEnabled") and applications.get("includeApplications") != ["All"]:
        checker.warn(
            "sessionControls.persistentBrowser",
            "works correctly only when the policy targets all resources ('All')",
        )


# -- references -------------------------------------------------------------------------------------


def policy_references(document: Mapping[str, Any]) -> tuple[Reference, ...]:
    """Every object a normalised policy names by id (keywords such as All are not references)."""
    conditions = document.get("conditions") or {}
    found: list[Reference] = []

    def collect(section: str, names: tuple[str, ...], kind: str, keywords: tuple[str, ...] = ()) -> None:
        holder = conditions.get(section) or {}
        for name in names:
            for index, value in enumerate(holder.get(name) or []):
                if value not in keywords:
                    found.append(Reference(kind, item(f"conditions.{section}.{name}", index), value))

    collect("users", ("includeUsers", "excludeUsers"), "user", USER_KEYWORDS)
    collect("users", ("includeGroups", "excludeGroups"), "group")
    collect("users", ("includeRoles", "excludeRoles"), "role")
    collect("applications", ("includeApplications", "excludeApplications"), "application", APPLICATION_KEYWORDS)
    collect("locations", ("includeLocations", "excludeLocations"), "namedLocation", LOCATION_KEYWORDS)
    strength = (document.get("grantControls") or {}).get("authenticationStrength")
    if strength is not None:
        found.append(Reference("authenticationStrength", "grantControls.authenticationStrength.id", strength["id"]))
    return tuple(found)


def uses_risk_conditions(document: Mapping[str, Any]) -> bool:
    """Whether the policy needs Identity Protection (plan p2): sign-in or user risk levels (SPEC.md §10)."""
    conditions = document.get("conditions") or {}
    return bool(conditions.get("signInRiskLevels") or conditions.get("userRiskLevels"))


__all__ = [
    "POLICY_STATES",
    "Issue",
    "PolicyInvalid",
    "Reference",
    "ValidatedPolicy",
    "policy_references",
    "uses_risk_conditions",
    "validate_authentication_strength",
    "validate_named_location",
    "validate_policy",
]
