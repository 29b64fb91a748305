"""The authenticator device API's use cases: enrol a device, list its requests, record its answers.

The device never decides a sign-in: it only stores a signed answer on the challenge row, and the
sign-in page (runner.answer_challenge -> domain/methods/push.verify) judges it. The signature is
checked here too, so a forged or garbled answer is refused at once and changes nothing. The
number shown on the sign-in page never leaves the server through this API.

Requests are found by the id the device sees (`requestId` in the pending state), through the
challenge row's `lookup_key` (its digest), and must belong to the calling device's method row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import constant_time_equals
from limen.domain.ids import new_id
from limen.domain.methods import push as method
from limen.domain.methods.base import Reason, Rejected
from limen.service.context import Services
from limen.service.methods import runner
from limen.service.signin import RequestMeta
from limen.store.db import transaction
from limen.store.models import AuthMethod, MethodChallenge, RiskDetection, User

log = logging.getLogger("limen.authenticator")

#: Challenge purposes a device answers (a registration row is completed by /enrol instead).
_ANSWERABLE = ("signin", "verify")
#: More pending requests than this for one device is abuse or a bug; the device sees the newest.
MAX_LISTED = 20


class Problem(StrEnum):
    """Why the device API refused something; the router maps each to an HTTP status."""

    INVALID_CODE = "invalidEnrolmentCode"
    INVALID_FIELD = "invalidField"
    NOT_FOUND = "requestNotFound"
    BAD_SIGNATURE = "badSignature"
    ALREADY_ANSWERED = "alreadyAnswered"
    EXPIRED = "requestExpired"


@dataclass(frozen=True)
class Refused:
    problem: Problem
    message: str


@dataclass(frozen=True)
class Device:
    """An authenticated device: its method row and the user it belongs to."""

    method_id: str
    device_id: str
    user_id: str
    public_key: Mapping[str, Any]


@dataclass(frozen=True)
class Enrolled:
    device_id: str
    device_token: str
    user_id: str
    user_principal_name: str
    tenant_name: str


@dataclass(frozen=True)
class PendingRequest:
    """What a device may know about a request: never the number."""

    id: str
    app_display_name: str
    ip_address: str
    location: str
    requested_at: datetime
    expires_at: datetime
    user_principal_name: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "appDisplayName": self.app_display_name,
            "ipAddress": self.ip_address,
            "location": self.location,
            "requestedDateTime": _iso(self.requested_at),
            "expiresDateTime": _iso(self.expires_at),
            "userPrincipalName": self.user_principal_name,
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _digest(services: Services, tenant_id: str, value: str) -> str:
    # The same keyed digest the method operations use (Environment.digest), so lookups match.
    return runner.environment(services, tenant_id, None).digest(value)


def _pending_of(services: Services, row: MethodChallenge) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(services.vault.decrypt(row.pending))
    return value


_BAD_CODE = (
    "This setup code is not valid, has expired or was already used. "
    "Start adding the authenticator app again on the Security info page to get a new code."
)


def enrol(
    services: Services,
    tenant_id: str,
    code: str,
    public_key: Mapping[str, Any],
    device_name: str,
    platform: str,
    meta: RequestMeta,
) -> Enrolled | Refused:
    """Complete the pending registration whose enrolment code is `code` with this device's key."""
    answer = {
        "code": code,
        "publicKey": json.dumps(dict(public_key), separators=(",", ":")),
        "deviceName": device_name,
        "platform": platform,
    }
    lookup = _digest(services, tenant_id, code)
    with transaction(services.db) as db:
        result = runner.finish_registration_by_lookup(db, services, tenant_id, method.KEY, lookup, answer, meta)
        if result is None or isinstance(result, Rejected):
            refused = _enrol_refusal(result)
            log.info("authenticator enrolment refused from %s: %s", meta.ip_address, refused.problem)
            return refused
        user = db.get(User, result.method.user_id)
        assert user is not None
        log.info("authenticator device %s enrolled for user %s", result.reveal["deviceId"], user.id)
        return Enrolled(
            device_id=result.reveal["deviceId"],
            device_token=result.reveal["deviceToken"],
            user_id=user.id,
            user_principal_name=user.user_principal_name,
            tenant_name=runner.environment(services, tenant_id, None).tenant_name,
        )


def _enrol_refusal(result: Rejected | None) -> Refused:
    if result is not None and result.reason is Reason.MALFORMED:
        return Refused(Problem.INVALID_FIELD, result.message)
    return Refused(Problem.INVALID_CODE, _BAD_CODE)


def authenticate(services: Services, tenant_id: str, token: str) -> Device | None:
    """The device whose bearer token is `token`, or None (unknown, removed, or its user disabled)."""
    device_id = method.device_id_of_token(token)
    if device_id is None:
        return None
    with services.db() as db:
        row = db.scalars(
            sa.select(AuthMethod).where(
                AuthMethod.tenant_id == tenant_id, AuthMethod.kind == method.KEY, AuthMethod.lookup_key == device_id
            )
        ).first()
        expected = str(row.data.get(method.TOKEN_DIGEST_FIELD, "")) if row is not None else ""
        presented = _digest(services, tenant_id, token)
        if row is None or not expected or not constant_time_equals(expected, presented):
            return None
        user = db.get(User, row.user_id)
        if user is None or not user.account_enabled:
            return None
        return Device(row.id, device_id, row.user_id, dict(row.data.get("publicKey", {})))


