"""Passkeys and FIDO2 security keys: WebAuthn with py_webauthn (SPEC.md §3.11, §7.4).

The relying party is the issuer: its host is the rp id and its origin the only origin accepted, so a
passkey made for Limen answers nowhere else (what makes it phishing-resistant). Credentials are
discoverable (resident) and user verification is required on every ceremony, which is why a passkey
counts as multi-factor alone (something you have, verified with a PIN or biometric) and can start a
sign-in without a password. Attestation is not requested ("none"): Limen does not restrict
authenticator models yet.

The same `verify` serves both sign-ins: as the second step after a password (`begin_challenge`
allows only that method's credential) and passwordless (`passwordless_options` allows any
discoverable credential; the service finds the method by `credential_id(answer)`, then verifies).
The service keeps the sign count as the method's counter and lets it only grow.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_attestation_object,
    parse_authenticator_data,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptions,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from limen.domain.methods.base import (
    ALL_STRENGTHS,
    Answer,
    Environment,
    Factor,
    MethodSpec,
    Prompt,
    Reason,
    Registered,
    Rejected,
    StoredMethod,
    Subject,
    Verified,
)

#: The browser's own timeout for the ceremony (a hint), and how long the challenge stays valid.
CEREMONY_MINUTES = 5
#: Longest posted credential accepted; real responses are a few kilobytes at most.
MAX_RESPONSE_CHARS = 64 * 1024
#: `auth_methods.lookup_key` holds 255 characters: a credential id of up to 191 bytes, base64url.
#: Discoverable credentials are far shorter (16–64 bytes on the authenticators we know).
MAX_CREDENTIAL_ID_CHARS = 255
DEFAULT_NAME = "Passkey"

SPEC = MethodSpec(
    key="fido2",
    graph_type="#microsoft.graph.fido2AuthenticationMethod",
    display_name="Passkey",
    # Entra's current sign-in log wording (it used to say "FIDO2 security key"). Synced passkeys are
    # accepted too and logged the same way; `data["deviceType"]` tells them apart.
    log_name="Passkey (device-bound)",
    factor=Factor.POSSESSION,
    phishing_resistant=True,
    # RFC 8176: "hwk" is proof of possession of a key held by an authenticator, "user" that the
    # authenticator tested the user. User verification is required, but WebAuthn does not say whether
    # it was a PIN or a biometric, so neither "pin" nor "fpt" can be claimed. The session adds "mfa"
    # because the method is multi-factor alone.
    amr=("hwk", "user"),
    strengths=ALL_STRENGTHS,
    mode="fido2",
    first_factor=True,
    multi_factor_alone=True,
)

_MALFORMED = "Your browser sent a passkey response Limen couldn't read. Try again."
_STALE = "This passkey request is no longer valid. Try again."
_WRONG_SITE = "This passkey response was made for a different website. Open this page at {origin} and try again."
_NO_UV = (
    "Your passkey didn't verify that it's you. Use a passkey that asks for your PIN, fingerprint or face, "
    "and complete that step."
)
_NO_UP = "Your passkey didn't confirm you were there. Touch or unlock it when asked, then try again."
_NOT_THIS = "That passkey isn't the one registered here. Choose the passkey you set up for this account."
_INVALID = "Your passkey's response couldn't be verified. Try again, or use another way to sign in."
_REPLAYED = (
    "Your passkey's use count didn't go up as it should, which can mean it was copied. "
    "Use another way to sign in and tell your administrator."
)


def origin_of(issuer: str) -> str:
    """The WebAuthn origin of the issuer URL: scheme, host and port, without a default port or a path."""
    parts = urlsplit(issuer)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets in an origin
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def rp_id_of(issuer: str) -> str:
    """The relying party id: the issuer's host name."""
    return (urlsplit(issuer).hostname or "").lower()


def _b64(value: object) -> bytes | None:
    """base64url text to bytes, or None for anything that isn't (wrong type, non-ASCII, bad padding)."""
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        return base64url_to_bytes(value)
    except (binascii.Error, ValueError):
        return None


def _parse(answer: Answer) -> dict[str, Any] | None:
    """The posted `credential` field as a JSON object with a usable id, or None."""
    raw = answer.get("credential", "")
    if not isinstance(raw, str) or not raw or len(raw) > MAX_RESPONSE_CHARS:
        return None
    try:
        value = json.loads(raw)
    except ValueError:  # JSONDecodeError and bad surrogates alike
        return None
    if not isinstance(value, dict) or not isinstance(value.get("response"), dict):
        return None
    ident = value.get("id")
    if not isinstance(ident, str) or not ident or len(ident) > MAX_CREDENTIAL_ID_CHARS or _b64(ident) is None:
        return None
    return value


def credential_id(answer: Answer) -> str | None:
    """The credential id (base64url) of a posted passkey response, so the service can find the method
    for a passwordless sign-in; None when the response is not a well-formed credential."""
    parsed = _parse(answer)
    return str(parsed["id"]) if parsed is not None else None


