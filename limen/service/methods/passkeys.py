"""Passwordless sign-in with a passkey: the one method use that starts before anyone says who they are.

The browser is offered every discoverable credential it holds for this site; the credential id it
answers with finds the method (and so the user), and the method's own `verify` checks the assertion.
Registration and the second-step challenge need none of this: they go through the generic runner.

Where `pending` lives between the two calls is the caller's choice (the sign-in flow); it must be
server-side or sealed, and used for one answer only: a challenge is single-use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.methods import fido2
from limen.domain.methods.base import Answer, Reason, Rejected, Verified
from limen.service.context import Services
from limen.service.methods import runner
from limen.service.methods.store import is_locked, stored, subject_of
from limen.service.signin import RequestMeta
from limen.store.models import AuthMethod, User

KIND = fido2.SPEC.key
_EXPIRES_AT = "expiresAt"

_UNKNOWN = Rejected(
    Reason.NOT_ALLOWED,
    "That passkey isn't registered here. Sign in with your username, then add the passkey in My security info.",
    counts_as_failure=False,
)
_STALE = Rejected(Reason.EXPIRED, "This passkey request expired. Try again.", counts_as_failure=False)
_MALFORMED = Rejected(
    Reason.MALFORMED, "Your browser sent a passkey response Limen couldn't read. Try again.", counts_as_failure=False
)
_REPLAYED = Rejected(
    Reason.REPLAYED,
    "This passkey response was already used. Try again; if it keeps happening, tell your administrator.",
)


def begin_passwordless(
    services: Services, tenant_id: str, meta: RequestMeta | None = None
) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """Options for navigator.credentials.get() (the page's `view`: "options" JSON and "ceremony") and
    the pending state to keep for `finish_passwordless` (the challenge and when it expires)."""
    prompt = fido2.passwordless_options(runner.environment(services, tenant_id, meta))
    return prompt.view, {**prompt.pending, _EXPIRES_AT: prompt.expires_at.isoformat()}


def _expired(pending: Mapping[str, Any], now: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(pending[_EXPIRES_AT])) <= now
    except (KeyError, ValueError):
        return True


def find_method(db: Session, tenant_id: str, credential_id: str) -> AuthMethod | None:
    """The passkey registered in this tenant under `credential_id` (base64url)."""
    return db.scalars(
        sa.select(AuthMethod).where(
            AuthMethod.tenant_id == tenant_id, AuthMethod.kind == KIND, AuthMethod.lookup_key == credential_id
        )
    ).first()


def finish_passwordless(
    db: Session,
    services: Services,
    tenant_id: str,
    pending: Mapping[str, Any],
    answer: Answer,
    meta: RequestMeta | None = None,
) -> tuple[User, AuthMethod, Verified] | Rejected:
    """Verify the posted assertion (`answer["credential"]`) and return whose passkey it was.

    On success the method's sign count has grown (conditionally, so two nodes cannot both accept one
    assertion), its failures are reset and its last use recorded, all in `db`'s transaction. The caller
    still decides whether the account may sign in (enabled, policies) and logs the outcome. A wrong
    signature counts towards the method's lockout as in the runner.
    """
    env = runner.environment(services, tenant_id, meta)
    if _expired(pending, env.now):
        return _STALE
    credential = fido2.credential_id(answer)
    if credential is None:
        return _MALFORMED
    row = find_method(db, tenant_id, credential)
    user = db.get(User, row.user_id) if row is not None else None
    if row is None or user is None or user.tenant_id != tenant_id:
        return _UNKNOWN
    # The runner's lockout message and grow-only counter update, so both sign-ins behave alike.
    if is_locked(row, env.now):
        return runner.locked_message(row)
    result = fido2.METHOD.verify(subject_of(user), stored(services, row), pending, answer, env)
    if isinstance(result, Verified) and not runner.advance_counter(db, row, result):
        result = _REPLAYED
    if isinstance(result, Rejected):
        if result.counts_as_failure:
            row.failed_attempts += 1
            if row.failed_attempts >= runner.LOCK_AFTER:
                row.locked_until = env.now + timedelta(minutes=runner.LOCK_MINUTES)
                row.failed_attempts = 0
        return result
    row.failed_attempts = 0
    row.last_used_at = env.now
    if result.data is not None:
        row.data = dict(result.data)
    return user, row, result