def pending_requests(services: Services, tenant_id: str, device: Device) -> list[PendingRequest]:
    """The device's requests that still wait for an answer, oldest first."""
    now = services.clock.now()
    with services.db() as db:
        rows = db.scalars(
            sa.select(MethodChallenge)
            .where(
                MethodChallenge.tenant_id == tenant_id,
                MethodChallenge.method_id == device.method_id,
                MethodChallenge.kind == method.KEY,
                MethodChallenge.purpose.in_(_ANSWERABLE),
                MethodChallenge.status == runner.PENDING,
                MethodChallenge.expires_at > now,
            )
            .order_by(MethodChallenge.created_at.desc(), MethodChallenge.id)
            .limit(MAX_LISTED)
        ).all()
        listed = []
        for row in reversed(rows):
            # Only the request id is read from the pending state; the number stays on the server.
            request_id = str(_pending_of(services, row).get("requestId", ""))
            context = row.context or {}
            listed.append(
                PendingRequest(
                    id=request_id,
                    app_display_name=str(context.get("appDisplayName", "")),
                    ip_address=str(context.get("ipAddress", "")),
                    location=str(context.get("location", "")),
                    requested_at=row.created_at,
                    expires_at=row.expires_at,
                    user_principal_name=str(context.get("userPrincipalName", "")),
                )
            )
        return listed


@dataclass(frozen=True)
class Answered:
    request_id: str
    decision: str


def answer_request(
    services: Services,
    tenant_id: str,
    device: Device,
    request_id: str,
    decision: str,
    number: str,
    signature: str,
    meta: RequestMeta,
) -> Answered | Refused:
    """Record the device's signed answer to one of its own requests (status "answered").

    Nothing changes unless the request is this device's, still pending, not expired, and the
    signature verifies over `push.signed_message`. "report" also records a user-reported risk
    detection at once, whether or not the sign-in page ever asks again.
    """
    now = services.clock.now()
    with transaction(services.db) as db:
        row = _request(db, services, tenant_id, device, request_id)
        if row is None:
            log.info("authenticator device %s answered unknown request from %s", device.device_id, meta.ip_address)
            return Refused(Problem.NOT_FOUND, "There is no such request for this device.")
        if row.status != runner.PENDING:
            return Refused(Problem.ALREADY_ANSWERED, "This request was already answered; nothing was changed.")
        if row.expires_at <= now:
            return Refused(
                Problem.EXPIRED, "This request expired; nothing was changed. Start the sign-in again for a new one."
            )
        pending = _pending_of(services, row)
        try:
            message = method.signed_message(str(pending["requestId"]), decision, number, row.user_id)
        except ValueError:
            message = b""
        if not message or not method.check_signature(device.public_key, message, signature):
            log.warning("authenticator device %s sent a bad signature from %s", device.device_id, meta.ip_address)
            return Refused(
                Problem.BAD_SIGNATURE,
                "The signature does not verify with this device's key over the request id, decision, number "
                "and user id (see docs/authenticator.md); nothing was changed.",
            )
        # Conditional on the status, so two answers racing on two nodes cannot both be recorded.
        updated = db.execute(
            sa.update(MethodChallenge)
            .where(MethodChallenge.id == row.id, MethodChallenge.status == runner.PENDING)
            .values(status=runner.ANSWERED, answer={"decision": decision, "number": number, "signature": signature})
            .execution_options(synchronize_session=False)
        )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            return Refused(Problem.ALREADY_ANSWERED, "This request was already answered; nothing was changed.")
        if decision == "report":
            _record_report(db, tenant_id, row, device, now)
        log.info("authenticator device %s answered request %s: %s", device.device_id, row.id, decision)
        return Answered(request_id, decision)


def _request(
    db: Session, services: Services, tenant_id: str, device: Device, request_id: str
) -> MethodChallenge | None:
    if not request_id or len(request_id) > 64:
        return None
    row = db.scalars(
        sa.select(MethodChallenge).where(
            MethodChallenge.tenant_id == tenant_id,
            MethodChallenge.kind == method.KEY,
            MethodChallenge.lookup_key == _digest(services, tenant_id, request_id),
        )
    ).first()
    # Another device's (or another user's) request looks exactly like one that does not exist.
    if row is None or row.method_id != device.method_id or row.purpose not in _ANSWERABLE:
        return None
    return row


def _record_report(db: Session, tenant_id: str, row: MethodChallenge, device: Device, now: datetime) -> None:
    """Graph riskDetection "userReportedSuspiciousActivity": the user said this sign-in is not theirs."""
    context = row.context or {}
    db.add(
        RiskDetection(
            id=new_id(),
            tenant_id=tenant_id,
            user_id=row.user_id,
            risk_event_type="userReportedSuspiciousActivity",
            risk_level="high",
            risk_state="atRisk",
            detection_timing_type="realtime",
            activity="signin",
            ip_address=row.ip_address or None,
            additional_info={
                "challengeId": row.id,
                "deviceId": device.device_id,
                "appDisplayName": str(context.get("appDisplayName", "")),
                "location": str(context.get("location", "")),
            },
            detected_at=now,
        )
    )
