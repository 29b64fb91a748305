"""The sign-in pipeline as a pure state machine: (state, event, now) -> (state, effects).

identify -> first factor -> decide -> satisfy -> complete (DESIGN.md). The service layer gathers the
facts an event carries (was the password right? what did `decide` say?) and carries out the
effects (render, log, issue a session). Nothing here touches I/O, so every path is unit-testable.
The state is JSON-serialisable and versioned so that a deployment does not break sign-ins in flight
(STYLE.md L5). Diagram: signin.mermaid beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from limen.domain.access.decision import Decision
from limen.domain.session import CompletedMethod
from limen.domain.signin_log import SignInError

STATE_VERSION = 1
MAX_USERNAME_LENGTH = 256


class Stage(StrEnum):
    IDENTIFY = "identify"
    PASSWORD = "password"  # noqa: S105 - a stage name, not a secret
    DECIDE = "decide"
    SATISFY = "satisfy"
    COMPLETE = "complete"
    BLOCKED = "blocked"


class Notice(StrEnum):
    """What the page tells the person; the web layer maps each to wording. Never reveals account existence."""

    ENTER_USERNAME = "enterUsername"
    INVALID_CREDENTIALS = "invalidCredentials"
    ACCOUNT_DISABLED = "accountDisabled"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class SignInState:
    stage: Stage = Stage.IDENTIFY
    username: str = ""
    user_id: str | None = None
    completed: tuple[CompletedMethod, ...] = ()
    pending: tuple[str, ...] = ()
    failures: int = 0
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
        )


# Events -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsernameSubmitted:
    username: str


@dataclass(frozen=True, slots=True)
class FirstFactorChecked:
    """The outcome of checking a first factor. `user_id` is None when no such account exists."""

    error: SignInError
    user_id: str | None = None
    method: CompletedMethod | None = None


@dataclass(frozen=True, slots=True)
class Decided:
    decision: Decision


@dataclass(frozen=True, slots=True)
class Restarted:
    """ "Sign in with another account": back to the start, nothing carried over."""


Event = UsernameSubmitted | FirstFactorChecked | Decided | Restarted


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


Effect = Show | RunDecision | LogAttempt | IssueSession


class InvalidTransition(Exception):
    """An event that makes no sense in the current stage (e.g. a replayed form). The caller restarts."""


def advance(state: SignInState, event: Event, now: datetime) -> tuple[SignInState, tuple[Effect, ...]]:
    """Apply `event` to `state`; return the new state and the effects the service must carry out."""
    del now  # Part of the contract for time-based steps (lockouts, expiry) that later stages add.
    if isinstance(event, Restarted):
        return SignInState(), (Show(),)
    if isinstance(event, UsernameSubmitted):
        return _on_username(state, event)
    if isinstance(event, FirstFactorChecked):
        return _on_first_factor(state, event)
    return _on_decided(state, event)


def _on_username(state: SignInState, event: UsernameSubmitted) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage not in (Stage.IDENTIFY, Stage.PASSWORD):
        raise InvalidTransition(f"username submitted in stage {state.stage}")
    username = event.username.strip()
    if not username or len(username) > MAX_USERNAME_LENGTH:
        return replace(state, stage=Stage.IDENTIFY), (Show(Notice.ENTER_USERNAME),)
    # Whether the account exists is deliberately not looked at here: the password page is the same.
    return SignInState(stage=Stage.PASSWORD, username=username), (Show(),)


def _on_first_factor(state: SignInState, event: FirstFactorChecked) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.PASSWORD:
        raise InvalidTransition(f"first factor checked in stage {state.stage}")
    if event.error is SignInError.SUCCESS:
        if event.user_id is None or event.method is None:
            raise InvalidTransition("a successful first factor must name the user and the method")
        next_state = replace(state, stage=Stage.DECIDE, user_id=event.user_id, completed=(event.method,))
        return next_state, (RunDecision(),)
    failed = replace(state, failures=state.failures + 1, user_id=event.user_id)
    notice = Notice.ACCOUNT_DISABLED if event.error is SignInError.USER_DISABLED else Notice.INVALID_CREDENTIALS
    return failed, (LogAttempt(event.error), Show(notice))


def _on_decided(state: SignInState, event: Decided) -> tuple[SignInState, tuple[Effect, ...]]:
    if state.stage is not Stage.DECIDE:
        raise InvalidTransition(f"decision delivered in stage {state.stage}")
    decision = event.decision
    if decision.is_blocked:
        return replace(state, stage=Stage.BLOCKED), (
            LogAttempt(SignInError.BLOCKED_BY_CONDITIONAL_ACCESS),
            Show(Notice.BLOCKED),
        )
    pending = tuple(sorted(requirement for requirement in decision.requirements if requirement != "password"))
    if pending:
        return replace(state, stage=Stage.SATISFY, pending=pending), (Show(),)
    return replace(state, stage=Stage.COMPLETE), (IssueSession(), LogAttempt(SignInError.SUCCESS))
