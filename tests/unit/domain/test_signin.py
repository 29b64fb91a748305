"""The sign-in state machine, without HTTP or a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from limen.domain import signin as m
from limen.domain.access.decision import Decision, Outcome
from limen.domain.session import CompletedMethod
from limen.domain.signin_log import SignInError

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
PASSWORD = CompletedMethod(method="password", amr="pwd", factor="knowledge", at=NOW)


def at_password(username: str = "adele@contoso.test") -> m.SignInState:
    state, effects = m.advance(m.SignInState(), m.UsernameSubmitted(username), NOW)
    assert effects == (m.Show(),)
    return state


def test_username_moves_to_password_without_looking_up_the_account() -> None:
    state = at_password("  Adele@Contoso.test ")
    assert state.stage is m.Stage.PASSWORD
    assert state.username == "Adele@Contoso.test"
    assert state.user_id is None


@pytest.mark.parametrize("username", ["", "   ", "x" * (m.MAX_USERNAME_LENGTH + 1)])
def test_blank_or_overlong_username_stays_on_identify_with_a_notice(username: str) -> None:
    state, effects = m.advance(m.SignInState(), m.UsernameSubmitted(username), NOW)
    assert state.stage is m.Stage.IDENTIFY
    assert effects == (m.Show(m.Notice.ENTER_USERNAME),)


@pytest.mark.parametrize(
    ("error", "notice"),
    [
        (SignInError.USER_ACCOUNT_NOT_FOUND, m.Notice.INVALID_CREDENTIALS),
        (SignInError.INVALID_USERNAME_OR_PASSWORD, m.Notice.INVALID_CREDENTIALS),
        (SignInError.USER_DISABLED, m.Notice.ACCOUNT_DISABLED),
    ],
)
def test_failed_first_factor_logs_its_code_and_shows_a_non_revealing_notice(
    error: SignInError, notice: m.Notice
) -> None:
    state, effects = m.advance(at_password(), m.FirstFactorChecked(error=error), NOW)
    assert state.stage is m.Stage.PASSWORD
    assert state.failures == 1
    assert effects == (m.LogAttempt(error), m.Show(notice))


def test_unknown_user_and_wrong_password_produce_the_same_notice() -> None:
    _, unknown = m.advance(at_password(), m.FirstFactorChecked(SignInError.USER_ACCOUNT_NOT_FOUND), NOW)
    _, wrong = m.advance(at_password(), m.FirstFactorChecked(SignInError.INVALID_USERNAME_OR_PASSWORD, "u1"), NOW)
    assert unknown[-1] == wrong[-1]


def test_successful_password_asks_for_a_decision_then_completes_when_allowed() -> None:
    state, effects = m.advance(at_password(), m.FirstFactorChecked(SignInError.SUCCESS, "u1", PASSWORD), NOW)
    assert state.stage is m.Stage.DECIDE and effects == (m.RunDecision(),)
    assert state.completed == (PASSWORD,)
    state, effects = m.advance(state, m.Decided(Decision(Outcome.ALLOW)), NOW)
    assert state.stage is m.Stage.COMPLETE
    assert effects == (m.IssueSession(), m.LogAttempt(SignInError.SUCCESS))


def test_a_block_decision_ends_in_blocked_and_is_logged() -> None:
    state, _ = m.advance(at_password(), m.FirstFactorChecked(SignInError.SUCCESS, "u1", PASSWORD), NOW)
    state, effects = m.advance(state, m.Decided(Decision(Outcome.BLOCK, reason="policy")), NOW)
    assert state.stage is m.Stage.BLOCKED
    assert m.LogAttempt(SignInError.BLOCKED_BY_CONDITIONAL_ACCESS) in effects


def test_requirements_left_after_the_first_factor_lead_to_the_satisfy_stage() -> None:
    state, _ = m.advance(at_password(), m.FirstFactorChecked(SignInError.SUCCESS, "u1", PASSWORD), NOW)
    state, effects = m.advance(state, m.Decided(Decision(Outcome.ALLOW, requirements=frozenset({"mfa"}))), NOW)
    assert state.stage is m.Stage.SATISFY
    assert state.pending == ("mfa",)
    assert not any(isinstance(e, m.IssueSession) for e in effects)


def test_mfa_a_decision_still_lists_is_asked_for_even_after_a_multi_factor_method() -> None:
    # A passkey is multi-factor, but the decision (which saw it) wants a method it does not count:
    # the machine asks for one instead of completing.
    passkey = CompletedMethod(method="fido2", amr="hwk", factor="possession", at=NOW)
    state, _ = m.advance(at_password(), m.FirstFactorChecked(SignInError.SUCCESS, "u1", passkey), NOW)
    needs_strength = Decision(Outcome.ALLOW, requirements=frozenset({"mfa"}), mfa_methods=frozenset({"x509"}))
    state, effects = m.advance(state, m.Decided(needs_strength), NOW)
    assert state.stage is m.Stage.SATISFY and state.pending == ("mfa",)
    assert not any(isinstance(e, m.IssueSession) for e in effects)


def test_success_without_user_or_method_is_rejected() -> None:
    with pytest.raises(m.InvalidTransition):
        m.advance(at_password(), m.FirstFactorChecked(SignInError.SUCCESS), NOW)


def test_events_out_of_order_are_invalid_transitions() -> None:
    with pytest.raises(m.InvalidTransition):
        m.advance(m.SignInState(), m.FirstFactorChecked(SignInError.SUCCESS, "u1", PASSWORD), NOW)
    with pytest.raises(m.InvalidTransition):
        m.advance(at_password(), m.Decided(Decision(Outcome.ALLOW)), NOW)


def test_restart_forgets_everything() -> None:
    state, _ = m.advance(at_password(), m.FirstFactorChecked(SignInError.INVALID_USERNAME_OR_PASSWORD, "u1"), NOW)
    state, effects = m.advance(state, m.Restarted(), NOW)
    assert state == m.SignInState()
    assert effects == (m.Show(),)


def test_state_round_trips_through_json_and_unknown_versions_restart() -> None:
    state, _ = m.advance(at_password(), m.FirstFactorChecked(SignInError.SUCCESS, "u1", PASSWORD), NOW)
    assert m.SignInState.from_json(state.to_json()) == state
    future = {**state.to_json(), "version": m.STATE_VERSION + 1}
    assert m.SignInState.from_json(future) == m.SignInState()


def test_an_empty_policy_set_needs_no_directory_facts_and_allows() -> None:
    from limen.domain.access.decision import NO_POLICY_DECISION, ClientAppType, PolicySet, SignInContext, decide

    context = SignInContext("t", "u", frozenset(), frozenset(), "app", ClientAppType.BROWSER, "192.0.2.1")
    assert not PolicySet().needs_directory
    assert PolicySet(policies=(object(),)).needs_directory
    assert decide(context, PolicySet(), NOW) == NO_POLICY_DECISION
    assert NO_POLICY_DECISION.outcome is Outcome.ALLOW and not NO_POLICY_DECISION.requirements
