"""The conditions of a policy (`conditionalAccessConditionSet`), compiled into checks (SPEC.md §3.3–§3.8).

Each configured condition becomes a `Condition` whose `check(signals)` answers True (matches),
False (does not: the policy does not apply) or None (Limen lacks the input: `notEnoughInformation`,
or `invalidCondition` for a stored rule that no longer parses). An unconfigured condition becomes
nothing at all, which is Entra's "matches everything" (SPEC §3.6) at no cost.

Conditions that target other principals than users (`clientApplications`, `agents`,
`agentContext`) are not conditions on a user's sign-in: they are reported as notes and the policy is
evaluated for users through `conditions.users` alone. Risk conditions of other principals
(`servicePrincipalRiskLevels`, `agentIdRiskLevels`) never match a user's sign-in.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from limen.domain.access.context import ANY_GUEST, ROLE_PREFIX, USER_PREFIX, Signals
from limen.domain.access.device_filter import (
    DEVICE_STATE_PROPERTIES,
    DeviceFilter,
    NormalizedDevice,
    RuleSyntaxError,
    compile_filter,
)
from limen.domain.access.locations import LocationIndex, NamedLocation

NOT_ENOUGH_INFORMATION = "notEnoughInformation"
INVALID_CONDITION = "invalidCondition"

Check = Callable[[Signals], "bool | None"]
#: The one value of the signals that a check's answer depends on (see `Condition.depends_on`).
Key = Callable[[Signals], Hashable]


@dataclass(frozen=True, slots=True)
class Condition:
    #: Graph property, e.g. "conditions.users".
    key: str
    #: `whatIfAnalysisReasons` value when the condition does not match.
    reason: str
    #: `conditionalAccessConditions` flag for the sign-in log (`conditionsSatisfied`).
    flag: str
    check: Check
    #: `whatIfAnalysisReasons` value when the check answers None.
    unknown_reason: str = NOT_ENOUGH_INFORMATION
    #: Why the check may answer None (shown with the result); "" when it never does.
    unknown_note: str = ""
    #: For a users condition that depends on `Signals.principals` alone: its sets, so that the engine
    #: can answer it for all policies at once from an index.
    principals: PrincipalSets | None = None
    #: For a users condition with guest-type objects: its sets, for the same index.
    guests: GuestSets | None = None
    #: For an applications condition of the common shapes: its sets, for the same reason.
    applications: AppSets | None = None
    #: When the check's answer is a function of one value of the signals alone (the platform, the
    #: client app type, a risk level...), the function that reads it. The engine then runs the checks
    #: of all policies' conditions of this kind once per distinct value and reuses the answers for
    #: every later sign-in with that value. Conditions of one `key` share the same function.
    depends_on: Key | None = None
    #: Conditions of one `key` with equal signatures run the same code on the same inputs, so they
    #: answer alike for every sign-in: the engine runs one check per signature (many policies share
    #: a device filter or a set of excluded locations). None: not shared.
    signature: Hashable | None = None
    #: For a devices condition: the normalized device properties its check reads (None: any of them).
    device_reads: tuple[str, ...] | None = ()


@dataclass(frozen=True, slots=True)
class PrincipalSets:
    """A users condition without guest-type objects: it matches when the user's principals meet
    `include` (or `include_all`) and miss `exclude`."""

    include_all: bool
    include: frozenset[str]
    exclude: frozenset[str]


@dataclass(frozen=True, slots=True)
class GuestSets:
    """A users condition with guest-type objects: it matches when the user's principals miss
    `principals.exclude` and the user is not of the `exclude` kinds, and the principals meet
    `principals.include` (or `include_all`) or the user is of the `include` kinds."""

    principals: PrincipalSets
    include: GuestTypes | None
    exclude: GuestTypes | None


@dataclass(frozen=True, slots=True)
class AppSets:
    """An applications condition without user actions, authentication contexts, application filter
    or excluded keywords: it matches when the sign-in has an application that is not in `exclude`
    and is in `include` (or `include_all`), or belongs to one of the `keywords`."""

    include_all: bool
    include: frozenset[str]
    keywords: frozenset[str]
    exclude: frozenset[str]


@dataclass(frozen=True, slots=True)
class CompiledConditions:
    conditions: tuple[Condition, ...]
    #: Parts of the policy that are not evaluated for user sign-ins, and why.
    notes: tuple[str, ...]


def strings(value: Any) -> list[str]:
    """A Graph collection or flags value as a list: `["a", "b"]`, `"a,b"` or null."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if item is not None and str(item).strip()]
    return []


