"""The sign-in pipeline as a pure state machine: (state, event, now) -> (state, effects).

identify -> first factor -> decide -> satisfy (register, MFA, then change the password) -> complete
(DESIGN.md). The service layer gathers the facts an event carries (was the password right? what did
`decide` say?) and carries out the effects (render, log, issue a session). Nothing here touches I/O,
so every path is unit-testable. The state is JSON-serialisable and versioned so that a deployment does
not break sign-ins in flight (STYLE.md L5). Diagram: signin.mermaid beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from limen.domain.access.controls import REQUIRE_PASSWORD_CHANGE
from limen.domain.access.decision import PASSWORD_CHANGE, Decision
from limen.domain.session import CompletedMethod, is_multi_factor
from limen.domain.signin_log import AuthenticationDetail, SignInError

STATE_VERSION = 1
MAX_USERNAME_LENGTH = 256


class Stage(StrEnum):
    IDENTIFY = "identify"
    PASSWORD = "password"  # noqa: S105 - a stage name, not a secret
    DECIDE = "decide"
    SATISFY = "satisfy"
    REGISTER = "register"
    PASSKEY = "passkey"
    CHANGE_PASSWORD = "changePassword"  # noqa: S105 - a stage name, not a secret
    COMPLETE = "complete"
    BLOCKED = "blocked"


class Notice(StrEnum):
    """What the page tells the person; the web layer maps each to wording. Never reveals account existence."""

    ENTER_USERNAME = "enterUsername"
    INVALID_CREDENTIALS = "invalidCredentials"
    ACCOUNT_DISABLED = "accountDisabled"
    BLOCKED = "blocked"
    SECOND_FACTOR_FAILED = "secondFactorFailed"


#: Requirements `decide` may return that the satisfy stage knows how to meet.
MFA = "mfa"
REGISTER_SECURITY_INFO = "registerSecurityInfo"


@dataclass(frozen=True, slots=True)
class SignInState:
    stage: Stage = Stage.IDENTIFY
    username: str = ""
    user_id: str | None = None
    completed: tuple[CompletedMethod, ...] = ()
    pending: tuple[str, ...] = ()
    failures: int = 0
    #: The method being challenged and its challenge (satisfy stage), or the registration (register stage).
    method_id: str | None = None
    challenge: str | None = None
    #: Whether the registration interrupt may be skipped this time (a grace period that has not ended).
    skip_allowed: bool = False
    #: A passwordless prompt waiting for its answer (a passkey challenge and the page's options).
    prompt: dict[str, Any] | None = None
    #: The registration interrupt: which method kinds count (empty: any), and the days left to skip.
    register_kinds: tuple[str, ...] = ()
    days_left: int | None = None
    #: Which rules asked for what (Graph `authenticationRequirementPolicies`), for the log row at the end.
    requirement_policies: tuple[dict[str, Any], ...] = ()
    #: Conditional Access's verdict for the log (`conditionalAccessStatus`, `appliedConditionalAccessPolicies`).
    ca_status: str = "notApplied"
    applied_policies: tuple[dict[str, Any], ...] = ()
    #: Method keys that can meet a required authentication strength (empty: any second factor).
    mfa_kinds: tuple[str, ...] = ()
    #: When the person changed their password in this sign-in (grant `passwordChange`), and the policies
    #: that change met, as the log showed them then: the final evaluation no longer sees the user risk
    #: the change remediated, so the log credits them from here (`credit_password_change`).
    password_changed_at: datetime | None = None
    password_change_policies: tuple[dict[str, Any], ...] = ()
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "stage": self.stage.value,
            "username": self.username,
            "user_id": self.user_id,
            "completed": [m.to_json() for m in self.completed],
            "pending": list(self.pending),
            "failures": self.failures,
            "method_id": self.method_id,
            "challenge": self.challenge,
            "skip_allowed": self.skip_allowed,
            "prompt": self.prompt,
            "register_kinds": list(self.register_kinds),
            "days_left": self.days_left,
            "requirement_policies": list(self.requirement_policies),
            "ca_status": self.ca_status,
            "applied_policies": list(self.applied_policies),
            "mfa_kinds": list(self.mfa_kinds),
            "password_changed_at": self.password_changed_at.isoformat() if self.password_changed_at else None,
            "password_change_policies": list(self.password_change_policies),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignInState:
        if data.get("version") != STATE_VERSION:
            # Unknown versions restart the sign-in rather than guess at their meaning.
            return cls()
        return cls(
            stage=Stage(data["stage"]),
            username=str(data.get("username", "")),
            user_id=data.get("user_id"),
            completed=tuple(CompletedMethod.from_json(m) for m in data.get("completed", [])),
            pending=tuple(str(p) for p in data.get("pending", [])),
            failures=int(data.get("failures", 0)),
            method_id=data.get("method_id"),
            challenge=data.get("challenge"),
            skip_allowed=bool(data.get("skip_allowed", False)),
            prompt=data.get("prompt"),
            register_kinds=tuple(str(k) for k in data.get("register_kinds", [])),
            days_left=data.get("days_left"),
            requirement_policies=tuple(dict(p) for p in data.get("requirement_policies", [])),
            ca_status=str(data.get("ca_status", "notApplied")),
            applied_policies=tuple(dict(p) for p in data.get("applied_policies", [])),
            mfa_kinds=tuple(str(k) for k in data.get("mfa_kinds", [])),
            password_changed_at=datetime.fromisoformat(changed)
            if (changed := data.get("password_changed_at"))
            else None,
            password_change_policies=tuple(dict(p) for p in data.get("password_change_policies", [])),
        )


# Events -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsernameSubmitted:
    username: str


@dataclass(frozen=True, slots=True)
class FirstFactorChecked:
    """The outcome of checking a first factor. `user_id` is None when no such account exists.

    A passkey names its user itself, so it may arrive in the identify stage with `username`.
    """

    error: SignInError
    user_id: str | None = None
    method: CompletedMethod | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class PasskeyRequested:
    """ "Sign in with a passkey": the service made a challenge; the page asks the browser to answer it."""

    prompt: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChallengeStarted:
    """The service opened a challenge (or a registration) for `method_id`; the page answers it."""

    method_id: str | None
    challenge: str


@dataclass(frozen=True, slots=True)
class SecondFactorPassed:
    method: CompletedMethod


@dataclass(frozen=True, slots=True)
class SecondFactorFailed:
    error: SignInError


@dataclass(frozen=True, slots=True)
class MethodRegistered:
    """The registration interrupt added a method; verifying it during registration proved possession."""

    method: CompletedMethod


@dataclass(frozen=True, slots=True)
class RegistrationSkipped:
    """The person chose "skip for now" while the grace period allows it."""


@dataclass(frozen=True, slots=True)
class PasswordChangeOffered:
    """Whether the user has a password to change (an account that signs in only with passkeys has none)."""

    possible: bool


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """The person set a new password; the service stored it and remediated their user risk."""


@dataclass(frozen=True, slots=True)
class Decided:
    decision: Decision


@dataclass(frozen=True, slots=True)
class Restarted:
    """ "Sign in with another account": back to the start, nothing carried over."""


Event = (
    UsernameSubmitted
    | FirstFactorChecked
    | Decided
    | Restarted
    | ChallengeStarted
    | SecondFactorPassed
    | SecondFactorFailed
    | MethodRegistered
    | RegistrationSkipped
    | PasskeyRequested
    | PasswordChangeOffered
    | PasswordChanged
)


# Effects ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Show:
    """Render the page for the state's stage, with an optional notice."""

    notice: Notice | None = None


