"""A software passkey for tests without a browser: one resident ES256 credential, attestation "none",
answering py_webauthn's JSON options with the JSON a browser would post (base64url fields).

Keyword arguments bend one thing at a time (origin, rp id, user verification, sign count) so that
tests can show each check refuses what it should.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, AT = 0x01, 0x04, 0x40


def _options(options: str | dict[str, Any]) -> dict[str, Any]:
    return json.loads(options) if isinstance(options, str) else options


@dataclass
class SoftAuthenticator:
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    #: Counts uses as a security key does; set `counting=False` for the many passkeys that always say 0.
    sign_count: int = 0
    counting: bool = True
    user_handle: bytes = b""

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def _auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.sign_count) + attested

    def _client_data(self, kind: str, options: dict[str, Any], origin: str) -> bytes:
        body = {"type": kind, "challenge": options["challenge"], "origin": origin, "crossOrigin": False}
        return json.dumps(body, separators=(",", ":")).encode()

    def create(self, options: str | dict[str, Any], origin: str, *, rp_id: str | None = None, uv: bool = True) -> str:
        """navigator.credentials.create(): the registration response as posted JSON."""
        opts = _options(options)
        self.user_handle = base64url_to_bytes(opts["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + cbor2.dumps(cose)
        auth_data = self._auth_data(rp_id or opts["rp"]["id"], UP | (UV if uv else 0) | AT, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        response = {
            "clientDataJSON": bytes_to_base64url(self._client_data("webauthn.create", opts, origin)),
            "attestationObject": bytes_to_base64url(attestation),
            "transports": ["internal"],
        }
        return json.dumps(self._credential(response, "platform"))

    def get(
        self,
        options: str | dict[str, Any],
        origin: str,
        *,
        rp_id: str | None = None,
        uv: bool = True,
        sign_count: int | None = None,
    ) -> str:
        """navigator.credentials.get(): the assertion as posted JSON; `sign_count` forces the reported count."""
        opts = _options(options)
        if sign_count is not None:
            self.sign_count = sign_count
        elif self.counting:
            self.sign_count += 1
        auth_data = self._auth_data(rp_id or opts["rpId"], UP | (UV if uv else 0))
        client_data = self._client_data("webauthn.get", opts, origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature),
            "userHandle": bytes_to_base64url(self.user_handle),
        }
        return json.dumps(self._credential(response, "platform"))

    def _credential(self, response: dict[str, Any], attachment: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": attachment,
            "clientExtensionResults": {},
        }
