"""`decide` with Microsoft's "Require password change for high-risk users" policy: the password change is
asked of interactive sign-ins only, after MFA; everything that cannot change a password fails closed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from limen.domain.access.decision import (
    PASSWORD_CHANGE,
    REAUTHENTICATE,
    ClientAppType,
    Outcome,
    PolicySet,
    SignInContext,
    decide,
)
from limen.domain.access.engine import compile_policy_set
from limen.domain.access.templates import find_template
from limen.domain.session import CompletedMethod
from limen.domain.signin_log import SignInError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY_ID = "0d5e1a7c-3f4b-4c8e-9a61-2b7d8e9f0a1b"
PASSWORD = CompletedMethod(method="password", amr="pwd", factor="knowledge", at=NOW)
TOTP = CompletedMethod(method="softwareOath", amr="otp", factor="possession", at=NOW)


def high_risk_policy_set() -> PolicySet:
    document: dict[str, Any] = find_template("require-password-change-high-risk-users").build([])
    document.update(id=POLICY_ID, state="enabled")
    return PolicySet(conditional_access=compile_policy_set([document], {}, {}, version=1))


def context(**changes: Any) -> SignInContext:
    base = SignInContext(
        tenant_id="t",
        user_id="11111111-1111-1111-1111-111111111111",
        group_ids=frozenset(),
        role_ids=frozenset(),
        app_id="55555555-5555-5555-5555-555555555555",
        client_app_type=ClientAppType.BROWSER,
        ip_address="81.2.69.142",
        registered_methods=frozenset({"softwareOath"}),
        user_risk="high",
        completed=(PASSWORD,),
    )
    return replace(base, **changes)


def test_an_interactive_high_risk_sign_in_is_asked_for_mfa_and_a_password_change() -> None:
    decision = decide(context(), high_risk_policy_set(), NOW)
    assert decision.outcome is Outcome.ALLOW
    assert decision.requirements == {"mfa", PASSWORD_CHANGE}
    assert decision.conditional_access_status == "failure"  # not met yet


def test_after_mfa_only_the_password_change_is_left() -> None:
    decision = decide(context(completed=(PASSWORD, TOTP)), high_risk_policy_set(), NOW)
    assert decision.outcome is Outcome.ALLOW and decision.requirements == {PASSWORD_CHANGE}


@pytest.mark.parametrize("risk", ["none", "low", "medium"])
def test_users_below_high_risk_are_not_asked(risk: str) -> None:
    decision = decide(context(user_risk=risk), high_risk_policy_set(), NOW)
    assert decision.outcome is Outcome.ALLOW and decision.requirements == frozenset()
    assert decision.conditional_access_status == "notApplied"


@pytest.mark.parametrize(
    "changes",
    [
        # The password grant: a client that cannot show a page.
        {"is_interactive": False, "client_app_type": ClientAppType.MOBILE_APPS_AND_DESKTOP_CLIENTS},
        # MFA done, still nothing can ask for the new password.
        {"is_interactive": False, "completed": (PASSWORD, TOTP)},
        # A refresh token reusing an earlier sign-in.
        {"is_interactive": False, "reusing_session": True, "completed": (PASSWORD, TOTP)},
        # HTTP Basic (legacy authentication).
        {"is_interactive": False, "client_app_type": ClientAppType.OTHER},
    ],
)
def test_sign_ins_that_cannot_change_a_password_are_blocked(changes: dict[str, Any]) -> None:
    decision = decide(context(**changes), high_risk_policy_set(), NOW)
    assert decision.outcome is Outcome.BLOCK
    assert decision.error is SignInError.BLOCKED_BY_CONDITIONAL_ACCESS
    assert not decision.requirements


def test_single_sign_on_of_a_risky_user_asks_for_a_new_sign_in_where_the_change_is_offered() -> None:
    decision = decide(context(reusing_session=True, completed=(PASSWORD, TOTP)), high_risk_policy_set(), NOW)
    assert decision.outcome is Outcome.ALLOW and decision.requirements == {REAUTHENTICATE}


def test_a_risky_user_without_a_method_is_blocked_rather_than_sent_to_register() -> None:
    # SPEC.md §4.4: self-remediation needs MFA registered beforehand; registering now could be the attacker.
    decision = decide(context(registered_methods=frozenset()), high_risk_policy_set(), NOW)
    assert decision.outcome is Outcome.BLOCK
    assert decision.error is SignInError.BLOCKED_BY_CONDITIONAL_ACCESS


def test_every_time_sign_in_frequency_does_not_ask_a_fresh_interactive_sign_in_again() -> None:
    later = NOW + timedelta(minutes=2)
    decision = decide(context(completed=(PASSWORD, TOTP)), high_risk_policy_set(), later)
    assert decision.requirements == {PASSWORD_CHANGE}
