"""Authenticator push with number matching (SPEC.md §7.1, §10 "Number matching").

Registration: the page shows an enrolment URI (server + a one-time code, 10 minutes); the device
(`limen-authenticator`, or any app speaking docs/authenticator.md) makes a P-256 key pair and sends
the public key with the code. The device then holds a bearer token (`<deviceId>.<random>`, stored
only as `Environment.digest`) to fetch its requests, and signs every answer with its key.

Sign-in: the page shows a two-digit number (10–99) that the device never receives; the person types
it into the device, which signs `signed_message(...)` (request id, decision, number, user id). The
request expires after 60 s. A request's answer arrives out of band (the device API stores it on the
challenge row) and `verify` judges it here, so the device API and the sign-in page agree by
construction: both call `check_signature` over the same message.

No repeat: `begin_challenge` never draws the number kept in the method's public data as
`lastNumber`. Opening a request records its number there (`Prompt.data`, which the runner writes
to the method row), so a denied, wrong or unanswered request's number is not shown next either.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from limen.domain.ids import new_id, parse_guid
from limen.domain.methods.base import (
    Answer,
    Environment,
    Factor,
    MethodSpec,
    Prompt,
    Reason,
    Registered,
    Rejected,
    StoredMethod,
    Strength,
    Subject,
    Verified,
    Waiting,
)

KEY = "microsoftAuthenticator"
ENROLMENT_MINUTES = 10
REQUEST_SECONDS = 60
LOWEST_NUMBER = 10
HIGHEST_NUMBER = 99
DECISIONS = ("approve", "deny", "report")
URI_SCHEME = "limen-authenticator"
#: Domain separation: a signature made for this purpose can never be mistaken for another message.
MESSAGE_PREFIX = "limen-authenticator/v1/answer"
#: Stored with the method so the device API can check a device's bearer token (its digest; never the token).
TOKEN_DIGEST_FIELD = "deviceTokenDigest"  # noqa: S105 - a field name, not a secret
LAST_NUMBER_FIELD = "lastNumber"

_COORDINATE_BYTES = 32  # P-256
_SIGNATURE_BYTES = 64  # r || s, 32 bytes each, as JWS ES256 encodes them
_MAX_JWK_CHARS = 1024
_MAX_DEVICE_NAME = 64
_PLATFORM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")

SPEC = MethodSpec(
    key=KEY,
    graph_type="#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
    display_name="Authenticator app notification",
    log_name="Mobile app notification",
    factor=Factor.POSSESSION,
    phishing_resistant=False,
    # RFC 8176 "swk": proof of possession of a software-secured key, which is exactly what an approval
    # is (an ECDSA signature by a key the app keeps in software). Not "hwk": Limen cannot attest that
    # the key is hardware-bound. Not "user": typing the number proves someone saw the sign-in page,
    # not who is holding the phone. The session adds "mfa" after a password.
    amr=("swk",),
    # Push is MFA, not phishing-resistant (a person can be talked into typing a number) and, after a
    # password, not passwordless.
    strengths=frozenset({Strength.MFA}),
    mode="microsoftAuthenticatorPush",
)


# The signed message --------------------------------------------------------------------------------


def signed_message(request_id: str, decision: str, number: str, user_id: str) -> bytes:
    """The exact bytes a device signs to answer request `request_id`; the one definition both the
    server and `limen-authenticator` use (docs/authenticator.md).

    Lines joined by "\\n": a fixed prefix, then each field. Every field is checked first to contain
    no line break, so no two different answers can produce the same bytes.
    """
    fields = (request_id, decision, number, user_id)
    if any("\n" in f or "\r" in f for f in fields):
        raise ValueError("fields of a signed answer contain no line breaks")
    return "\n".join((MESSAGE_PREFIX, *fields)).encode("utf-8")


def b64url_decode(text: str) -> bytes | None:
    """Strict unpadded base64url (RFC 7515 §2): None for padding, other alphabets or non-canonical text."""
    if not text or not text.isascii() or "=" in text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Re-encoding must give the same text: rejects stray characters and non-zero trailing bits.
    return raw if b64url_encode(raw) == text else None


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey | None:
    """The P-256 public key a JWK describes, or None unless it is exactly an EC P-256 public key whose
    point lies on the curve. A JWK carrying a private part ("d") is refused: it must never be sent."""
    if not isinstance(jwk, Mapping) or "d" in jwk:
        return None
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    if jwk.get("alg", "ES256") != "ES256" or jwk.get("use", "sig") != "sig":
        return None
    x_text, y_text = jwk.get("x"), jwk.get("y")
    if not isinstance(x_text, str) or not isinstance(y_text, str):
        return None
    x, y = b64url_decode(x_text), b64url_decode(y_text)
    if x is None or y is None or len(x) != _COORDINATE_BYTES or len(y) != _COORDINATE_BYTES:
        return None
    try:
        # The uncompressed SEC1 encoding makes OpenSSL check the coordinates' range and the curve equation.
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError:
        return None


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The minimal JWK of a P-256 public key (what is stored and what the client sends)."""
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": b64url_encode(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
    }


