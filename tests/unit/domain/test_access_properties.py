"""Properties of the Conditional Access engine that must hold for every policy and sign-in (hypothesis)."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limen.domain.access import strengths
from limen.domain.access.bits import positions_of
from limen.domain.access.context import EvaluationContext, Signals
from limen.domain.access.engine import CompletedStep, Evaluation, compile_policy_set, evaluate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
USERS = ["u-1", "u-2", "u-3"]
GROUPS = ["g-1", "g-2", "g-3"]
ROLES = ["62e90394-69f5-4237-9190-012177145e10", "194ae4cb-b126-40b2-bd5b-6091b380977d"]
APPS = ["app-1", "app-2"]
HQ = "loc-hq"
COUNTRIES = "loc-countries"
LOCATIONS: dict[str, dict[str, Any]] = {
    HQ: {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": "HQ",
        "isTrusted": True,
        "ipRanges": [{"cidrAddress": "203.0.113.0/24"}, {"cidrAddress": "2001:db8::/48"}],
    },
    COUNTRIES: {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "displayName": "US and GB",
        "countriesAndRegions": ["US", "GB"],
        "includeUnknownCountriesAndRegions": True,
    },
}
RULES = [
    "device.isCompliant -eq True",
    'device.trustType -ne "ServerAD"',
    'device.displayName -startsWith "PAW" -or device.deviceOwnership -eq "Company"',
    'device.extensionAttribute1 -eq "x"',
]
DEVICES: list[dict[str, object] | None] = [
    None,
    {"isCompliant": True, "trustType": "AzureAD", "deviceOwnership": "Company", "displayName": "PAW-1"},
    {"isCompliant": False, "trustType": "Workplace", "deviceOwnership": "Personal", "displayName": "home"},
    {"isCompliant": True, "trustType": "ServerAD", "isManaged": True, "extensionAttribute1": "x"},
]


def some(values: list[str], max_size: int = 2) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), max_size=max_size, unique=True)


guest_types = st.fixed_dictionaries(
    {
        "guestOrExternalUserTypes": st.sampled_from(
            ["internalGuest", "b2bCollaborationGuest", "internalGuest,b2bCollaborationMember", "serviceProvider"]
        ),
        "externalTenants": st.sampled_from(
            [None, {"membershipKind": "all"}, {"membershipKind": "enumerated", "members": ["t-1"]}]
        ),
    }
)


def often(value: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `value`, sometimes anything: random policies must apply often enough to test anything."""
    return st.one_of(st.just(value), st.just(value), st.just(value), strategy)


users = st.fixed_dictionaries(
    {
        "includeUsers": often(["All"], some(["All", "None", "GuestsOrExternalUsers", *USERS])),
        "excludeUsers": often([], some([*USERS, "GuestsOrExternalUsers"])),
        "includeGroups": some(GROUPS),
        "excludeGroups": often([], some(GROUPS)),
        "includeRoles": some(ROLES),
        "excludeRoles": often([], some(ROLES)),
    },
    optional={
        "includeGuestsOrExternalUsers": often(None, guest_types),
        "excludeGuestsOrExternalUsers": often(None, guest_types),
    },
)

applications = st.fixed_dictionaries(
    {
        "includeApplications": often(["All"], some(["All", "None", "Office365", "MicrosoftAdminPortals", *APPS])),
        "excludeApplications": often([], some(["Office365", "MicrosoftAdminPortals", *APPS])),
        "includeUserActions": often([], some(["urn:user:registersecurityinfo", "urn:user:registerdevice"], 1)),
        "includeAuthenticationContextClassReferences": often([], some(["c1", "c2"], 1)),
    }
)