@dataclass(frozen=True, slots=True)
class RunDecision:
    """Gather the sign-in context and call `decide`; feed the result back as `Decided`."""


@dataclass(frozen=True, slots=True)
class LogAttempt:
    error: SignInError
    authentication_requirement: str = "singleFactorAuthentication"
    details: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class IssueSession:
    """Create the browser session from `state.completed` and continue to the application."""


@dataclass(frozen=True, slots=True)
class StartChallenge:
    """Open a challenge for the user's default second factor (or `method_id`); feed back `ChallengeStarted`."""

    method_id: str | None = None


@dataclass(frozen=True, slots=True)
class OfferPasswordChange:
    """Check that the user has a password to change; feed back `PasswordChangeOffered`."""


Effect = Show | RunDecision | LogAttempt | IssueSession | StartChallenge | OfferPasswordChange


class InvalidTransition(Exception):
    """An event that makes no sense in the current stage (e.g. a replayed form). The caller restarts."""


def advance(state: SignInState, event: Event, now: datetime) -> tuple[SignInState, tuple[Effect, ...]]:
    """Apply `event` to `state`; return the new state and the effects the service must carry out."""
    if isinstance(event, Restarted):
        return SignInState(), (Show(),)
    if isinstance(event, UsernameSubmitted):
        return _on_username(state, event)
    if isinstance(event, FirstFactorChecked):
        return _on_first_factor(state, event)
    if isinstance(event, Decided):
        return _on_decided(state, event)
    if isinstance(event, ChallengeStarted):
        if state.stage not in (Stage.SATISFY, Stage.REGISTER):
            raise InvalidTransition(f"challenge started in stage {state.stage}")
        return replace(state, method_id=event.method_id, challenge=event.challenge), (Show(),)
    if isinstance(event, SecondFactorPassed):
        return _on_second_factor(state, event)
    if isinstance(event, SecondFactorFailed):
        if state.stage is not Stage.SATISFY:
            raise InvalidTransition(f"second factor failed in stage {state.stage}")
        failed = replace(state, failures=state.failures + 1)
        return failed, (LogAttempt(event.error, MULTI_FACTOR), Show(Notice.SECOND_FACTOR_FAILED))
    if isinstance(event, MethodRegistered):
        return _on_registered(state, event)
    if isinstance(event, PasskeyRequested):
        if state.stage not in (Stage.IDENTIFY, Stage.PASSWORD, Stage.PASSKEY):
            raise InvalidTransition(f"passkey requested in stage {state.stage}")
        return SignInState(stage=Stage.PASSKEY, prompt=event.prompt), (Show(),)
    if isinstance(event, PasswordChangeOffered):
        return _on_password_change_offered(state, event)
    if isinstance(event, PasswordChanged):
        return _on_password_changed(state, now)
    return _on_skipped(state)


