"""Scopes Limen understands and the claims each releases (OIDC Core §5.4)."""

from __future__ import annotations

from typing import Any

from limen.store.models import User

SUPPORTED_SCOPES = ("openid", "profile", "email", "phone", "offline_access")


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