OPTIONAL_CONDITIONS: dict[str, st.SearchStrategy[Any]] = {
    "platforms": st.fixed_dictionaries(
        {
            "includePlatforms": some(["all", "android", "iOS", "windows", "macOS"]),
            "excludePlatforms": some(["android", "iOS", "windows"]),
        }
    ),
    "locations": st.fixed_dictionaries(
        {
            "includeLocations": some(["All", "AllTrusted", HQ, COUNTRIES, "loc-unknown"]),
            "excludeLocations": some(["AllTrusted", HQ, COUNTRIES, "loc-unknown"]),
        }
    ),
    "signInRiskLevels": some(["low", "medium", "high"]),
    "userRiskLevels": some(["low", "medium", "high"]),
    "insiderRiskLevels": st.sampled_from(["", "elevated", "minor,moderate"]),
    "devices": st.fixed_dictionaries(
        {
            "deviceFilter": st.fixed_dictionaries(
                {"mode": st.sampled_from(["include", "exclude"]), "rule": st.sampled_from(RULES)}
            )
        }
    ),
    "authenticationFlows": st.fixed_dictionaries(
        {
            "transferMethods": st.sampled_from(
                ["deviceCodeFlow", "authenticationTransfer", "deviceCodeFlow,authenticationTransfer"]
            )
        }
    ),
}


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {
        "users": draw(users),
        "applications": draw(applications),
        "clientAppTypes": draw(
            often(["all"], some(["all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"]))
        ),
    }
    # Each optional condition in about one policy of six: enough to meet them, few enough to apply.
    for key, strategy in OPTIONAL_CONDITIONS.items():
        if draw(st.integers(0, 5)) == 0:
            out[key] = draw(strategy)
    return out


grant_controls = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "operator": st.sampled_from(["AND", "OR"]),
            "builtInControls": some(
                ["block", "mfa", "compliantDevice", "domainJoinedDevice", "approvedApplication", "passwordChange"], 3
            ),
            "authenticationStrength": st.sampled_from(
                [None, {"id": strengths.MFA}, {"id": strengths.PHISHING_RESISTANT_MFA}, {"id": "s-unknown"}]
            ),
        }
    ),
)

session_controls = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "signInFrequency": st.sampled_from(
                [
                    {"isEnabled": True, "type": "hours", "value": 1, "frequencyInterval": "timeBased"},
                    {"isEnabled": True, "type": "days", "value": 7, "frequencyInterval": "timeBased"},
                    {"isEnabled": True, "frequencyInterval": "everyTime"},
                ]
            ),
            "persistentBrowser": st.sampled_from(
                [{"isEnabled": True, "mode": "always"}, {"isEnabled": True, "mode": "never"}]
            ),
        },
    ),
)


@st.composite
def policies(draw: st.DrawFn, state: str | None = None) -> dict[str, Any]:
    return {
        "id": draw(st.uuids()).hex,
        "displayName": "generated",
        "state": state or draw(often("enabled", st.sampled_from(["enabledForReportingButNotEnforced", "disabled"]))),
        "conditions": draw(conditions()),
        "grantControls": draw(grant_controls),
        "sessionControls": draw(session_controls),
    }


