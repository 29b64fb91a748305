"""The objects every use case needs, built once per process from Settings and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from limen.config import Settings
from limen.crypto.passwords import Argon2Hasher
from limen.crypto.vault import Vault
from limen.domain.clock import Clock, SystemClock
from limen.notify import EmailSender, SmsSender, build_senders
from limen.store.db import make_engine, make_session_factory


@dataclass
class Services:
    settings: Settings
    engine: sa.Engine
    db: sessionmaker[Session]
    hasher: Argon2Hasher
    vault: Vault
    #: Where verification codes go (limen.notify); tests may replace them with recording senders.
    sms_sender: SmsSender
    email_sender: EmailSender
    clock: Clock = field(default_factory=SystemClock)
    # Filled by limen.service.tenants.default_tenant_id() on first use; the default tenant never changes.
    _default_tenant_id: str | None = None
    # Decrypted signing keys by kid; keys never change once written, so caching is safe.
    _key_cache: dict[str, object] = field(default_factory=dict)
    # Compiled Conditional Access policy sets by tenant (limen.service.access_policies).
    _policy_cache: dict[str, object] = field(default_factory=dict)


def build_services(settings: Settings, *, clock: Clock | None = None, engine: sa.Engine | None = None) -> Services:
    engine = engine or make_engine(settings.database_url)
    clock = clock or SystemClock()
    sms_sender, email_sender = build_senders(settings, clock)
    return Services(
        settings=settings,
        engine=engine,
        db=make_session_factory(engine),
        hasher=Argon2Hasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            max_concurrency=settings.argon2_concurrency or None,
        ),
        vault=Vault(list(settings.encryption_keys)),
        sms_sender=sms_sender,
        email_sender=email_sender,
        clock=clock,
    )