def _options_prompt(
    options: PublicKeyCredentialCreationOptions | PublicKeyCredentialRequestOptions, env: Environment
) -> Prompt:
    ceremony = "create" if isinstance(options, PublicKeyCredentialCreationOptions) else "get"
    return Prompt(
        # A JSON string for the page's data attribute; webauthn.js turns its base64url fields into buffers.
        view={"options": options_to_json(options), "ceremony": ceremony},
        pending={"challenge": bytes_to_base64url(options.challenge)},
        expires_at=env.now + timedelta(minutes=CEREMONY_MINUTES),
    )


def passwordless_options(env: Environment) -> Prompt:
    """A sign-in that starts with the passkey: no credentials listed, so the browser offers every
    discoverable credential it has for this site; user verification required."""
    options = generate_authentication_options(
        rp_id=rp_id_of(env.issuer),
        timeout=CEREMONY_MINUTES * 60_000,
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return _options_prompt(options, env)


def _exclusions(raw: str) -> list[PublicKeyCredentialDescriptor]:
    """Credential ids (base64url, separated by spaces or commas) the authenticator must not register again."""
    found = (_b64(item) for item in raw.replace(",", " ").split())
    return [PublicKeyCredentialDescriptor(id=cid) for cid in found if cid]


def _transports(value: object) -> list[AuthenticatorTransport]:
    known = {t.value: t for t in AuthenticatorTransport}
    return [known[t] for t in value if isinstance(t, str) and t in known] if isinstance(value, list) else []


def _client_data(credential: Mapping[str, Any]) -> dict[str, Any] | None:
    data = _b64(credential["response"].get("clientDataJSON"))
    if data is None:
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _assertion_auth_data(credential: Mapping[str, Any]) -> AuthenticatorData | None:
    raw = _b64(credential["response"].get("authenticatorData"))
    if raw is None:
        return None
    try:
        return parse_authenticator_data(raw)
    except Exception:  # bytes from the client: whatever the parser raises, they are malformed
        return None


def _registration_auth_data(credential: Mapping[str, Any]) -> AuthenticatorData | None:
    raw = _b64(credential["response"].get("attestationObject"))
    if raw is None:
        return None
    try:
        return parse_attestation_object(raw).auth_data
    except Exception:  # CBOR from the client: whatever the parser raises, it is malformed
        return None


def _precheck(
    credential: Mapping[str, Any],
    kind: str,
    expected_challenge: str,
    parsed: AuthenticatorData | None,
    env: Environment,
) -> Rejected | int:
    """The checks whose failure deserves its own message, in the order WebAuthn §7 makes them; returns
    the authenticator's sign count when they pass. py_webauthn repeats them all afterwards: this only
    explains a refusal better than "invalid"."""
    client = _client_data(credential)
    if client is None or client.get("type") != kind or parsed is None:
        return Rejected(Reason.MALFORMED, _MALFORMED, counts_as_failure=False)
    challenge = client.get("challenge")
    # A stale or foreign challenge is not a guess at a secret: it does not count towards lockout.
    if not isinstance(challenge, str) or not hmac.compare_digest(challenge.encode(), expected_challenge.encode()):
        return Rejected(Reason.EXPIRED, _STALE, counts_as_failure=False)
    origin = origin_of(env.issuer)
    # A response made on another origin or for another rp id is what a phishing relay produces:
    # refused, and counted.
    if client.get("origin") != origin:
        return Rejected(Reason.NOT_ALLOWED, _WRONG_SITE.format(origin=origin))
    if not hmac.compare_digest(parsed.rp_id_hash, hashlib.sha256(rp_id_of(env.issuer).encode()).digest()):
        return Rejected(Reason.NOT_ALLOWED, _WRONG_SITE.format(origin=origin))
    if not parsed.flags.up:
        return Rejected(Reason.DENIED, _NO_UP, counts_as_failure=False)
    if not parsed.flags.uv:
        return Rejected(Reason.NOT_ALLOWED, _NO_UV, counts_as_failure=False)
    return parsed.sign_count


class Fido2:
    spec = SPEC

    def begin_registration(self, subject: Subject, answer: Answer, env: Environment) -> Prompt:
        """Options for navigator.credentials.create(). `answer["exclude"]` may list the person's existing
        credential ids so that an authenticator holding one refuses to register twice."""
        rp_id = rp_id_of(env.issuer)
        options = generate_registration_options(
            rp_id=rp_id,
            rp_name=env.tenant_name or rp_id,
            user_name=subject.user_principal_name,
            # The user handle is the opaque object id: no personal data, and passwordless sign-in can
            # check that the credential found belongs to the account it was made for.
            user_id=subject.user_id.encode(),
            user_display_name=subject.display_name or subject.user_principal_name,
            timeout=CEREMONY_MINUTES * 60_000,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=_exclusions(answer.get("exclude", "")),
        )
        return _options_prompt(options, env)

    def finish_registration(
        self, subject: Subject, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Registered | Rejected:
        credential = _parse(answer)
        if credential is None:
            return Rejected(Reason.MALFORMED, _MALFORMED, counts_as_failure=False)
        challenge = str(pending.get("challenge", ""))
        refused = _precheck(credential, "webauthn.create", challenge, _registration_auth_data(credential), env)
        if isinstance(refused, Rejected):
            return refused
        try:
            result = verify_registration_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=rp_id_of(env.issuer),
                expected_origin=origin_of(env.issuer),
                require_user_verification=True,
            )
            # Nothing signs the key under attestation "none": make sure it is a usable key (a point on
            # its curve) now, rather than store one no sign-in can ever verify against.
            decoded_public_key_to_cryptography(decode_credential_public_key(result.credential_public_key))
        except Exception:
            # py_webauthn parses client CBOR, COSE and ASN.1 with parsers whose errors it does not all
            # wrap; whatever fails, the response is not a valid credential.
            return Rejected(Reason.WRONG_CODE, _INVALID)
        lookup_key = bytes_to_base64url(result.credential_id)
        # The id the browser reported must be the one the authenticator attested: later assertions are
        # looked up by it.
        if lookup_key != credential["id"]:
            return Rejected(Reason.WRONG_CODE, _INVALID)
        label = answer.get("name", "").strip()[:64] or DEFAULT_NAME
        return Registered(
            display_name=label,
            data={
                # Also the method's lookup_key; kept here because StoredMethod carries no lookup_key.
                "credentialId": lookup_key,
                "publicKey": bytes_to_base64url(result.credential_public_key),
                "aaGuid": result.aaguid,
                "transports": [t.value for t in _transports(credential["response"].get("transports"))],
                "backedUp": result.credential_backed_up,
                "deviceType": CredentialDeviceType(result.credential_device_type).value,
                # py_webauthn hands the format over as the raw string, not its enum: normalise either way.
                "attestationFormat": AttestationFormat(result.fmt).value,
                # Graph's fido2AuthenticationMethod.attestationLevel: "none" attestation proves no model.
                "attestationLevel": "notAttested",
            },
            lookup_key=lookup_key,
            counter=result.sign_count,
        )

    def begin_challenge(self, subject: Subject, method: StoredMethod, env: Environment) -> Prompt | Rejected:
        """Options for navigator.credentials.get() that allow only this method's credential."""
        credential = _b64(method.data.get("credentialId"))
        if not credential:
            return Rejected(Reason.UNAVAILABLE, "This passkey can't be used. Remove it and add it again.")
        options = generate_authentication_options(
            rp_id=rp_id_of(env.issuer),
            timeout=CEREMONY_MINUTES * 60_000,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=credential, transports=_transports(method.data.get("transports")))
            ],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return _options_prompt(options, env)

    def verify(
        self, subject: Subject, method: StoredMethod, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Verified | Rejected:
        credential = _parse(answer)
        if credential is None:
            return Rejected(Reason.MALFORMED, _MALFORMED, counts_as_failure=False)
        expected_id = method.data.get("credentialId")
        if not isinstance(expected_id, str) or not hmac.compare_digest(str(credential["id"]), expected_id):
            return Rejected(Reason.NOT_ALLOWED, _NOT_THIS)
        response = credential["response"]
        handle = response.get("userHandle")
        # Optional in a second-step assertion; when present it must name this person (WebAuthn §7.2 step 6).
        if handle not in (None, "") and _b64(handle) != subject.user_id.encode():
            return Rejected(Reason.NOT_ALLOWED, _NOT_THIS)
        public_key = _b64(method.data.get("publicKey"))
        if not public_key:
            return Rejected(Reason.UNAVAILABLE, "This passkey can't be used. Remove it and add it again.")
        challenge = str(pending.get("challenge", ""))
        count = _precheck(credential, "webauthn.get", challenge, _assertion_auth_data(credential), env)
        if isinstance(count, Rejected):
            return count
        try:
            result = verify_authentication_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=rp_id_of(env.issuer),
                expected_origin=origin_of(env.issuer),
                credential_public_key=public_key,
                # The sign count is checked below, once the signature is known to be good: only a
                # genuine assertion with a stale count hints at a cloned authenticator.
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except Exception:  # as in finish_registration: whatever fails, it is not a valid assertion
            return Rejected(Reason.WRONG_CODE, _INVALID)
        current = method.counter or 0
        # WebAuthn §7.2 step 21: a count that does not grow (unless both stay 0, as with passkeys that
        # don't count) suggests a cloned authenticator.
        if (count > 0 or current > 0) and count <= current:
            return Rejected(Reason.REPLAYED, _REPLAYED)
        # A synced passkey may become backed up after registration; keep the public data current.
        changed = method.data.get("backedUp") != result.credential_backed_up
        data = {**method.data, "backedUp": result.credential_backed_up} if changed else None
        return Verified(counter=result.new_sign_count, data=data, log_detail=method.display_name)


METHOD = Fido2()