@st.composite
def contexts(draw: st.DrawFn) -> EvaluationContext:
    completed = draw(
        st.lists(
            st.sampled_from(
                [
                    CompletedStep("password", NOW - timedelta(hours=2)),
                    CompletedStep("password", NOW),
                    CompletedStep("softwareOath", NOW),
                    CompletedStep("fido2", NOW - timedelta(days=2)),
                ]
            ),
            max_size=3,
            unique=True,
        )
    )
    return EvaluationContext(
        user_id=draw(st.sampled_from(USERS)),
        user_type=draw(often("member", st.just("guest"))),
        guest_or_external_user_type=draw(often(None, st.sampled_from(["b2bCollaborationGuest", "serviceProvider"]))),
        home_tenant_id=draw(st.sampled_from([None, "t-1", "t-2"])),
        group_ids=frozenset(draw(some(GROUPS, 3))),
        role_ids=frozenset(draw(some(ROLES))),
        app_id=draw(st.sampled_from([*APPS, *APPS, None])),
        app_keywords=frozenset(draw(some(["Office365", "MicrosoftAdminPortals"]))),
        user_action=draw(often(None, st.sampled_from(["urn:user:registersecurityinfo", "urn:user:registerdevice"]))),
        auth_context_class_refs=frozenset(draw(some(["c1", "c2"]))),
        client_app_type=draw(
            often("browser", st.sampled_from([None, "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"]))
        ),
        platform=draw(st.sampled_from([None, "android", "iOS", "windows", "macOS", "linux"])),
        ip_address=draw(st.sampled_from([None, "203.0.113.5", "198.51.100.1", "2001:db8::1", "::ffff:203.0.113.5"])),
        country=draw(st.sampled_from([None, "US", "FR"])),
        sign_in_risk=draw(st.sampled_from(["none", "low", "medium", "high"])),
        user_risk=draw(st.sampled_from(["none", "low", "medium", "high"])),
        insider_risk=draw(st.sampled_from([None, "minor", "elevated"])),
        device=draw(st.sampled_from(DEVICES)),
        authentication_flow=draw(st.sampled_from([None, "deviceCodeFlow", "authenticationTransfer"])),
        completed=tuple(completed),
        is_multi_factor=draw(st.booleans()),
        registered_modes=draw(st.sampled_from([None, frozenset({"password"}), frozenset({"password", "fido2"})])),
        password_changed=draw(st.booleans()),
    )


def run(documents: list[dict[str, Any]], context: EvaluationContext) -> Evaluation:
    return evaluate(compile_policy_set(documents, LOCATIONS, {}, version=1), context, NOW)


def enforced(evaluation: Evaluation) -> tuple[object, ...]:
    """Everything a sign-in acts on (not the per-policy log)."""
    return (
        evaluation.blocked,
        evaluation.block_causes,
        tuple((r.control, r.detail, r.policy_ids) for r in evaluation.requirements),
        evaluation.sign_in_frequency,
        evaluation.persistent_browser,
        evaluation.session_not_enforced,
        evaluation.conditional_access_status,
    )