MULTI_FACTOR = "multiFactorAuthentication"
SINGLE_FACTOR = "singleFactorAuthentication"


def _on_username(state: SignInState, event: UsernameSubmitted) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage not in (Stage.IDENTIFY, Stage.PASSWORD):
        raise InvalidTransition(f"username submitted in stage {state.stage}")
    username = event.username.strip()
    if not username or len(username) > MAX_USERNAME_LENGTH:
        return replace(state, stage=Stage.IDENTIFY), (Show(Notice.ENTER_USERNAME),)
    # Whether the account exists is deliberately not looked at here: the password page is the same.
    return SignInState(stage=Stage.PASSWORD, username=username), (Show(),)


def _on_first_factor(state: SignInState, event: FirstFactorChecked) -> tuple[SignInState, tuple[Effect, ...]]:
    named_by_method = state.stage in (Stage.IDENTIFY, Stage.PASSKEY) and event.username is not None
    if state.stage is not Stage.PASSWORD and not named_by_method:
        raise InvalidTransition(f"first factor checked in stage {state.stage}")
    if event.username is not None:
        state = replace(state, username=event.username)
    if event.error is SignInError.SUCCESS:
        if event.user_id is None or event.method is None:
            raise InvalidTransition("a successful first factor must name the user and the method")
        next_state = replace(state, stage=Stage.DECIDE, user_id=event.user_id, completed=(event.method,), prompt=None)
        return next_state, (RunDecision(),)
    failed = replace(state, failures=state.failures + 1, user_id=event.user_id)
    notice = Notice.ACCOUNT_DISABLED if event.error is SignInError.USER_DISABLED else Notice.INVALID_CREDENTIALS
    return failed, (LogAttempt(event.error), Show(notice))


def _on_decided(state: SignInState, event: Decided) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.DECIDE:
        raise InvalidTransition(f"decision delivered in stage {state.stage}")
    decision = event.decision
    state = replace(
        state,
        requirement_policies=decision.requirement_policies,
        ca_status=decision.conditional_access_status,
        applied_policies=decision.applied_policies,
        mfa_kinds=tuple(sorted(decision.mfa_methods or ())),
    )
    if decision.is_blocked:
        return replace(state, stage=Stage.BLOCKED), (
            LogAttempt(decision.error or SignInError.BLOCKED_BY_CONDITIONAL_ACCESS),
            Show(Notice.BLOCKED),
        )
    # `decide` saw `state.completed`: what it lists is still unmet (a passkey or a Temporary Access Pass
    # meets "mfa" already, but not a strength that does not accept it).
    requirements = set(decision.requirements) - {"password"}
    if state.password_changed_at is not None:
        requirements.discard(PASSWORD_CHANGE)  # once per sign-in: the decision after the change cannot see it
    pending = tuple(sorted(requirements))
    return _next_requirement(
        replace(
            state,
            pending=pending,
            skip_allowed=decision.registration_skippable,
            register_kinds=tuple(sorted(decision.registration_methods or ())),
            days_left=decision.registration_days_left if decision.registration_skippable else None,
        )
    )