def sign_answer(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    """A device's signature: ECDSA P-256/SHA-256, r || s (64 bytes), base64url without padding."""
    r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA256())))
    return b64url_encode(r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big"))


def check_signature(jwk: Mapping[str, Any], message: bytes, signature: str) -> bool:
    """True only for a well-formed r || s signature of `message` by the key `jwk`."""
    key = public_key_from_jwk(jwk)
    raw = b64url_decode(signature) if isinstance(signature, str) else None
    if key is None or raw is None or len(raw) != _SIGNATURE_BYTES:
        return False
    r = int.from_bytes(raw[:_COORDINATE_BYTES], "big")
    s = int.from_bytes(raw[_COORDINATE_BYTES:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


# Numbers and requests ------------------------------------------------------------------------------


def draw_number(previous: object) -> str:
    """A uniformly random two-digit number, 10–99, never `previous` (SPEC.md §10)."""
    span = HIGHEST_NUMBER - LOWEST_NUMBER + 1
    last = previous_number(previous)
    if last is None:
        return str(LOWEST_NUMBER + secrets.randbelow(span))
    # Draw among the other 89 values and skip over the previous one: uniform, and no retry loop.
    number = LOWEST_NUMBER + secrets.randbelow(span - 1)
    return str(number + 1 if number >= last else number)


def previous_number(value: object) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if LOWEST_NUMBER <= number <= HIGHEST_NUMBER else None


def normalise_number(raw: str) -> str | None:
    """Two digits, 10–99 (people type spaces); None otherwise."""
    text = "".join(raw.split())
    if len(text) != 2 or not text.isascii() or not text.isdigit():
        return None
    return text if previous_number(text) is not None else None


def enrolment_uri(issuer: str, code: str) -> str:
    """What the registration page shows as a QR code: `limen-authenticator://enrol?server=...&code=...`."""
    return f"{URI_SCHEME}://enrol?" + urlencode({"server": issuer.rstrip("/"), "code": code})


def device_token(device_id: str) -> str:
    """A new device bearer token. It starts with the device id so the server finds the device by an
    indexed lookup and then compares the token's digest in constant time."""
    return f"{device_id}.{secrets.token_urlsafe(32)}"


def device_id_of_token(token: str) -> str | None:
    device_id, dot, rest = token.partition(".")
    return parse_guid(device_id) if dot and rest and len(token) <= 256 else None


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _expired(pending: Mapping[str, Any], now: datetime) -> bool:
    try:
        return now >= datetime.fromisoformat(str(pending["expiresAt"]))
    except (KeyError, ValueError):
        return True


def _device_fields(answer: Answer) -> tuple[dict[str, str], str, str] | str:
    """The device's JWK, name and platform, or the message saying what is wrong."""
    raw = answer.get("publicKey", "")
    if not raw or len(raw) > _MAX_JWK_CHARS:
        return "publicKey must be a P-256 public key as a JWK."
    try:
        jwk = json.loads(raw)
    except ValueError:
        return "publicKey must be a P-256 public key as a JWK."
    key = public_key_from_jwk(jwk) if isinstance(jwk, dict) else None
    if key is None:
        return 'publicKey must be an EC public JWK with "crv": "P-256" and a point on the curve (no private "d").'
    name = " ".join(answer.get("deviceName", "").split())
    if not name or len(name) > _MAX_DEVICE_NAME or not name.isprintable():
        return f"deviceName must be 1 to {_MAX_DEVICE_NAME} printable characters."
    platform = answer.get("platform", "").strip().lower()
    if not platform or len(platform) > 32 or not set(platform) <= _PLATFORM_CHARS:
        return "platform must be 1 to 32 letters, digits or hyphens (e.g. android, ios, cli)."
    return public_jwk(key), name, platform


_WAIT_ENROL = "Scan the code with the authenticator app, then continue."
_EXPIRED_ENROL = "This setup code has expired. Start again to get a new one."
_EXPIRED_REQUEST = "The request expired before it was approved. Send a new request and approve it within a minute."


class Push:
    spec = SPEC

    def begin_registration(self, subject: Subject, answer: Answer, env: Environment) -> Prompt:
        code = secrets.token_urlsafe(18)  # 144 bits: unguessable within its 10 minutes
        uri = enrolment_uri(env.issuer, code)
        expires_at = env.now + timedelta(minutes=ENROLMENT_MINUTES)
        view = {"enrolment_uri": uri, "account": subject.user_principal_name, "tenant_name": env.tenant_name}
        return Prompt(
            view=view,
            # The URI (with the code) is kept so that a "not yet" answer can show the same page again;
            # pending state is encrypted at rest, and the code only finds the row through its digest.
            pending={"codeDigest": env.digest(code), "enrolmentUri": uri, "expiresAt": _iso(expires_at)},
            expires_at=expires_at,
            lookup_key=env.digest(code),
        )

    def finish_registration(
        self, subject: Subject, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Registered | Rejected | Waiting:
        if _expired(pending, env.now):
            return Rejected(Reason.EXPIRED, _EXPIRED_ENROL, counts_as_failure=False)
        code = answer.get("code", "")
        if not code:
            # The browser asking whether the device has enrolled yet: it has not (or the service would
            # not have asked).
            view = {"enrolment_uri": pending.get("enrolmentUri", ""), "account": subject.user_principal_name}
            return Waiting(view=view | {"tenant_name": env.tenant_name})
        if not hmac.compare_digest(env.digest(code), str(pending.get("codeDigest", ""))):
            return Rejected(Reason.WRONG_CODE, "This setup code is not valid. Scan the code on the page again.")
        fields = _device_fields(answer)
        if isinstance(fields, str):
            return Rejected(Reason.MALFORMED, fields, counts_as_failure=False)
        jwk, name, platform = fields
        device_id = new_id()
        token = device_token(device_id)
        return Registered(
            display_name=name,
            data={"publicKey": jwk, "deviceName": name, "platform": platform, TOKEN_DIGEST_FIELD: env.digest(token)},
            lookup_key=device_id,
            reveal={"deviceId": device_id, "deviceToken": token},
        )

    def begin_challenge(self, subject: Subject, method: StoredMethod, env: Environment) -> Prompt:
        number = draw_number(method.data.get(LAST_NUMBER_FIELD))
        request_id = new_id()
        expires_at = env.now + timedelta(seconds=REQUEST_SECONDS)
        return Prompt(
            view={"number": number, "device_name": method.display_name, "expires_at": _iso(expires_at)},
            pending={"number": number, "requestId": request_id, "expiresAt": _iso(expires_at)},
            expires_at=expires_at,
            # The device API finds the request by the id it shows the device.
            lookup_key=env.digest(request_id),
            data={**method.data, LAST_NUMBER_FIELD: number},
        )

    def verify(
        self, subject: Subject, method: StoredMethod, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Verified | Rejected | Waiting:
        if _expired(pending, env.now):
            return Rejected(Reason.EXPIRED, _EXPIRED_REQUEST, counts_as_failure=False)
        number = str(pending["number"])
        decision = answer.get("decision", "")
        if not decision:
            return Waiting(
                view={"number": number, "device_name": method.display_name, "expires_at": pending["expiresAt"]}
            )
        if decision not in DECISIONS:
            return Rejected(Reason.MALFORMED, "The authenticator app sent an answer Limen does not understand.")
        typed = answer.get("number", "")
        try:
            message = signed_message(str(pending["requestId"]), decision, typed, subject.user_id)
        except ValueError:
            message = b""  # a line break in the number: no valid signature exists for it
        jwk = method.data.get("publicKey")
        signature = answer.get("signature", "")
        if not message or not isinstance(jwk, Mapping) or not check_signature(jwk, message, signature):
            # Not a person's slip: the answer was not signed by this device's key.
            return Rejected(Reason.MALFORMED, "The answer was not signed by your registered authenticator app.")
        if decision == "report":
            # A report is the person's own judgement, not a guess: it does not lock the method, but the
            # service records user risk.
            return Rejected(
                Reason.DENIED,
                "You reported this sign-in as not yours. It was blocked.",
                counts_as_failure=False,
                reported_fraud=True,
            )
        if decision == "deny":
            return Rejected(Reason.DENIED, "The request was denied in the authenticator app.", counts_as_failure=False)
        if not hmac.compare_digest(normalise_number(typed) or "", number):
            return Rejected(
                Reason.WRONG_NUMBER,
                "The number entered in the authenticator app didn't match. Send a new request and try again.",
            )
        return Verified(data={**method.data, LAST_NUMBER_FIELD: number}, log_detail=method.display_name)


METHOD = Push()
