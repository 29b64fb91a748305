"""Operator commands: `limen app`, `limen logs`, `limen keys`, `limen config check`, `limen demo --seed-only`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from limen.cli import app
from limen.service.context import Services
from limen.service.keys import ensure_signing_key
from limen.store.db import transaction
from limen.store.models import Application, ConditionalAccessPolicy, SigningKey, Tenant, User
from tests.conftest import ADMIN_TOKEN, make_env
from tests.support.forms import form_with
from tests.support.seed import add_user


@pytest.fixture
def env(services: Services, tmp_path: Path, database_url: str) -> dict[str, str]:
    values = make_env(tmp_path, database_url, COLUMNS="250")
    # The same keys as the in-process services, so both can read what the other encrypted.
    values["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    values["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)
    return values


@pytest.fixture
def run(env: dict[str, str]) -> Any:
    runner = CliRunner()

    def invoke(*args: str, extra: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env={**env, **(extra or {})})

    return invoke


def test_app_add_registers_a_confidential_client_and_shows_the_secret_once(run: Any, services: Services) -> None:
    result = run("app", "add", "Payroll", "-r", "https://payroll.contoso.com/callback", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["displayName"] == "Payroll" and len(created["clientSecret"]) >= 30
    with services.db() as db:
        stored = db.scalars(sa.select(Application)).one()
    assert stored.app_id == created["appId"]
    assert stored.web_redirect_uris == ["https://payroll.contoso.com/callback"]
    listing = run("app", "list")
    assert created["appId"] in listing.stdout and created["clientSecret"] not in listing.stdout


def test_app_add_refuses_bad_redirect_uris_and_writes_nothing(run: Any, services: Services) -> None:
    result = run("app", "add", "Bad", "-r", "http://payroll.contoso.com/callback")
    assert result.exit_code == 1
    assert "must use https" in result.output
    public = run("app", "add", "Mobile", "--public", "-r", "com.contoso.mobile:/auth", "--json")
    assert public.exit_code == 0 and "clientSecret" not in json.loads(public.stdout)
    with services.db() as db:
        assert [a.display_name for a in db.scalars(sa.select(Application))] == ["Mobile"]


def test_logs_lists_attempts_newest_first_and_filters(run: Any, services: Services, client: TestClient) -> None:
    add_user(services)
    for password in ("wrong-one", "Correct-Horse-Battery-9"):
        client.cookies.clear()
        page = client.get("/signin").text
        page = client.post(
            "/signin/identify",
            data={**form_with(page, "/signin/identify").fields, "username": "adele.vance@contoso.test"},
        ).text
        client.post("/signin/password", data={**form_with(page, "/signin/password").fields, "password": password})
    rows = [json.loads(line) for line in run("logs", "--json").stdout.splitlines()]
    assert sorted(r["status"]["errorCode"] for r in rows) == [0, 50126]
    failures = [json.loads(line) for line in run("logs", "--json", "--failures").stdout.splitlines()]
    assert [r["status"]["errorCode"] for r in failures] == [50126]
    everything = run("logs", "--json").stdout + run("logs").stdout
    assert "wrong-one" not in everything and "Correct-Horse-Battery-9" not in everything
    table = run("logs", "--user", "ADELE.VANCE@contoso.test")
    assert table.exit_code == 0 and "adele.vance@contoso.test" in table.stdout and "50126" in table.stdout
    assert run("logs", "--user", "nobody@contoso.test", "--json").stdout == ""


def test_keys_rotate_list_and_revoke(run: Any, services: Services, tenant_id: str) -> None:
    ensure_signing_key(services, tenant_id)
    assert run("keys", "rotate", "--activate-after-hours", "2").exit_code == 0
    with services.db() as db:
        keys = list(db.scalars(sa.select(SigningKey).order_by(SigningKey.active_from)))
    assert len(keys) == 2 and keys[0].retire_at is not None and keys[1].retire_at is None
    listing = run("keys", "list")
    assert keys[0].id in listing.stdout and keys[1].id in listing.stdout
    assert run("keys", "revoke", keys[1].id).exit_code == 0
    unknown = run("keys", "revoke", "nope")
    assert unknown.exit_code == 1 and "No signing key" in unknown.output


def test_reencrypt_rotates_encryption_keys_and_refuses_when_the_old_key_is_gone(
    run: Any, env: dict[str, str], services: Services, tenant_id: str
) -> None:
    ensure_signing_key(services, tenant_id)
    new_key = Fernet.generate_key().decode()
    with_both = {"LIMEN_ENCRYPTION_KEYS": f"{new_key},{env['LIMEN_ENCRYPTION_KEYS']}"}
    assert run("keys", "reencrypt", extra=with_both).exit_code == 0
    assert run("keys", "reencrypt", extra={"LIMEN_ENCRYPTION_KEYS": new_key}).exit_code == 0
    stranger = run("keys", "reencrypt", extra={"LIMEN_ENCRYPTION_KEYS": Fernet.generate_key().decode()})
    assert stranger.exit_code == 1 and "cannot be decrypted" in stranger.output


def test_config_check_masks_secrets_and_the_database_password(run: Any) -> None:
    url = "postgresql+psycopg://limen:s3cret-pw@db.internal/limen"
    result = run("config", "check", extra={"LIMEN_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.stdout and ADMIN_TOKEN not in result.stdout
    assert "limen:***@db.internal" in result.stdout
    bad = run("config", "check", extra={"LIMEN_ARGON2_TIME_COST": "-1"})
    assert bad.exit_code == 2 and "LIMEN_ARGON2_TIME_COST=-1 is out of range" in bad.output


def test_demo_seed_is_idempotent_and_prints_the_same_passwords(
    run: Any, services: Services, env: dict[str, str]
) -> None:
    first = run("demo", "--seed-only")
    assert first.exit_code == 0, first.output
    second = run("demo", "--seed-only")
    assert second.exit_code == 0
    state = json.loads((Path(env["LIMEN_DATA_DIR"]) / "demo.json").read_text())
    for upn, password in state["passwords"].items():
        assert upn in first.stdout and password in first.stdout and password in second.stdout
    with services.db() as db:
        upns = sorted(db.scalars(sa.select(User.user_principal_name)))
        apps = list(db.scalars(sa.select(Application)))
    assert upns == sorted(state["passwords"]) and len(upns) == 3
    assert len(apps) == 1 and apps[0].web_redirect_uris == ["http://127.0.0.1:8001/callback"]
    with services.db() as db:
        must_register = list(db.scalars(sa.select(User.user_principal_name).where(User.mfa_registration_required)))
    assert must_register == ["adele.vance@contoso.demo"]
    assert "registers MFA at first sign-in" in first.stdout


def test_security_defaults_switch(run: Any, services: Services, tenant_id: str) -> None:
    status = run("security-defaults", "status")
    assert status.exit_code == 0 and "off" in status.stdout
    on = run("security-defaults", "on")
    assert on.exit_code == 0 and "within 14 days" in on.stdout
    assert "on" in run("security-defaults", "status").stdout
    with services.db() as db:
        assert db.get(Tenant, tenant_id).security_defaults_enabled is True  # type: ignore[union-attr]
    assert run("security-defaults", "off").exit_code == 0
    with transaction(services.db) as db:
        db.add(
            ConditionalAccessPolicy(
                id="0b8a3e52-9f0e-4b8f-8d7e-2f6a1c9d4e70",
                tenant_id=tenant_id,
                display_name="Block legacy authentication",
                state="enabled",
                document={},
                created_at=services.clock.now(),
            )
        )
    refused = run("security-defaults", "on")
    assert refused.exit_code == 1 and "Block legacy authentication" in refused.output
    assert "Block legacy authentication" in run("security-defaults", "status").stdout
    with services.db() as db:
        assert db.get(Tenant, tenant_id).security_defaults_enabled is False  # type: ignore[union-attr]