EXCLUSIONS = st.one_of(
    st.tuples(st.just("users"), st.just("excludeUsers"), st.sampled_from([*USERS, "GuestsOrExternalUsers"])),
    st.tuples(st.just("users"), st.just("excludeGroups"), st.sampled_from(GROUPS)),
    st.tuples(st.just("users"), st.just("excludeRoles"), st.sampled_from(ROLES)),
    st.tuples(st.just("users"), st.just("excludeGuestsOrExternalUsers"), guest_types),
    st.tuples(
        st.just("applications"),
        st.just("excludeApplications"),
        st.sampled_from([*APPS, "Office365", "MicrosoftAdminPortals"]),
    ),
    st.tuples(
        st.just("platforms"), st.just("excludePlatforms"), st.sampled_from(["android", "iOS", "windows", "linux"])
    ),
    st.tuples(st.just("locations"), st.just("excludeLocations"), st.sampled_from(["AllTrusted", HQ, COUNTRIES])),
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def with_exclusion(document: dict[str, Any], exclusion: tuple[str, str, Any]) -> dict[str, Any]:
    section, key, value = exclusion
    changed = copy.deepcopy(document)
    target = changed["conditions"].setdefault(section, {})
    if key == "excludeGuestsOrExternalUsers":
        existing = target.get(key)
        if existing is None:
            target[key] = value
        elif existing.get("externalTenants") is None and value.get("externalTenants") is None:
            # One object holds the exclusion: adding kinds is a union of the flags (replacing it would
            # drop the kinds it excluded, which is not adding an exclusion).
            kinds = {*existing["guestOrExternalUserTypes"].split(","), *value["guestOrExternalUserTypes"].split(",")}
            target[key] = {**existing, "guestOrExternalUserTypes": ",".join(sorted(kinds))}
        # Otherwise the two cannot be merged into one object (kinds from some tenants and kinds from
        # all): there is nothing to add, and the property holds trivially.
    elif section in ("platforms", "locations") and not any(k.startswith("include") and v for k, v in target.items()):
        # An exclusion on a condition that had none configured: "everything but this".
        target["include" + key.removeprefix("exclude")] = ["All" if section == "locations" else "all"]
        target[key] = [value]
    else:
        target[key] = [*target.get(key, []), value]
    return changed


@PROPERTY_SETTINGS
@given(policies(), contexts(), EXCLUSIONS)
def test_adding_an_exclusion_never_makes_a_policy_apply(
    document: dict[str, Any], context: EvaluationContext, exclusion: tuple[str, str, Any]
) -> None:
    before = run([document], context).policies[0].applies
    after = run([with_exclusion(document, exclusion)], context).policies[0].applies
    assert after <= before


@PROPERTY_SETTINGS
@given(st.lists(policies(), max_size=6), contexts())
def test_a_block_in_any_applicable_enabled_policy_blocks(
    documents: list[dict[str, Any]], context: EvaluationContext
) -> None:
    evaluation = run(documents, context)
    for document, result in zip(documents, evaluation.policies, strict=True):
        grant = document["grantControls"] or {}
        if document["state"] == "enabled" and result.applies and "block" in grant.get("builtInControls", []):
            assert evaluation.blocked
            assert result.policy.id in {cause.policy_id for cause in evaluation.block_causes}
            assert evaluation.requirements == ()
    # And nothing else blocks: every cause is an applicable enabled policy.
    by_id = {r.policy.id: r for r in evaluation.policies}
    for cause in evaluation.block_causes:
        assert by_id[cause.policy_id].enforced


@PROPERTY_SETTINGS
@given(
    st.lists(policies(), max_size=5),
    st.lists(policies(state="enabledForReportingButNotEnforced"), min_size=1, max_size=4),
    contexts(),
)
def test_report_only_policies_never_change_the_outcome(
    documents: list[dict[str, Any]], report_only: list[dict[str, Any]], context: EvaluationContext
) -> None:
    without = run(documents, context)
    mixed = run(report_only[:1] + documents + report_only[1:], context)
    assert enforced(mixed) == enforced(without)


@PROPERTY_SETTINGS
@given(st.lists(policies(), max_size=6), contexts(), st.randoms(use_true_random=False))
def test_the_outcome_does_not_depend_on_policy_order(
    documents: list[dict[str, Any]], context: EvaluationContext, rng: Any
) -> None:
    shuffled = list(documents)
    rng.shuffle(shuffled)
    first, second = run(documents, context), run(shuffled, context)
    assert first.blocked == second.blocked
    assert {c.policy_id for c in first.block_causes} == {c.policy_id for c in second.block_causes}
    assert {(r.control, r.detail, frozenset(r.policy_ids)) for r in first.requirements} == {
        (r.control, r.detail, frozenset(r.policy_ids)) for r in second.requirements
    }


@PROPERTY_SETTINGS
@given(st.lists(policies(state="enabled"), max_size=5), contexts())
def test_doing_mfa_never_adds_requirements(documents: list[dict[str, Any]], context: EvaluationContext) -> None:
    before = run(documents, context)
    after = run(
        documents,
        replace(context, completed=(*context.completed, CompletedStep("fido2", NOW, None)), is_multi_factor=True),
    )
    assert after.blocked == before.blocked
    assert after.requirement_keys <= before.requirement_keys


@PROPERTY_SETTINGS
@given(st.lists(policies(), max_size=6), contexts())
def test_the_users_index_answers_exactly_what_the_users_checks_answer(
    documents: list[dict[str, Any]], context: EvaluationContext
) -> None:
    compiled = compile_policy_set(documents, LOCATIONS, {}, version=1)
    signals = Signals(context)
    matching = set(positions_of(compiled._index.matching(signals)))
    for position, policy in enumerate(compiled.policies):
        if policy.state.value == "disabled":
            assert position not in matching
        else:
            # Exactly, for the common shapes and for guest-type objects alike.
            assert (position in matching) is bool(policy.conditions[0].check(signals)), policy.document
