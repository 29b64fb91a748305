"""The OAuth 2.0 device authorization grant (RFC 8628): codes, the person's decision, the device's polling.

A device that cannot show a browser (a TV, a command-line tool) asks /oauth2/devicecode for a device
code (kept by the device) and a user code (shown to the person). The person opens /device on a phone
or computer, enters the user code, signs in and approves; meanwhile the device polls the token
endpoint with its device code, and gets tokens once, after approval.

Codes are stored as digests (limen.store.models.device_codes), belong to one tenant and one client,
expire after 15 minutes and are redeemed once. Sign-ins through this grant are classified
`mobileAppsAndDesktopClients`, as Entra logs the device code flow.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from limen.crypto.tokens import keyed_digest, new_secret, secret_hash
from limen.domain.access.decision import ClientAppType
from limen.domain.ids import new_id, parse_guid
from limen.domain.session import CompletedMethod
from limen.protocols.oidc.errors import OAuthError
from limen.protocols.oidc.tokens import Grant
from limen.service.context import Services
from limen.store.models import Application, DeviceCode, DeviceCodeAttempt, User

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_APP_TYPE = ClientAppType.MOBILE_APPS_AND_DESKTOP_CLIENTS
#: RFC 8628 §6.1: consonants only, so no code spells a word, and none of the easily confused 0/O, 1/I.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8  # 20^8 ≈ 2.6e10 codes (~34.5 bits), shown as XXXX-XXXX
LIFETIME = timedelta(minutes=15)
INTERVAL_SECONDS = 5
#: RFC 8628 §3.5: on `slow_down` the device adds 5 s to its interval, and so does Limen's bookkeeping.
SLOW_DOWN_SECONDS = 5
MAX_INTERVAL_SECONDS = 60
#: Expired authorizations stay a day, so a late poll hears `expired_token` rather than `invalid_grant`.
KEEP_AFTER_EXPIRY = timedelta(days=1)
#: Wrong user codes allowed per client address per window (RFC 8628 §5.1: guessing must be rate-limited).
#: With N codes pending, each guess succeeds with probability N / 20^8.
WRONG_CODES_PER_SOURCE = 20
WRONG_CODE_WINDOW = timedelta(minutes=15)

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"


@dataclass(frozen=True)
class IssuedCodes:
    id: str
    device_code: str
    user_code: str  # formatted, XXXX-XXXX
    expires_in: int
    interval: int


class UserCodeProblem(Enum):
    WRONG = "wrong"
    EXPIRED = "expired"
    USED = "used"
    TOO_MANY = "too_many"


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalise_user_code(text: str) -> str | None:
    """The code as stored: upper case, without the dash or spaces people type. None if it cannot be one."""
    code = "".join(ch for ch in text.upper() if ch not in "- \t")
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


def _user_code_digest(services: Services, tenant_id: str, code: str) -> str:
    # Keyed: 35 bits would fall to a dictionary from a stolen table; the tenant in the key binds the code.
    return keyed_digest(str(services.settings.secret_key), "device-user-code", tenant_id, code)


def _source(services: Services, ip_address: str) -> str:
    return keyed_digest(str(services.settings.secret_key), "device-source", ip_address)


def issue(db: Session, services: Services, tenant_id: str, app: Application, scope: str) -> IssuedCodes:
    """A new device authorization for `app`; the caller has authenticated the client and checked `scope`."""
    now = services.clock.now()
    # Sweep as we go: the tables stay small without a scheduler.
    db.execute(sa.delete(DeviceCode).where(DeviceCode.expires_at <= now - KEEP_AFTER_EXPIRY))
    db.execute(sa.delete(DeviceCodeAttempt).where(DeviceCodeAttempt.created_at <= now - WRONG_CODE_WINDOW))
    while True:
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        digest = _user_code_digest(services, tenant_id, user_code)
        # Two live authorizations must never share a user code: the person would approve the wrong one.
        clash = db.scalar(
            sa.select(sa.func.count())
            .select_from(DeviceCode)
            .where(DeviceCode.user_code_hash == digest, DeviceCode.expires_at > now)
        )
        if not clash:
            break
    device_code = new_secret(32)
    row = DeviceCode(
        id=new_id(),
        tenant_id=tenant_id,
        device_code_hash=secret_hash(device_code),
        user_code_hash=digest,
        client_id=app.app_id,
        scope=scope,
        status=PENDING,
        interval_seconds=INTERVAL_SECONDS,
        last_polled_at=None,
        created_at=now,
        expires_at=now + LIFETIME,
        user_id=None,
        session_id=None,
        methods=None,
        decided_at=None,
        used_at=None,
    )
    db.add(row)
    return IssuedCodes(
        id=row.id,
        device_code=device_code,
        user_code=format_user_code(user_code),
        expires_in=int(LIFETIME.total_seconds()),
        interval=INTERVAL_SECONDS,
    )


def find_by_user_code(
    db: Session, services: Services, tenant_id: str, text: str, ip_address: str
) -> DeviceCode | UserCodeProblem:
    """The pending authorization whose user code the person typed, or why there is none.

    A wrong code counts against the client address; past the limit no code is even looked up.
    """
    now = services.clock.now()
    source = _source(services, ip_address)
    wrong = db.scalar(
        sa.select(sa.func.count())
        .select_from(DeviceCodeAttempt)
        .where(
            DeviceCodeAttempt.tenant_id == tenant_id,
            DeviceCodeAttempt.source == source,
            DeviceCodeAttempt.created_at > now - WRONG_CODE_WINDOW,
        )
    )
    if (wrong or 0) >= WRONG_CODES_PER_SOURCE:
        return UserCodeProblem.TOO_MANY
    code = normalise_user_code(text)
    row = None
    if code is not None:
        row = db.scalar(
            sa.select(DeviceCode)
            .where(
                DeviceCode.tenant_id == tenant_id,
                DeviceCode.user_code_hash == _user_code_digest(services, tenant_id, code),
            )
            .order_by(DeviceCode.created_at.desc())
            .limit(1)
        )
    if row is None:
        db.add(DeviceCodeAttempt(id=new_id(), tenant_id=tenant_id, source=source, created_at=now))
        return UserCodeProblem.WRONG
    if row.expires_at <= now:
        return UserCodeProblem.EXPIRED
    if row.status != PENDING:
        return UserCodeProblem.USED
    return row


def pending(db: Session, services: Services, tenant_id: str, authorization_id: str) -> DeviceCode | None:
    """A still-pending, unexpired authorization of this tenant by id (the confirmation page's reference)."""
    parsed = parse_guid(authorization_id)
    row = db.get(DeviceCode, parsed) if parsed else None
    if row is None or row.tenant_id != tenant_id or row.status != PENDING:
        return None
    return row if row.expires_at > services.clock.now() else None


def decide(
    db: Session,
    services: Services,
    row: DeviceCode,
    *,
    approve: bool,
    user_id: str,
    session_id: str,
    methods: tuple[CompletedMethod, ...],
) -> bool:
    """Record the person's answer; False if the authorization was decided meanwhile or has expired."""
    now = services.clock.now()
    changed = cast(
        "CursorResult[Any]",
        db.execute(
            sa.update(DeviceCode)
            .where(DeviceCode.id == row.id, DeviceCode.status == PENDING, DeviceCode.expires_at > now)
            .values(
                status=APPROVED if approve else DENIED,
                user_id=user_id,
                session_id=session_id,
                methods=[m.to_json() for m in methods] if approve else None,
                decided_at=now,
            )
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    return changed == 1


def poll(db: Session, services: Services, tenant_id: str, app: Application, form: dict[str, str]) -> Grant | OAuthError:
    """The token endpoint's device_code grant (RFC 8628 §3.4, §3.5).

    Returns the error rather than raising it: the poll's bookkeeping (time of the last poll, a longer
    interval after `slow_down`) must be committed with the refusal.
    """
    now = services.clock.now()
    device_code = form.get("device_code") or ""
    if not device_code:
        return OAuthError("invalid_request", "The 'device_code' parameter is missing.")
    row = db.scalar(sa.select(DeviceCode).where(DeviceCode.device_code_hash == secret_hash(device_code)))
    if row is None or row.tenant_id != tenant_id or row.client_id != app.app_id:
        return OAuthError("invalid_grant", "The device code is invalid or was issued to another client.")
    if row.used_at is not None:
        return OAuthError("invalid_grant", "The device code has already been used.")
    if row.expires_at <= now:
        return OAuthError("expired_token", "The device code has expired: start a new device authorization.")
    if row.status == DENIED:
        return OAuthError("access_denied", "The user declined the sign-in on this device.")
    if row.status == PENDING:
        too_soon = row.last_polled_at is not None and now < row.last_polled_at + timedelta(seconds=row.interval_seconds)
        row.last_polled_at = now
        if too_soon:
            row.interval_seconds = min(row.interval_seconds + SLOW_DOWN_SECONDS, MAX_INTERVAL_SECONDS)
            return OAuthError(
                "slow_down", f"Polling too fast: wait at least {row.interval_seconds} seconds between requests."
            )
        return OAuthError("authorization_pending", "The user has not yet approved the sign-in on this device.")
    # Approved: of two concurrent polls exactly one gets the tokens.
    won = cast(
        "CursorResult[Any]",
        db.execute(
            sa.update(DeviceCode)
            .where(DeviceCode.id == row.id, DeviceCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if won != 1:
        return OAuthError("invalid_grant", "The device code has already been used.")
    user = db.get(User, row.user_id) if row.user_id else None
    if user is None or not user.account_enabled:
        return OAuthError("invalid_grant", "The user can no longer sign in.")
    return Grant(
        user=user,
        scope=row.scope,
        methods=tuple(CompletedMethod.from_json(m) for m in row.methods or ()),
        nonce=None,
        # The device is not the browser that approved it: signing out there does not sign the device out,
        # so its tokens carry no browser session (no `sid`) and their refresh tokens outlive it.
        session_id=None,
        family_id=row.id,
        client_app_type=CLIENT_APP_TYPE.value,
    )
