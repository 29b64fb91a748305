"""`limen db upgrade` from an empty database, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from limen.store import migrate
from limen.store.db import make_engine
from limen.store.models import Base
from tests.conftest import make_env

LIMEN = str(Path(sys.executable).with_name("limen"))


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("LIMEN_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = base.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"limen_mig_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_limen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("LIMEN_")}, **env}
    return subprocess.run([LIMEN, *args], env=full, capture_output=True, text=True, timeout=120, check=False)


def test_db_upgrade_creates_the_schema_from_empty_and_is_idempotent(empty_database: str, tmp_path: Path) -> None:
    env = make_env(tmp_path, empty_database)
    engine = make_engine(empty_database)
    assert migrate.current_revision(engine) is None

    status = run_limen(env, "db", "status")
    assert status.returncode == 1 and "current: empty" in status.stdout

    first = run_limen(env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty" in first.stdout
    assert migrate.is_up_to_date(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from tenants where is_default")).scalar() == 1
        assert conn.execute(sa.text("select count(*) from signing_keys")).scalar() == 1

    again = run_limen(env, "db", "upgrade")
    assert again.returncode == 0 and "up to date" in again.stdout
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from tenants")).scalar() == 1
    assert run_limen(env, "db", "status").returncode == 0
    engine.dispose()


def test_the_migrations_match_the_models(empty_database: str) -> None:
    """Autogenerate finds nothing to add: models and migrations agree on every table and column."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_serving_an_unmigrated_database_fails_with_a_clear_message(empty_database: str, tmp_path: Path) -> None:
    result = run_limen(make_env(tmp_path, empty_database), "serve", "--port", "1")
    assert result.returncode == 2
    assert "limen db upgrade" in result.stderr
