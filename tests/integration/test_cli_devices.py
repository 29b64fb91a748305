"""`limen device add|list|show|set|remove|enrolment-link`: the registry from the shell, the same rows and
Graph JSON as the API, and an enrolment link printed once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from limen.cli import app
from limen.domain.clock import FrozenClock
from limen.service import devices
from limen.service.context import Services
from limen.store.models import Device, User
from tests.conftest import make_env

LINK = re.compile(r"(http://127\.0\.0\.1:8000/devices/enrol\?code=(\S+))")


@pytest.fixture
def run(services: Services, clock: FrozenClock, tmp_path: Path, database_url: str) -> Any:
    """`limen ...` against the test database. Commands run on the system clock, so the test's clock
    follows it after each command."""
    env = {**make_env(tmp_path, database_url), "COLUMNS": "250"}
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        result = runner.invoke(app, list(args), env=env)
        clock.set(datetime.now(UTC))
        return result

    return invoke


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _device(services: Services) -> Device:
    with services.db() as db:
        found = db.scalars(sa.select(Device)).all()
    assert len(found) == 1
    return found[0]


def test_add_registers_a_device_with_owners_and_prints_a_link_once(
    run: Any, services: Services, tenant_id: str, user: User
) -> None:
    out = _ok(
        run(
            "device",
            "add",
            "--name",
            "LAPTOP-ADELE",
            "--os",
            "Windows",
            "--os-version",
            "10.0.22631",
            "--trust-type",
            "azuread",
            "--compliant",
            "--ext",
            "1=Finance",
            "--owner",
            user.user_principal_name,
            "--enrolment-link",
        )
    )
    assert "Registered device LAPTOP-ADELE (AzureAd, compliant" in out
    match = LINK.search(out)
    assert match is not None and out.count(match.group(2)) == 1
    device = _device(services)
    assert (device.trust_type, device.is_compliant, device.extension_attributes) == (
        "AzureAd",
        True,
        {"extensionAttribute1": "Finance"},
    )
    with services.db() as db:
        assert devices.pending_enrolment(db, tenant_id, match.group(2), services.clock.now()).id == device.id
        assert [u.id for u in devices.list_owners(db, tenant_id, device.id)] == [user.id]


def test_list_show_and_json_match_the_api_shape(run: Any, services: Services) -> None:
    _ok(run("device", "add", "--name", "LAPTOP-1", "--os", "Windows"))
    _ok(run("device", "add", "--name", "IPHONE-2", "--os", "iOS", "--trust-type", "Workplace"))
    table = _ok(run("device", "list"))
    assert table.index("IPHONE-2") < table.index("LAPTOP-1")
    listed = json.loads(_ok(run("device", "list", "--json")))
    assert [d["displayName"] for d in listed] == ["IPHONE-2", "LAPTOP-1"]
    assert listed[0]["trustType"] == "Workplace" and "extensionAttributes" in listed[0]

    shown = _ok(run("device", "show", "laptop-1"))
    assert "operatingSystem: Windows" in shown and "browser: none enrolled" in shown
    as_json = json.loads(_ok(run("device", "show", "LAPTOP-1", "--json")))
    assert as_json["displayName"] == "LAPTOP-1" and as_json["registeredOwners"] == []


def test_set_changes_only_the_given_properties(run: Any, services: Services, user: User) -> None:
    _ok(run("device", "add", "--name", "PC", "--ext", "1=a", "--ext", "2=b", "--model", "T14"))
    out = _ok(
        run(
            "device",
            "set",
            "PC",
            "--compliant",
            "--trust-type",
            "ServerAd",
            "--ext",
            "1=",
            "--add-owner",
            user.user_principal_name,
        )
    )
    assert "Updated device PC (ServerAd, compliant)" in out
    device = _device(services)
    assert device.is_compliant and device.trust_type == "ServerAd" and device.model == "T14"
    assert device.extension_attributes == {"extensionAttribute2": "b"}
    _ok(run("device", "set", device.id, "--disabled", "--remove-owner", user.user_principal_name))
    assert _device(services).account_enabled is False
    refused = run("device", "set", "PC")
    assert refused.exit_code == 1 and "Nothing to change" in refused.output


def test_enrolment_link_and_remove(run: Any, services: Services, tenant_id: str) -> None:
    _ok(run("device", "add", "--name", "KIOSK"))
    out = _ok(run("device", "enrolment-link", "KIOSK"))
    match = LINK.search(out)
    assert match is not None and "does not keep it" in out
    as_json = json.loads(_ok(run("device", "enrolment-link", "KIOSK", "--json")))
    assert as_json["url"].startswith("http://127.0.0.1:8000/devices/enrol?code=")
    # The second link replaced the first.
    with services.db() as db, pytest.raises(devices.EnrolmentRefused):
        devices.pending_enrolment(db, tenant_id, match.group(2), services.clock.now())

    assert "Removed device KIOSK" in _ok(run("device", "remove", "KIOSK"))
    with services.db() as db:
        assert db.scalars(sa.select(Device)).all() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("device", "add", "--name", "x", "--trust-type", "Joined"), "trustType must be one of"),
        (("device", "add", "--name", "x", "--ext", "16=a"), "N from 1 to 15"),
        (("device", "add", "--name", "x", "--owner", "nobody@contoso.test"), "does not exist"),
        (("device", "show", "no-such-device"), "does not exist"),
        (("device", "remove", "no-such-device"), "does not exist"),
    ],
)
def test_bad_input_exits_1_with_one_line_and_writes_nothing(
    run: Any, services: Services, args: tuple[str, ...], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 1 and message in result.output
    with services.db() as db:
        assert db.scalars(sa.select(Device)).all() == []
