"""The secure password change of a sign-in: Conditional Access grant `passwordChange` (SPEC.md §4.4).

A user-risk policy ("Require password change for high-risk users") asks for MFA, then a new password.
The person reaches this step after every other requirement, MFA included, so the current password is
not asked again. A good new password is stored (argon2id), the user's risk is remediated
(`userPerformedSecuredPasswordChange`), the user's other sessions and refresh tokens are revoked,
and the sign-in decides again and completes, all in one transaction. A refused or abandoned change changes nothing: the old password still works and the
risk stays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import sqlalchemy as sa

from limen.domain import signin as machine
from limen.domain.errors import ValidationFailed
from limen.service import sessions, user_risk
from limen.service.context import Services
from limen.service.directory_users import check_password
from limen.service.signin import Completed, FlowView, RequestMeta, _resolve
from limen.service.signin_mfa import _again, _in_stage
from limen.service.signin_password import conclude
from limen.service.signin_steps import Step, drive
from limen.store.models import User

log = logging.getLogger("limen.signin")

#: Graph `riskDetail` of detections a secure password change remediated (SPEC.md §4.5).
REMEDIATION_DETAIL = "userPerformedSecuredPasswordChange"

MISMATCH = "The two passwords don't match. Type the same new password in both boxes."
SAME_AS_CURRENT = "Your new password must be different from your current password."
CHANGED_MEANWHILE = "Your password was changed while this page was open. Type your new password again."

__all__ = ["change_password"]


def _problem(new: str, confirm: str) -> str | None:
    """What is wrong with the form, checked before any hashing; None when it may be hashed."""
    try:
        check_password(new)
    except ValidationFailed as failed:
        return str(failed)
    if new != confirm:
        return MISMATCH
    return None


def change_password(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, form: Mapping[str, str], meta: RequestMeta
) -> FlowView | Completed | None:
    """Set the new password from the form, remediate the user's risk and continue the sign-in.

    Returns the next page (this one again, with a message, when the password is refused), the
    completed sign-in, or None when the flow is not at this step (expired, another tab, replayed).
    Runs argon2 outside any transaction: call it off the event loop.
    """
    new, confirm = form.get("new_password", ""), form.get("confirm_password", "")
    with services.engine.connect() as db:
        resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
        if resolved is None or resolved.state.stage is not machine.Stage.CHANGE_PASSWORD:
            return None
        current = db.execute(
            sa.select(User.password_hash).where(User.tenant_id == tenant_id, User.id == resolved.state.user_id)
        ).scalar()
    # argon2, twice at most, without a connection or a lock held (as the password step does).
    problem = _problem(new, confirm)
    new_hash: str | None = None
    if problem is None and current is not None:
        if services.hasher.verify(current, new).ok:
            problem = SAME_AS_CURRENT
        else:
            new_hash = services.hasher.hash(new)

    def act(step: Step, state: machine.SignInState, user: User) -> FlowView | Completed:
        if user.password_hash is None:
            # Nothing to change (the stage is not offered without a password; the user's one went since).
            state = drive(step, state, machine.PasswordChangeOffered(possible=False))
            return conclude(step, browser_token, state)
        if problem is not None:
            log.info("password change refused for user %s: %s", user.id, _reason(problem))
            return _again(step, browser_token, state, problem)
        if new_hash is None:
            # The account had no password when the page was checked, and has one now: check again.
            return _again(step, browser_token, state, CHANGED_MEANWHILE)
        # Conditional on the hash checked above: if another tab or an admin changed it since (a concurrent
        # request waits for that row), nothing is overwritten and the person checks again.
        changed = step.db.execute(
            sa.update(User)
            .where(User.id == user.id, User.password_hash == current)
            .values(password_hash=new_hash, password_changed_at=step.now)
        )
        if changed.rowcount != 1:
            return _again(step, browser_token, state, CHANGED_MEANWHILE)
        remediated = user_risk.remediate(step.orm, tenant_id, user.id, step.now, REMEDIATION_DETAIL)
        # Whoever else holds a session or a refresh token of this (risky) user is signed out; the session
        # this sign-in is about to create is not among them.
        ended = sessions.revoke_user(step.db, user.id, step.now)
        log.info(
            "secure password change by user %s during sign-in %s from %s; %d risk detection(s) remediated (%s), "
            "%d other session(s) ended",
            user.id,
            meta.correlation_id,
            meta.ip_address,
            remediated,
            REMEDIATION_DETAIL,
            ended,
        )
        state = drive(step, state, machine.PasswordChanged())
        return conclude(step, browser_token, state)

    return _in_stage(services, tenant_id, flow_id, browser_token, meta, machine.Stage.CHANGE_PASSWORD, act)


def _reason(problem: str) -> str:
    """A short reason for the log: never the password, nor anything derived from it."""
    if problem == MISMATCH:
        return "confirmation differs"
    if problem == SAME_AS_CURRENT:
        return "same as the current password"
    return "length"
