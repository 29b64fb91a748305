"""Settings from LIMEN_* variables: defaults, strict parsing, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from limen.config import Secret, load_settings
from limen.domain.directory import Plan
from limen.domain.errors import ConfigurationError

PRODUCTION = {
    "LIMEN_ISSUER": "https://login.contoso.com",
    "LIMEN_DATABASE_URL": "postgresql://limen@db/limen",
    "LIMEN_SECRET_KEY": "s" * 40,
    "LIMEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}


def test_development_defaults_generate_and_keep_keys_beside_the_database(tmp_path: Path) -> None:
    env = {"LIMEN_DATA_DIR": str(tmp_path)}
    first = load_settings(env)
    second = load_settings(env)
    assert first.is_development and first.dev_secrets_generated
    assert first.database_url == f"sqlite:///{tmp_path}/limen.db"
    assert first.secret_key == second.secret_key and first.encryption_keys == second.encryption_keys
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o777 == 0o600
    assert first.default_plan is Plan.P2
    assert not first.cookie_secure
    assert first.argon2_memory_kib == 19456 and first.argon2_time_cost == 2 and first.argon2_parallelism == 1


def test_production_settings_parse_and_normalise_the_postgres_driver() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.database_url == "postgresql+psycopg://limen@db/limen"
    assert settings.cookie_secure and not settings.is_development
    assert settings.admin_token is None
    assert settings.argon2_concurrency == 0  # one per core
    assert load_settings({**PRODUCTION, "LIMEN_ARGON2_CONCURRENCY": "3"}).argon2_concurrency == 3


def test_production_refuses_to_start_without_keys_and_lists_every_problem() -> None:
    env = {"LIMEN_ISSUER": "https://login.contoso.com", "LIMEN_ARGON2_TIME_COST": "zero", "LIMEN_BOGUS": "1"}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    message = caught.value.message
    for expected in (
        "LIMEN_SECRET_KEY is required",
        "LIMEN_ENCRYPTION_KEYS is required",
        "LIMEN_ARGON2_TIME_COST='zero' is not a whole number",
        "LIMEN_BOGUS is not a Limen setting",
    ):
        assert expected in message


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("LIMEN_ISSUER", "http://login.contoso.com", "must use https"),
        ("LIMEN_ISSUER", "https://login.contoso.com/?x=1", "without query"),
        ("LIMEN_DATABASE_URL", "mysql://x/y", "expected sqlite"),
        ("LIMEN_ARGON2_MEMORY_KIB", "1", "out of range"),
        ("LIMEN_ARGON2_CONCURRENCY", "-1", "out of range"),
        ("LIMEN_ADMIN_TOKEN", "short", "too short"),
        ("LIMEN_SECRET_KEY", "short", "too short"),
        ("LIMEN_ENCRYPTION_KEYS", "not-a-key", "not a valid key"),
        ("LIMEN_DEFAULT_PLAN", "gold", "Unknown plan"),
        ("LIMEN_LOG_LEVEL", "loud", "expected debug"),
    ],
)
def test_bad_values_are_named_with_the_reason(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings({**PRODUCTION, name: value})


def test_secrets_do_not_show_in_repr() -> None:
    settings = load_settings({**PRODUCTION, "LIMEN_ADMIN_TOKEN": "t" * 30})
    assert "t" * 30 not in repr(settings)
    assert "s" * 40 not in repr(settings)
    assert repr(Secret("x")) == "Secret('**********')"


def test_several_encryption_keys_are_accepted_for_rotation() -> None:
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    settings = load_settings({**PRODUCTION, "LIMEN_ENCRYPTION_KEYS": ",".join(keys)})
    assert list(settings.encryption_keys) == keys
