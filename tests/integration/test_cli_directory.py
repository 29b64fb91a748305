"""`limen user|group|role|import` run through Typer's CliRunner against the test database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from limen.cli import app
from limen.domain.directory import GLOBAL_ADMINISTRATOR
from limen.service import directory as d
from limen.service.context import Services
from tests.conftest import make_env


@pytest.fixture
def run(services: Services, tmp_path: Path, database_url: str) -> Any:
    """Run `limen ...` with the environment of the test database; returns click's Result."""
    # A wide console keeps Rich from wrapping the messages the tests look for.
    env = {**make_env(tmp_path, database_url), "COLUMNS": "250"}
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), env=env, input=input)

    return invoke


def _users(run: Any) -> list[dict[str, Any]]:
    result = run("user", "list", "--json")
    assert result.exit_code == 0, result.output
    users: list[dict[str, Any]] = json.loads(result.stdout)
    return users


def test_user_add_list_disable_and_enable(run: Any, services: Services, tenant_id: str) -> None:
    result = run(
        "user",
        "add",
        "ada@example.com",
        "--name",
        "Ada",
        "--mail",
        "ada@mail.example",
        "--password",
        "difference engine",
    )
    assert result.exit_code == 0, result.output
    assert "Created user ada@example.com" in result.stdout
    assert run("user", "add", "gus@example.com", "-n", "Gus", "--guest", "--mobile", "+1 555 0100").exit_code == 0
    users = {u["userPrincipalName"]: u for u in _users(run)}
    assert users["ada@example.com"]["mail"] == "ada@mail.example"
    assert (users["gus@example.com"]["userType"], users["gus@example.com"]["mobilePhone"]) == ("Guest", "+1 555 0100")
    assert run("user", "disable", "ADA@example.com").exit_code == 0
    assert {u["userPrincipalName"]: u["accountEnabled"] for u in _users(run)}["ada@example.com"] is False
    assert run("user", "enable", "ada@example.com").exit_code == 0
    with services.db() as db:
        ada = d.find_by_upn(db, tenant_id, "ada@example.com")
        assert ada is not None and ada.account_enabled
        assert ada.password_hash is not None and services.hasher.verify(ada.password_hash, "difference engine").ok
    table = run("user", "list")
    assert table.exit_code == 0 and "gus@example.com" in table.stdout


def test_bad_user_input_exits_1_with_the_reason_and_creates_nothing(run: Any) -> None:
    for args, reason in (
        (("user", "add", "not-an-upn", "--name", "X"), "not a valid userPrincipalName"),
        (("user", "add", "x@example.com", "--name", " "), "displayName is required"),
        (("user", "add", "x@example.com", "--name", "X", "--password", "short"), "8 to 256"),
        (("user", "disable", "nobody@example.com"), "does not exist"),
    ):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert reason in result.stderr
    assert _users(run) == []
    assert run("user", "add", "y@example.com", "--name", "Y").exit_code == 0
    duplicate = run("user", "add", "Y@EXAMPLE.com", "--name", "Y2")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.stderr


def test_passwords_can_be_typed_hidden_with_confirmation(run: Any, services: Services, tenant_id: str) -> None:
    result = run(
        "user", "add", "pat@example.com", "--name", "Pat", "--password-prompt", input="typed secret 1\ntyped secret 1\n"
    )
    assert result.exit_code == 0, result.output
    assert "typed secret" not in result.stdout
    result = run("user", "set-password", "pat@example.com", input="second secret 2\nsecond secret 2\n")
    assert result.exit_code == 0, result.output
    with services.db() as db:
        pat = d.find_by_upn(db, tenant_id, "pat@example.com")
        assert pat is not None and pat.password_hash is not None
        assert services.hasher.verify(pat.password_hash, "second secret 2").ok


def test_groups_nest_by_name_and_refuse_cycles_and_ambiguity(run: Any, services: Services, tenant_id: str) -> None:
    assert run("user", "add", "ann@example.com", "--name", "Ann").exit_code == 0
    for name in ("Sales", "Everyone"):
        assert run("group", "add", name, "--description", f"{name} people").exit_code == 0
    assert run("group", "add-member", "Sales", "ann@example.com").exit_code == 0
    assert run("group", "add-member", "everyone", "Sales").exit_code == 0
    cycle = run("group", "add-member", "Sales", "Everyone")
    assert cycle.exit_code == 1 and "cycle" in cycle.stderr
    assert run("group", "add", "Sales").exit_code == 0  # names need not be unique...
    ambiguous = run("group", "add-member", "Sales", "ann@example.com")
    assert ambiguous.exit_code == 1 and "2 groups are named 'Sales'" in ambiguous.stderr  # ...but then ids are needed
    with services.db() as db:
        ann = d.find_by_upn(db, tenant_id, "ann@example.com")
        assert ann is not None and len(d.member_of_transitive(db, tenant_id, ann.id)) == 2
    listing = json.loads(run("group", "list", "--json").stdout)
    assert sorted(g["displayName"] for g in listing) == ["Everyone", "Sales", "Sales"]


def test_roles_are_assigned_by_name_to_users_and_groups(run: Any, services: Services, tenant_id: str) -> None:
    assert run("user", "add", "root@example.com", "--name", "Root").exit_code == 0
    assert run("group", "add", "Admins").exit_code == 0
    assert run("role", "assign", "root@example.com", "Global Administrator").exit_code == 0
    assert run("role", "assign", "Admins", "global reader").exit_code == 0
    unknown = run("role", "assign", "root@example.com", "Supreme Leader")
    assert unknown.exit_code == 1 and "Unknown directory role" in unknown.stderr
    again = run("role", "assign", "root@example.com", GLOBAL_ADMINISTRATOR)
    assert again.exit_code == 1 and "already holds" in again.stderr
    listing = run("role", "list")
    assert listing.exit_code == 0 and "Global Administrator" in listing.stdout and "Admins" in listing.stdout
    assert "Global Reader" in run("role", "list", "--definitions").stdout
    with services.db() as db:
        root = d.find_by_upn(db, tenant_id, "root@example.com")
        assert root is not None and d.role_ids_of(db, tenant_id, root.id) == {GLOBAL_ADMINISTRATOR}


def test_import_reports_bad_rows_and_writes_nothing_unless_told_to_skip(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("userPrincipalName,displayName,groups\nok@example.com,Ok,Staff\nbroken,Broken,\n", "utf-8")
    failed = run("import", str(path))
    assert failed.exit_code == 1
    assert "row 3: 'broken' is not a valid userPrincipalName" in failed.stderr
    assert "nothing was imported" in failed.stderr
    assert _users(run) == []
    skipped = run("import", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.output
    assert "Imported 1 users, 1 new groups and 1 memberships" in skipped.stdout
    assert [u["userPrincipalName"] for u in _users(run)] == ["ok@example.com"]


def test_import_of_an_unreadable_file_exits_1(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    path.write_text("{not json", "utf-8")
    result = run("import", str(path), "--format", "json")
    assert result.exit_code == 1 and "not valid JSON" in result.stderr
    missing = run("import", str(tmp_path / "absent.csv"))
    assert missing.exit_code == 2  # click's own check: the path must exist
