"""Signing and verifying Limen's JWTs with joserfc and the tenant's stored keys."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from limen.service.context import Services
from limen.service.keys import ALGORITHM, active_key, jwks


def sign(services: Services, tenant_id: str, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    key = active_key(services, tenant_id)
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": typ}, claims, key.key)


class InvalidToken(Exception):
    pass


def verify(services: Services, tenant_id: str, token: str, *, typ: str | None = None) -> dict[str, Any]:
    """Check the signature against the published keys and return the claims (time checks are the caller's)."""
    if not token or len(token) > 16_384:
        raise InvalidToken("token is empty or too long")
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks(services, tenant_id)), algorithms=[ALGORITHM])  # type: ignore[arg-type]
    except (JoseError, ValueError) as exc:
        raise InvalidToken(str(exc)) from None
    if typ is not None and str(decoded.header.get("typ", "")).lower() != typ.lower():
        raise InvalidToken("wrong token type")
    return dict(decoded.claims)