def lowered(value: Any) -> frozenset[str]:
    return frozenset(item.lower() for item in strings(value))


def _section(conditions: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = conditions.get(key)
    return value if isinstance(value, Mapping) else {}


#: `Condition.key` of each kind of condition, in the order in which `compile_conditions` lists them;
#: conditions Limen does not know come after these. The engine answers one kind at a time for all
#: policies in this order, which finds each policy's first failing condition as a per-policy loop would.
ORDER = (
    "conditions.users",
    "conditions.servicePrincipalRiskLevels",
    "conditions.agentIdRiskLevels",
    "conditions.applications",
    "conditions.platforms",
    "conditions.devices",
    "conditions.clientAppTypes",
    "conditions.locations",
    "conditions.signInRiskLevels",
    "conditions.userRiskLevels",
    "conditions.insiderRiskLevels",
    "conditions.authenticationFlows",
)


def compile_conditions(
    conditions: Mapping[str, Any], locations: Mapping[str, NamedLocation], index: LocationIndex
) -> CompiledConditions:
    """Compile `policy.conditions`; the order of the result is the order of What If reasons (`ORDER`).
    `index`: `LocationIndex.build(locations.values())`, built once for all policies of a set."""
    notes: list[str] = []
    compiled: list[Condition | None] = [
        # Always present and always first: the engine's users index (index.py) relies on it.
        _users(_section(conditions, "users")),
        *_other_principals(conditions, notes),
        _applications(_section(conditions, "applications"), notes),
        _platforms(_section(conditions, "platforms")),
        _devices(_section(conditions, "devices"), _section(conditions, "deviceStates"), notes),
        _client_app_types(conditions.get("clientAppTypes")),
        _locations(_section(conditions, "locations"), locations, index, notes),
        _risk("conditions.signInRiskLevels", "signInRisk", conditions.get("signInRiskLevels"), "sign_in_risk"),
        _risk("conditions.userRiskLevels", "userRisk", conditions.get("userRiskLevels"), "user_risk"),
        _insider_risk(conditions.get("insiderRiskLevels"), notes),
        _authentication_flows(_section(conditions, "authenticationFlows")),
        *_unknown_conditions(conditions, notes),
    ]
    return CompiledConditions(tuple(c for c in compiled if c is not None), tuple(notes))


#: Every condition the engine reads (or notes as concerning other principals).
_KNOWN = frozenset(
    {
        "users",
        "applications",
        "clientAppTypes",
        "platforms",
        "locations",
        "devices",
        "deviceStates",
        "signInRiskLevels",
        "userRiskLevels",
        "insiderRiskLevels",
        "authenticationFlows",
        "servicePrincipalRiskLevels",
        "agentIdRiskLevels",
        "clientApplications",
        "agents",
        "agentContext",
    }
)


def _unknown_conditions(conditions: Mapping[str, Any], notes: list[str]) -> list[Condition]:
    """Conditions the engine does not know (beta `times`, `signInRiskDetections`, anything newer):
    never ignored, since ignoring a condition widens the policy; the policy does not apply."""
    out: list[Condition] = []
    for key, value in conditions.items():
        if key in _KNOWN or "@" in key or value in (None, "", [], {}):
            continue
        note = f"conditions.{key}: Limen does not evaluate this condition"
        notes.append(note + "; the policy never applies")

        def unknown(_: Signals) -> None:
            return None

        flag = "time" if key == "times" else key
        out.append(
            Condition(
                f"conditions.{key}", NOT_ENOUGH_INFORMATION, flag, unknown, unknown_note=note, depends_on=_nothing
            )
        )
    return out


# --- users ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GuestTypes:
    """`conditionalAccessGuestsOrExternalUsers`: guest/external kinds, optionally from some tenants."""

    types: frozenset[str]
    #: None = all tenants.
    tenants: frozenset[str] | None

    def matches(self, signals: Signals) -> bool:
        kind = signals.guest_type
        if kind is None or kind not in self.types:
            return False
        # An internal guest's home is this tenant: external-tenant lists do not concern it.
        if self.tenants is None or kind == "internalguest":
            return True
        return signals.home_tenant is not None and signals.home_tenant in self.tenants


def _guest_types(value: Any) -> GuestTypes | None:
    if not isinstance(value, Mapping):
        return None
    types = lowered(value.get("guestOrExternalUserTypes")) - {"none", "unknownfuturevalue"}
    if not types:
        return None
    tenants_doc = value.get("externalTenants")
    tenants: frozenset[str] | None = None
    if isinstance(tenants_doc, Mapping) and str(tenants_doc.get("membershipKind") or "").lower() == "enumerated":
        tenants = lowered(tenants_doc.get("members"))
    return GuestTypes(types, tenants)


def _users(users: Mapping[str, Any]) -> Condition:
    include_users = lowered(users.get("includeUsers"))
    exclude_users = lowered(users.get("excludeUsers"))
    include_all = "all" in include_users
    # Users, groups and roles are looked up in one set of the user's principals (`Signals.principals`:
    # user and role ids prefixed so that an id in the wrong list still matches nothing): one C-level
    # set operation per policy instead of six, which is what keeps 195 policies cheap.
    # `GuestsOrExternalUsers` in the user lists is the older spelling of "every guest/external type".
    include = frozenset(
        {USER_PREFIX + u for u in include_users - {"all", "none", "guestsorexternalusers"}}
        | lowered(users.get("includeGroups"))
        | {ROLE_PREFIX + r for r in lowered(users.get("includeRoles"))}
        | ({ANY_GUEST} if "guestsorexternalusers" in include_users else set())
    )
    exclude = frozenset(
        {USER_PREFIX + u for u in exclude_users - {"guestsorexternalusers"}}
        | lowered(users.get("excludeGroups"))
        | {ROLE_PREFIX + r for r in lowered(users.get("excludeRoles"))}
        | ({ANY_GUEST} if "guestsorexternalusers" in exclude_users else set())
    )
    include_guests = _guest_types(users.get("includeGuestsOrExternalUsers"))
    exclude_guests = _guest_types(users.get("excludeGuestsOrExternalUsers"))

    if include_guests is None and exclude_guests is None:
        # The common shapes, without guest-type objects. Exclusion beats inclusion (SPEC §3.4).
        if include_all:

            def check(s: Signals) -> bool:
                return exclude.isdisjoint(s.principals)

        else:

            def check(s: Signals) -> bool:
                principals = s.principals
                return exclude.isdisjoint(principals) and not include.isdisjoint(principals)

        return Condition(
            "conditions.users", "users", "users", check, principals=PrincipalSets(include_all, include, exclude)
        )

    def check_guests(s: Signals) -> bool:
        principals = s.principals
        if not exclude.isdisjoint(principals) or (exclude_guests is not None and exclude_guests.matches(s)):
            return False
        return (
            include_all
            or not include.isdisjoint(principals)
            or (include_guests is not None and include_guests.matches(s))
        )

    sets = GuestSets(PrincipalSets(include_all, include, exclude), include_guests, exclude_guests)
    return Condition("conditions.users", "users", "users", check_guests, guests=sets)


def _other_principals(conditions: Mapping[str, Any], notes: list[str]) -> list[Condition]:
    """Workload identities and agents: noted, and their risk levels never match a user."""
    for key, what in (
        ("clientApplications", "service principals (workload identities)"),
        ("agents", "agent identities"),
        ("agentContext", "agent sessions"),
    ):
        section = conditions.get(key)
        if isinstance(section, Mapping) and any(
            strings(v) for k, v in section.items() if k.lower().startswith("include") and not k.endswith("odata.type")
        ):
            notes.append(
                f"conditions.{key}: targets {what}, which do not sign in through Limen; "
                "the policy is evaluated for users through conditions.users only"
            )
    checks: list[Condition] = []
    if strings(conditions.get("servicePrincipalRiskLevels")):
        checks.append(_never("conditions.servicePrincipalRiskLevels", "workloadIdentities", "servicePrincipalRisk"))
        notes.append("conditions.servicePrincipalRiskLevels: a user's sign-in has no service-principal risk")
    if strings(conditions.get("agentIdRiskLevels")):
        checks.append(_never("conditions.agentIdRiskLevels", "agentIdRisk", "servicePrincipalRisk"))
        notes.append("conditions.agentIdRiskLevels: a user's sign-in has no agent identity risk")
    return checks


def _never(key: str, reason: str, flag: str) -> Condition:
    def check(_: Signals) -> bool:
        return False

    return Condition(key, reason, flag, check, depends_on=_nothing)


# What the checks below read of the signals (`Condition.depends_on`), one function per kind of condition.


def _nothing(_: Signals) -> None:
    return None


def _platform(s: Signals) -> str | None:
    return s.platform


def _client_type(s: Signals) -> str | None:
    return s.client_type


def _sign_in_risk(s: Signals) -> str:
    return s.context.sign_in_risk


def _user_risk(s: Signals) -> str:
    return s.context.user_risk


def _insider(s: Signals) -> str | None:
    return s.context.insider_risk


def _flow(s: Signals) -> str | None:
    return s.context.authentication_flow


_RISK_FIELDS: dict[str, Key] = {"sign_in_risk": _sign_in_risk, "user_risk": _user_risk}


# --- applications ---------------------------------------------------------------------------------

_APP_KEYWORDS = frozenset({"office365", "microsoftadminportals"})


def _applications(apps: Mapping[str, Any], notes: list[str]) -> Condition:
    include = lowered(apps.get("includeApplications"))
    exclude = lowered(apps.get("excludeApplications"))
    include_all = "all" in include
    include_keywords = include & _APP_KEYWORDS
    exclude_keywords = exclude & _APP_KEYWORDS
    # `None` targets nothing; `AllAgentIdResources` targets agent resources, which Limen has none of.
    include_ids = include - {"all", "none", "allagentidresources"} - _APP_KEYWORDS
    exclude_ids = exclude - _APP_KEYWORDS
    targets_apps = bool(include_all or include_keywords or include_ids)
    actions = lowered(apps.get("includeUserActions"))
    contexts = lowered(apps.get("includeAuthenticationContextClassReferences"))
    for key in ("globalSecureAccess", "networkAccess"):
        if isinstance(apps.get(key), Mapping) and any(v for k, v in apps[key].items() if "@" not in k):
            notes.append(
                f"conditions.applications.{key}: targets Global Secure Access traffic, which never signs in "
                "through Limen"
            )
    app_filter = apps.get("applicationFilter")
    filter_mode = str(app_filter.get("mode") or "").lower() if isinstance(app_filter, Mapping) else ""

    if not actions and not contexts and not filter_mode and not exclude_keywords:
        # The common shapes (apps only, no keywords excluded): the fewest steps per sign-in.
        if include_all:

            def check_apps(s: Signals) -> bool:
                app = s.app_id
                return app is not None and app not in exclude_ids

        else:

            def check_apps(s: Signals) -> bool:
                app = s.app_id
                return (
                    app is not None
                    and app not in exclude_ids
                    and (app in include_ids or not include_keywords.isdisjoint(s.app_keywords))
                )

        return Condition(
            "conditions.applications",
            "application",
            "application",
            check_apps,
            applications=AppSets(include_all, include_ids, include_keywords, exclude_ids),
        )

    def check(s: Signals) -> bool | None:
        if actions and s.user_action is not None and s.user_action in actions:
            return True
        if contexts and not contexts.isdisjoint(s.acrs):
            return True
        app = s.app_id
        if (not targets_apps and filter_mode != "include") or app is None:
            return False
        if app in exclude_ids or (exclude_keywords and not exclude_keywords.isdisjoint(s.app_keywords)):
            return False
        included = include_all or app in include_ids or bool(include_keywords & s.app_keywords)
        # A filter over custom security attributes of apps: Limen's apps have none to test, so it can
        # only be decided where it makes no difference (SPEC §2.4 `applicationFilter`).
        if filter_mode == "include":
            return True if included else None
        if filter_mode == "exclude":
            return None if included else False
        return included

    if targets_apps or filter_mode:
        reason = "application"
    elif actions:
        reason = "userActions"
    elif contexts:
        reason = "authenticationContext"
    else:
        reason = "application"
    note = ""
    if filter_mode:
        note = "conditions.applications.applicationFilter: Limen's applications have no custom security attributes"
        notes.append(note + "; decided only where the filter makes no difference")
    return Condition(
        "conditions.applications",
        reason,
        "application",
        check,
        unknown_note=note,
        # Everything the check reads besides the signals derives from these.
        signature=(include, exclude, actions, contexts, filter_mode),
    )


# --- platforms, client apps, risks, flows ---------------------------------------------------------


def _platforms(platforms: Mapping[str, Any]) -> Condition | None:
    include = lowered(platforms.get("includePlatforms"))
    exclude = lowered(platforms.get("excludePlatforms"))
    if not include and not exclude:
        return None
    # The portal always sets an include list; an exclusion alone means "all but these".
    include_all = "all" in include or not include

    def check(s: Signals) -> bool:
        platform = s.platform
        if platform is not None and platform in exclude:
            return False
        # An unknown platform is only caught by "all" (SPEC §3.6).
        return include_all or (platform is not None and platform in include)

    return Condition("conditions.platforms", "devicePlatform", "devicePlatform", check, depends_on=_platform)


_CLIENT_APP_ALIASES = {
    "eassupported": "exchangeactivesync",
    "easunsupported": "exchangeactivesync",
    "modern": "mobileappsanddesktopclients",
}


def _client_app_types(value: Any) -> Condition | None:
    types = frozenset(_CLIENT_APP_ALIASES.get(t, t) for t in lowered(value))
    # Not configured, or `all`: every client app type, modern and legacy (SPEC §3.6).
    if not types or "all" in types:
        return None

    def check(s: Signals) -> bool | None:
        client = s.client_type
        return None if client is None else client in types

    return Condition(
        "conditions.clientAppTypes",
        "clientApps",
        "clientType",
        check,
        unknown_note="conditions.clientAppTypes: the client app type was not given",
        depends_on=_client_type,
    )


def _risk(key: str, reason: str, value: Any, field: str) -> Condition | None:
    levels = lowered(value)
    if not levels:
        return None

    def check(s: Signals) -> bool:
        level: str = getattr(s.context, field)
        # A configured risk condition applies only at the listed levels: no risk is not "low".
        return level.lower() in levels

    return Condition(key, reason, reason, check, depends_on=_RISK_FIELDS[field])


def _insider_risk(value: Any, notes: list[str]) -> Condition | None:
    levels = lowered(value)
    if not levels:
        return None
    note = "conditions.insiderRiskLevels: Limen has no insider-risk signal (Microsoft Purview)"
    notes.append(note + "; the policy never applies")

    def check(s: Signals) -> bool | None:
        level = s.context.insider_risk
        return None if level is None else level.lower() in levels

    return Condition(
        "conditions.insiderRiskLevels",
        "insiderRisk",
        "insiderRisk",
        check,
        unknown_note=note,
        depends_on=_insider,
    )


def _authentication_flows(flows: Mapping[str, Any]) -> Condition | None:
    methods = lowered(flows.get("transferMethods")) - {"none", "unknownfuturevalue"}
    if not methods:
        return None

    def check(s: Signals) -> bool:
        flow = s.context.authentication_flow
        return flow is not None and flow.lower() in methods

    return Condition(
        "conditions.authenticationFlows", "authenticationFlow", "authenticationFlows", check, depends_on=_flow
    )


# --- devices --------------------------------------------------------------------------------------


def _devices(devices: Mapping[str, Any], states: Mapping[str, Any], notes: list[str]) -> Condition | None:
    filter_doc = devices.get("deviceFilter")
    device_filter: DeviceFilter | None = None
    filter_key: tuple[str, str] | None = None
    invalid = ""
    if isinstance(filter_doc, Mapping) and (filter_doc.get("rule") or filter_doc.get("mode")):
        try:
            device_filter = compile_filter(filter_doc)
            # compile_filter reads only these two values of the document (for `signature`).
            filter_key = (str(filter_doc.get("mode") or "").lower(), str(filter_doc.get("rule") or ""))
        except (RuleSyntaxError, ValueError) as error:
            invalid = f"conditions.devices.deviceFilter: {error}"
    # The deprecated device-state condition: include "All", exclude "Compliant" and/or "DomainJoined".
    # It has had three spellings: `devices.include/excludeDeviceStates`, `devices.include/excludeDevices`
    # and `deviceStates.include/excludeStates`.
    include_states = (
        lowered(devices.get("includeDeviceStates"))
        | lowered(devices.get("includeDevices"))
        | lowered(states.get("includeStates"))
    )
    exclude_states = (
        lowered(devices.get("excludeDeviceStates"))
        | lowered(devices.get("excludeDevices"))
        | lowered(states.get("excludeStates"))
    )
    if device_filter is None and not invalid and not include_states and not exclude_states:
        return None

    if invalid:
        notes.append(invalid + "; the policy never applies")

        def unknown(_: Signals) -> None:
            return None

        return Condition(
            "conditions.devices",
            "devices",
            "deviceState",
            unknown,
            INVALID_CONDITION,
            unknown_note=invalid,
            signature=("invalid",),
        )

    def answer(device: NormalizedDevice | None) -> bool:
        """The answer for a known device (None: an unregistered one)."""
        if device_filter is not None and not device_filter.in_scope(device):
            return False
        if include_states or exclude_states:
            compliant = device is not None and device.get("iscompliant") == "true"
            joined = device is not None and device.get("trusttype") == "serverad"
            if ("compliant" in exclude_states and compliant) or ("domainjoined" in exclude_states and joined):
                return False
            if include_states and "all" not in include_states:
                return ("compliant" in include_states and compliant) or ("domainjoined" in include_states and joined)
        return True

    # An unregistered device has no properties, so its answer is fixed: worked out once here rather
    # than for each of the many sign-ins from unregistered devices (a rule of twenty terms costs µs).
    unregistered = answer(None)
    # For a registered device the answer depends only on the properties the rule compares (and the
    # two the device states read): answers are shared by devices alike in those, which most rules
    # make most devices (compliant or not, company or personal...).
    reads = _read_by(device_filter, bool(include_states or exclude_states))
    answers: dict[tuple[object, ...], bool] = {}

    def check(s: Signals) -> bool | None:
        if not s.context.device_known:
            return None
        device = s.device
        if device is None:
            return unregistered
        if reads is None:
            return answer(device)
        key = tuple(map(device.get, reads))
        known = answers.get(key)
        if known is None:
            known = answer(device)
            if len(answers) < _MAX_DEVICE_ANSWERS:
                answers[key] = known
        return known

    return Condition(
        "conditions.devices",
        "devices",
        "deviceState",
        check,
        unknown_note="conditions.devices: nothing is known about the device",
        signature=(filter_key, include_states, exclude_states),
        device_reads=reads,
    )


#: Answers one device condition keeps (a rule on display names meets a new value with each device).
_MAX_DEVICE_ANSWERS = 256


def _read_by(device_filter: DeviceFilter | None, states: bool) -> tuple[str, ...] | None:
    """The normalized device properties the device condition reads, or None when that is not known
    for sure: a rule that reads extension attributes also reads whether they are visible."""
    names = set(DEVICE_STATE_PROPERTIES) if states else set()
    if device_filter is not None:
        if device_filter.rule.uses_extension_attributes:
            return None
        names |= device_filter.rule.properties
    return tuple(sorted(names))


# --- locations ------------------------------------------------------------------------------------


def _locations(
    section: Mapping[str, Any],
    known: Mapping[str, NamedLocation],
    located: LocationIndex,
    notes: list[str],
) -> Condition | None:
    include = lowered(section.get("includeLocations"))
    exclude = lowered(section.get("excludeLocations"))
    if not include and not exclude:
        return None
    include_any = "all" in include or not include
    exclude_any = "all" in exclude
    trusted = known.get(TRUSTED)
    include_locations = _resolve(include, known, trusted)
    exclude_locations = _resolve(exclude, known, trusted)
    unevaluable = sorted({loc.unevaluable for loc in (*include_locations, *exclude_locations) if loc.unevaluable})
    include_ids = frozenset(loc.id for loc in include_locations)
    exclude_ids = frozenset(loc.id for loc in exclude_locations)

    def check(s: Signals) -> bool | None:
        if exclude_any:
            return False
        # A list of locations contains the sign-in if one of them does; otherwise it is unknown if
        # one of them is, and it does not contain it if none is.
        inside, unknown = s.membership(located)
        if not exclude_ids.isdisjoint(inside):
            return False
        excluded = not exclude_ids.isdisjoint(unknown)
        if not include_any and include_ids.isdisjoint(inside):
            if include_ids.isdisjoint(unknown):
                return False
            return None
        # Kleene logic: unknown membership on either side leaves the answer unknown.
        return None if excluded else True

    note = "conditions.locations: needs the sign-in's IP address or country"
    if unevaluable:
        note = "conditions.locations: " + "; ".join(unevaluable)
        notes.append(note + "; the policy never applies where they decide")
    # The named locations are resolved from the same compiled set for every policy: equal id sets
    # are equal conditions. The answer depends on the sign-in's membership of the locations alone.
    return Condition(
        "conditions.locations",
        "location",
        "location",
        check,
        unknown_note=note,
        depends_on=_MembershipOf(located),
        signature=(include, exclude),
    )


@dataclass(frozen=True, slots=True)
class _MembershipOf:
    """`Condition.depends_on` of location conditions: equal (the same function) for all the
    conditions compiled with one `LocationIndex`, which compares by identity."""

    index: LocationIndex

    def __call__(self, s: Signals) -> Hashable:
        return s.membership(self.index)


#: Key of the synthetic location "all trusted IP ranges" in a compiled set.
TRUSTED = "\x00alltrusted"


def _resolve(
    ids: frozenset[str], known: Mapping[str, NamedLocation], trusted: NamedLocation | None
) -> tuple[NamedLocation, ...]:
    resolved: list[NamedLocation] = []
    for location_id in sorted(ids - {"all"}):
        if location_id == "alltrusted":
            if trusted is not None:
                resolved.append(trusted)
        elif location_id in known:
            resolved.append(known[location_id])
        # An unknown id is kept in the policy and matches nothing (issue 5).
    return tuple(resolved)
