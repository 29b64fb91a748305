"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when LIMEN_TEST_DATABASE_URL is set),
the Services object with a frozen clock, and an in-process HTTP client.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from limen.config import Settings, load_settings
from limen.domain.clock import FrozenClock
from limen.service.context import Services, build_services
from limen.service.tenants import ensure_default_tenant
from limen.store import migrate
from limen.store.db import make_engine
from limen.store.models import Base, Tenant

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
#: Cheap argon2 parameters keep the suite fast; production parameters are exercised in tests/unit/crypto.
FAST_ARGON2 = {"LIMEN_ARGON2_MEMORY_KIB": "256", "LIMEN_ARGON2_TIME_COST": "1"}


def _postgres_url() -> str | None:
    return os.environ.get("LIMEN_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test session: a SQLite file, or a fresh PostgreSQL database dropped at the end."""
    base = _postgres_url()
    if base is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'limen.db'}"
        return
    base = base.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"limen_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def make_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "LIMEN_DATABASE_URL": database_url,
        "LIMEN_ISSUER": "http://127.0.0.1:8000",
        "LIMEN_ADMIN_TOKEN": ADMIN_TOKEN,
        "LIMEN_SECRET_KEY": secrets.token_urlsafe(32),
        "LIMEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "LIMEN_DATA_DIR": str(tmp_path / "data"),
        **FAST_ARGON2,
    }
    env.update(extra)
    return env


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(make_env(tmp_path, database_url))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def services(settings: Settings, clock: FrozenClock, migrated_engine: sa.Engine) -> Iterator[Services]:
    """Services on a clean database: every table is emptied after each test."""
    svc = build_services(settings, clock=clock, engine=migrated_engine)
    tenant = ensure_default_tenant(svc)
    # New tenants start with security defaults on; tests that exercise them turn them on again.
    with migrated_engine.begin() as conn:
        conn.execute(sa.update(Tenant).where(Tenant.id == tenant.id).values(security_defaults_enabled=False))
    yield svc
    with migrated_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def tenant_id(services: Services) -> str:
    from limen.service.tenants import default_tenant_id

    return default_tenant_id(services)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    from limen.web.app import create_app

    with TestClient(create_app(services), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