def _next_requirement(state: SignInState) -> tuple[SignInState, tuple[Effect, ...]]:
    """Move to the stage that meets the next pending requirement, or complete the sign-in."""
    if REGISTER_SECURITY_INFO in state.pending:
        return replace(state, stage=Stage.REGISTER, method_id=None, challenge=None), (Show(),)
    if MFA in state.pending:
        return replace(state, stage=Stage.SATISFY, method_id=None, challenge=None), (StartChallenge(),)
    if PASSWORD_CHANGE in state.pending:
        # Last (SPEC.md §3.2's prompt order): only a person who passed MFA changes the password, without
        # giving the current one again. A policy that asks for it without MFA (not a valid policy) blocks.
        if not is_multi_factor(state.completed):
            return _blocked(state)
        return replace(state, stage=Stage.CHANGE_PASSWORD, method_id=None, challenge=None), (OfferPasswordChange(),)
    done = replace(state, stage=Stage.COMPLETE, pending=(), method_id=None, challenge=None)
    return done, (IssueSession(), LogAttempt(SignInError.SUCCESS, _requirement_of(state)))


def _on_second_factor(state: SignInState, event: SecondFactorPassed) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.SATISFY:
        raise InvalidTransition(f"second factor passed in stage {state.stage}")
    passed = replace(
        state, completed=(*state.completed, event.method), pending=tuple(p for p in state.pending if p != MFA)
    )
    return _next_requirement(passed)


def _on_registered(state: SignInState, event: MethodRegistered) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.REGISTER:
        raise InvalidTransition(f"method registered in stage {state.stage}")
    # Registering meant proving possession of the new method, which is the MFA this sign-in needed.
    done = {REGISTER_SECURITY_INFO, MFA}
    registered = replace(
        state, completed=(*state.completed, event.method), pending=tuple(p for p in state.pending if p not in done)
    )
    return _next_requirement(registered)


def _blocked(state: SignInState) -> tuple[SignInState, tuple[Effect, ...]]:
    return replace(state, stage=Stage.BLOCKED, pending=(), method_id=None, challenge=None), (
        LogAttempt(SignInError.BLOCKED_BY_CONDITIONAL_ACCESS, _requirement_of(state)),
        Show(Notice.BLOCKED),
    )


def _requirement_of(state: SignInState) -> str:
    return MULTI_FACTOR if is_multi_factor(state.completed) else SINGLE_FACTOR


def _on_password_change_offered(
    state: SignInState, event: PasswordChangeOffered
) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.CHANGE_PASSWORD:
        raise InvalidTransition(f"password change offered in stage {state.stage}")
    # Without a password there is nothing to change: the policy cannot be met (AADSTS53003).
    return (state, (Show(),)) if event.possible else _blocked(state)


def _on_password_changed(state: SignInState, now: datetime) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.CHANGE_PASSWORD:
        raise InvalidTransition(f"password changed in stage {state.stage}")
    # The policies still failing for want of the change are met now (MFA, which comes first, is done).
    met = tuple(
        {**policy, "result": "success"}
        for policy in state.applied_policies
        if policy.get("result") == "failure" and REQUIRE_PASSWORD_CHANGE in policy.get("enforcedGrantControls", ())
    )
    changed = replace(
        state,
        stage=Stage.DECIDE,
        pending=tuple(p for p in state.pending if p != PASSWORD_CHANGE),
        password_changed_at=now,
        password_change_policies=met,
    )
    # Decide again: the remediated user risk may take policies out of scope, or bring others in.
    return changed, (RunDecision(),)


def credit_password_change(
    state: SignInState, status: str, applied: tuple[dict[str, Any], ...]
) -> tuple[str, tuple[dict[str, Any], ...]]:
    """The log's `conditionalAccessStatus` and `appliedConditionalAccessPolicies`, with the policies the
    password change met shown as `success` (as Entra logs a sign-in that remediated its user risk),
    rather than as the final evaluation sees them: not applying, the risk being remediated."""
    if not state.password_change_policies:
        return status, applied
    met = {policy["id"]: policy for policy in state.password_change_policies}
    credited = tuple(met.get(policy.get("id"), policy) for policy in applied)
    results = {policy.get("result") for policy in credited}
    # Enabled policies only: report-only results are `reportOnly...` (SPEC.md §3.9).
    status = "failure" if "failure" in results else "success" if "success" in results else "notApplied"
    return status, credited


def password_change_details(state: SignInState) -> tuple[AuthenticationDetail, ...]:
    """The log's `authenticationDetails` step for a password change made in this sign-in, if any."""
    if state.password_changed_at is None:
        return ()
    return (
        AuthenticationDetail(
            "Password",
            succeeded=True,
            step_at=state.password_changed_at,
            step_requirement="Password change",
            result_detail="Password changed securely",
        ),
    )


def _on_skipped(state: SignInState) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.REGISTER or not state.skip_allowed:
        raise InvalidTransition("registration cannot be skipped now")
    return _next_requirement(replace(state, pending=tuple(p for p in state.pending if p != REGISTER_SECURITY_INFO)))
