"""The sign-in state machine's password-change stage (Conditional Access `passwordChange`), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from limen.domain import signin as m
from limen.domain.access.decision import PASSWORD_CHANGE, Decision, Outcome
from limen.domain.session import CompletedMethod
from limen.domain.signin_log import SignInError

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
PASSWORD = CompletedMethod(method="password", amr="pwd", factor="knowledge", at=NOW)
TOTP = CompletedMethod(method="softwareOath", amr="otp", factor="possession", at=LATER)
POLICY: dict[str, Any] = {
    "id": "p1",
    "displayName": "Require password change for high-risk users",
    "enforcedGrantControls": ["Mfa", "RequirePasswordChange"],
    "result": "failure",
}
MFA_POLICY: dict[str, Any] = {"id": "p2", "enforcedGrantControls": ["Mfa"], "result": "success"}
ASKING = Decision(
    Outcome.ALLOW,
    requirements=frozenset({"mfa", PASSWORD_CHANGE}),
    reason="conditionalAccess",
    conditional_access_status="failure",
    applied_policies=(POLICY, MFA_POLICY),
)


def decided(decision: Decision = ASKING, first: CompletedMethod = PASSWORD) -> tuple[m.SignInState, Any]:
    state, _ = m.advance(
        m.SignInState(stage=m.Stage.PASSWORD, username="adele@contoso.test"),
        m.UsernameSubmitted("adele@contoso.test"),
        NOW,
    )
    state, _ = m.advance(state, m.FirstFactorChecked(SignInError.SUCCESS, "u1", first), NOW)
    return m.advance(state, m.Decided(decision), NOW)


def at_change_password() -> m.SignInState:
    state, effects = decided()
    assert state.stage is m.Stage.SATISFY and effects == (m.StartChallenge(),)  # MFA first
    state, _ = m.advance(state, m.ChallengeStarted("totp-1", "c1"), NOW)
    state, effects = m.advance(state, m.SecondFactorPassed(TOTP), LATER)
    assert state.stage is m.Stage.CHANGE_PASSWORD
    assert effects == (m.OfferPasswordChange(),)
    assert state.pending == (PASSWORD_CHANGE,)
    return state


def test_mfa_comes_first_then_the_password_change_is_offered() -> None:
    state = at_change_password()
    state, effects = m.advance(state, m.PasswordChangeOffered(possible=True), LATER)
    assert state.stage is m.Stage.CHANGE_PASSWORD and effects == (m.Show(),)


def test_a_failed_second_factor_never_reaches_the_password_change() -> None:
    state, _ = decided()
    state, _ = m.advance(state, m.ChallengeStarted("totp-1", "c1"), NOW)
    state, effects = m.advance(state, m.SecondFactorFailed(SignInError.STRONG_AUTH_FAILED), NOW)
    assert state.stage is m.Stage.SATISFY
    assert not any(isinstance(e, m.OfferPasswordChange) for e in effects)
    with pytest.raises(m.InvalidTransition):
        m.advance(state, m.PasswordChanged(), NOW)


def test_without_a_password_to_change_the_sign_in_is_blocked() -> None:
    state, effects = m.advance(at_change_password(), m.PasswordChangeOffered(possible=False), LATER)
    assert state.stage is m.Stage.BLOCKED
    assert effects == (
        m.LogAttempt(SignInError.BLOCKED_BY_CONDITIONAL_ACCESS, m.MULTI_FACTOR),
        m.Show(m.Notice.BLOCKED),
    )


def test_a_change_decides_again_and_completes_without_asking_twice() -> None:
    state, effects = m.advance(at_change_password(), m.PasswordChanged(), LATER)
    assert state.stage is m.Stage.DECIDE and effects == (m.RunDecision(),)
    assert state.password_changed_at == LATER and state.pending == ()
    # Even if a decision still listed the change (its policy does not see the change), it is not asked again.
    again = Decision(Outcome.ALLOW, requirements=frozenset({PASSWORD_CHANGE}), reason="conditionalAccess")
    done, effects = m.advance(state, m.Decided(again), LATER)
    assert done.stage is m.Stage.COMPLETE
    assert effects == (m.IssueSession(), m.LogAttempt(SignInError.SUCCESS, m.MULTI_FACTOR))


def test_the_log_credits_the_policies_the_change_met() -> None:
    state, _ = m.advance(at_change_password(), m.PasswordChanged(), LATER)
    assert state.password_change_policies == ({**POLICY, "result": "success"},)
    # The final evaluation, with the risk remediated: the policy no longer applies.
    final = ({**POLICY, "result": "notApplied"}, MFA_POLICY)
    status, applied = m.credit_password_change(state, "success", final)
    assert status == "success"
    assert [p["result"] for p in applied] == ["success", "success"]
    assert m.credit_password_change(m.SignInState(), "notApplied", final) == ("notApplied", final)
    [detail] = m.password_change_details(state)
    assert (detail.authentication_method, detail.step_requirement, detail.step_at) == (
        "Password",
        "Password change",
        LATER,
    )
    assert m.password_change_details(m.SignInState()) == ()


def test_a_sign_in_that_is_not_multi_factor_is_not_offered_a_password_change() -> None:
    # Only an invalid policy asks for it without MFA; the machine blocks rather than let the password go.
    state, effects = decided(Decision(Outcome.ALLOW, requirements=frozenset({PASSWORD_CHANGE})))
    assert state.stage is m.Stage.BLOCKED
    assert m.LogAttempt(SignInError.BLOCKED_BY_CONDITIONAL_ACCESS, m.SINGLE_FACTOR) in effects


def test_the_stage_and_the_change_survive_the_round_trip_through_json() -> None:
    state, _ = m.advance(at_change_password(), m.PasswordChanged(), LATER)
    assert m.SignInState.from_json(state.to_json()) == state
    waiting = at_change_password()
    assert m.SignInState.from_json(waiting.to_json()) == waiting


@pytest.mark.parametrize("event", [m.PasswordChanged(), m.PasswordChangeOffered(possible=True)])
def test_password_change_events_outside_the_stage_are_invalid(event: m.Event) -> None:
    state, _ = decided()
    with pytest.raises(m.InvalidTransition):
        m.advance(state, event, NOW)
