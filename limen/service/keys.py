"""Token-signing keys: stored in the database (private half encrypted), rotated with overlap.

A new key is published in JWKS at once and starts signing at `active_from`; a replaced key stays
published until `retire_at` (its successor's activation + the overlap), so relying parties that
cached JWKS keep verifying tokens it signed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import RSAKey
from sqlalchemy.orm import Session

from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import SigningKey

ALGORITHM = "RS256"
RSA_BITS = 2048


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    key: RSAKey


def _new_key(services: Services, tenant_id: str, active_from: datetime) -> SigningKey:
    # Hex, not base64url: a kid that starts with '-' would read as an option in `limen keys revoke KID`.
    kid = secrets.token_hex(12)
    private = RSAKey.generate_key(RSA_BITS, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM}, private=True)
    return SigningKey(
        id=kid,
        tenant_id=tenant_id,
        algorithm=ALGORITHM,
        private_jwk_encrypted=services.vault.encrypt(json.dumps(private.as_dict(private=True)).encode()),
        public_jwk=private.as_dict(private=False),
        created_at=services.clock.now(),
        active_from=active_from,
        retire_at=None,
    )


def _published(db: Session, tenant_id: str, now: datetime) -> list[SigningKey]:
    rows = db.scalars(
        sa.select(SigningKey)
        .where(SigningKey.tenant_id == tenant_id)
        .where(sa.or_(SigningKey.retire_at.is_(None), SigningKey.retire_at > now))
        .order_by(SigningKey.active_from.desc(), SigningKey.created_at.desc())
    )
    return list(rows)


def ensure_signing_key(services: Services, tenant_id: str) -> None:
    """Create the tenant's first key if it has none that can sign now."""
    now = services.clock.now()
    with transaction(services.db) as db:
        if not any(k.active_from <= now for k in _published(db, tenant_id, now)):
            db.add(_new_key(services, tenant_id, active_from=now))


def rotate(services: Services, tenant_id: str, *, activate_after: timedelta = timedelta(0)) -> SigningKey:
    """Add a new key that signs from now + `activate_after`; schedule the older keys' retirement."""
    now = services.clock.now()
    overlap = timedelta(hours=services.settings.signing_key_overlap_hours)
    with transaction(services.db) as db:
        new = _new_key(services, tenant_id, active_from=now + activate_after)
        for old in _published(db, tenant_id, now):
            if old.retire_at is None:
                old.retire_at = new.active_from + overlap
        db.add(new)
    return new


def active_key(services: Services, tenant_id: str) -> ActiveKey:
    """The key to sign with now: the most recently activated published key."""
    now = services.clock.now()
    with services.db() as db:
        # A key scheduled for retirement has a successor: prefer keys without one, then the newest.
        candidates = sorted(
            (k for k in _published(db, tenant_id, now) if k.active_from <= now),
            key=lambda k: (k.retire_at is None, k.active_from, k.created_at),
            reverse=True,
        )
    if not candidates:
        ensure_signing_key(services, tenant_id)
        return active_key(services, tenant_id)
    row = candidates[0]
    cached = services._key_cache.get(row.id)
    if cached is None:
        data = json.loads(services.vault.decrypt(row.private_jwk_encrypted))
        cached = RSAKey.import_key(data)
        services._key_cache[row.id] = cached
    assert isinstance(cached, RSAKey)
    return ActiveKey(kid=row.id, key=cached)


def jwks(services: Services, tenant_id: str) -> dict[str, Any]:
    """The public JWKS document: every key not yet retired, including ones that will sign soon."""
    with services.db() as db:
        return {"keys": [dict(k.public_jwk) for k in _published(db, tenant_id, services.clock.now())]}


def revoke(services: Services, tenant_id: str, kid: str) -> SigningKey:
    """Withdraw a (compromised) key at once: it leaves JWKS now and never signs again.

    Tokens it signed stop verifying immediately. If it was the signing key, a new one is created.
    """
    from limen.domain.errors import NotFound

    now = services.clock.now()
    with transaction(services.db) as db:
        key = db.get(SigningKey, kid)
        if key is None or key.tenant_id != tenant_id:
            raise NotFound(f"No signing key with kid {kid!r}.")
        key.retire_at = now
    services._key_cache.pop(kid, None)
    ensure_signing_key(services, tenant_id)
    return key


def list_keys(services: Services, tenant_id: str) -> list[SigningKey]:
    with services.db() as db:
        return list(
            db.scalars(sa.select(SigningKey).where(SigningKey.tenant_id == tenant_id).order_by(SigningKey.created_at))
        )
