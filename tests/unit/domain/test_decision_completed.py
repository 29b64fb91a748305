"""`decide` lists only what the sign-in's completed methods do not meet yet: per-user MFA and security
defaults are met by any multi-factor sign-in, a Conditional Access authentication strength only by the
methods it accepts. The sign-in machine and single sign-on take the list as it is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from limen.domain.access.decision import ClientAppType, PolicySet, SignInContext, decide
from limen.domain.access.engine import compile_policy_set
from limen.domain.access.strengths import PHISHING_RESISTANT_MFA
from limen.domain.defaults import ADMIN_PORTALS_APP_ID
from limen.domain.session import CompletedMethod

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = CompletedMethod(method="password", amr="pwd", factor="knowledge", at=NOW)
TOTP = CompletedMethod(method="softwareOath", amr="otp", factor="possession", at=NOW)
PASSKEY = CompletedMethod(method="fido2", amr="hwk", factor="possession", at=NOW)


def context(*completed: CompletedMethod, **changes: Any) -> SignInContext:
    base = SignInContext(
        tenant_id="t",
        user_id="11111111-1111-1111-1111-111111111111",
        group_ids=frozenset(),
        role_ids=frozenset(),
        app_id="55555555-5555-5555-5555-555555555555",
        client_app_type=ClientAppType.BROWSER,
        ip_address="81.2.69.142",
        registered_methods=frozenset({"softwareOath", "fido2"}),
        completed=completed,
    )
    return replace(base, **changes)


def phishing_resistant() -> PolicySet:
    document = {
        "id": "0d5e1a7c-3f4b-4c8e-9a61-2b7d8e9f0a1b",
        "displayName": "Phishing-resistant MFA for everyone",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "authenticationStrength": {"id": PHISHING_RESISTANT_MFA}},
    }
    return PolicySet(conditional_access=compile_policy_set([document], {}, {}, version=1))


def test_per_user_mfa_is_met_by_any_multi_factor_sign_in() -> None:
    assert decide(context(PASSWORD), PolicySet(), NOW).requirements == {"mfa"}
    assert decide(context(PASSWORD, TOTP), PolicySet(), NOW).requirements == frozenset()
    assert decide(context(PASSKEY), PolicySet(), NOW).requirements == frozenset()


def test_security_defaults_mfa_is_met_by_any_multi_factor_sign_in() -> None:
    defaults_on = PolicySet(security_defaults=True)
    admin_portal = {"app_id": ADMIN_PORTALS_APP_ID, "registration_started_at": NOW}
    assert decide(context(PASSWORD, **admin_portal), defaults_on, NOW).requirements == {"mfa"}
    assert decide(context(PASSWORD, TOTP, **admin_portal), defaults_on, NOW).requirements == frozenset()


def test_an_authentication_strength_is_not_met_by_a_second_factor_it_does_not_accept() -> None:
    policies = phishing_resistant()
    for completed in ((PASSWORD,), (PASSWORD, TOTP)):
        decision = decide(context(*completed), policies, NOW)
        assert decision.requirements == {"mfa"} and decision.mfa_methods == {"fido2"}, completed
    assert decide(context(PASSKEY), policies, NOW).requirements == frozenset()
