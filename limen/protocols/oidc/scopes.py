"""Scopes Limen understands and the claims each releases (OIDC Core §5.4)."""

from __future__ import annotations

from typing import Any

from limen.protocols.oidc.errors import OAuthError
from limen.store.models import User

SUPPORTED_SCOPES = ("openid", "profile", "email", "phone", "offline_access")


def checked_scope(value: str) -> str:
    """A requested scope at the token or device endpoint, deduplicated; an unknown value is refused,
    because the access token states its scope and must never name a permission Limen does not know."""
    scopes = value.split()
    unknown = [s for s in scopes if s not in SUPPORTED_SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"Unsupported scope: {' '.join(unknown)[:200]}.")
    return " ".join(dict.fromkeys(scopes))


def profile_claims(user: User, scopes: set[str], tenant_id: str) -> dict[str, Any]:
    """Claims about the user released by `scopes`; `sub` is always present."""
    claims: dict[str, Any] = {"sub": user.id, "oid": user.id, "tid": tenant_id}
    if "profile" in scopes:
        claims.update(
            name=user.display_name,
            preferred_username=user.user_principal_name,
            given_name=user.given_name,
            family_name=user.surname,
        )
    if "email" in scopes and user.mail:
        claims["email"] = user.mail
    if "phone" in scopes and user.mobile_phone:
        claims["phone_number"] = user.mobile_phone
    return {k: v for k, v in claims.items() if v is not None}
