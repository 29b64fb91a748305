"""`limen policy import|export|list` through Typer's CliRunner against the test database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from limen.cli import app
from limen.domain.ids import new_id
from limen.service import conditional_access as ca
from limen.service import security_defaults
from limen.service.conditional_access_import import import_sources, read_source
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import Tenant
from tests.conftest import make_env

LOCATION_ID = "16c50f86-4c85-4dd4-867d-f07ee473234c"
POLICY_ID = "809741fe-fb1b-4746-9ff0-83a978a4c891"

LOCATION = {
    "@odata.type": "#microsoft.graph.countryNamedLocation",
    "id": LOCATION_ID,
    "displayName": "Allowed countries",
    "createdDateTime": "2026-07-31T04:12:03.2698345Z",
    "countriesAndRegions": ["NL", "BE"],
    "includeUnknownCountriesAndRegions": False,
    "countryLookupMethod": "clientIpAddress",
}


def policy(name: str, state: str = "enabled", **extra: Any) -> dict[str, Any]:
    return {
        "displayName": name,
        "state": state,
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeGroups": ["<EmergencyAccessGroup>"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
            "locations": {"includeLocations": ["All"], "excludeLocations": [LOCATION_ID]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        **extra,
    }


@pytest.fixture
def run(services: Services, tmp_path: Path, database_url: str) -> Any:
    env = {**make_env(tmp_path, database_url), "COLUMNS": "250"}
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


@pytest.fixture
def export_folder(tmp_path: Path) -> Path:
    """Files as Entra exports and PowerShell scripts write them: UTF-16, UTF-8 with a BOM, arrays, envelopes."""
    folder = tmp_path / "export"
    (folder / "locations").mkdir(parents=True)
    (folder / "locations" / "allowed.json").write_bytes(json.dumps(LOCATION).encode("utf-16"))
    (folder / "block.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(policy("Block outside allowed countries", id=POLICY_ID)).encode("utf-8")
    )
    (folder / "many.json").write_text(
        json.dumps({"@odata.context": "x", "value": [policy("Second", "disabled"), policy("Broken", "on")]}),
        encoding="utf-8",
    )
    (folder / "array.json").write_text(
        json.dumps([policy("Third", "enabledForReportingButNotEnforced")]), encoding="utf-8"
    )
    (folder / "notes.txt").write_text("not JSON, not *.json: ignored", encoding="utf-8")
    return folder


def test_import_a_folder_reports_per_file_and_keeps_ids(
    run: Any, export_folder: Path, services: Services, tenant_id: str
) -> None:
    result = run("policy", "import", str(export_folder))
    assert result.exit_code == 1, result.output  # one object was rejected
    out = result.stdout
    assert "✓ " in out and f"{export_folder / 'block.json'}: 1 imported, 0 rejected" in out
    assert f"{export_folder / 'many.json'}: 1 imported, 1 rejected" in out
    assert "rejected #2 policy 'Broken': state: 'on' is not a valid conditionalAccessPolicyState value" in out
    assert "warning: conditions.users.excludeGroups[0]: '<EmergencyAccessGroup>' is not an object id" in out
    assert "Imported 3 policies, 1 named locations and 0 authentication strengths; 1 rejected" in out
    with services.db() as db:
        policies = {row.display_name: row for row in ca.list_policies(db, tenant_id)}
        locations = ca.list_named_locations(db, tenant_id)
    assert set(policies) == {"Block outside allowed countries", "Second", "Third"}
    # Ids from the files are kept, so the policy still names its location.
    assert policies["Block outside allowed countries"].id == POLICY_ID
    assert [location.id for location in locations] == [LOCATION_ID]
    assert policies["Block outside allowed countries"].document["conditions"]["locations"]["excludeLocations"] == [
        LOCATION_ID
    ]


def test_a_dry_run_saves_nothing(run: Any, export_folder: Path, services: Services, tenant_id: str) -> None:
    result = run("policy", "import", "--dry-run", str(export_folder / "block.json"), str(export_folder / "locations"))
    assert result.exit_code == 0, result.output
    assert (
        "Would import 1 policies, 1 named locations" in result.stdout and "Dry run: nothing was saved." in result.stdout
    )
    with services.db() as db:
        assert ca.list_policies(db, tenant_id) == [] and ca.list_named_locations(db, tenant_id) == []
        assert ca.policy_version(db, tenant_id) == 0


def test_enabled_policies_wait_for_security_defaults_or_come_in_report_only(
    run: Any, export_folder: Path, services: Services, tenant_id: str
) -> None:
    with transaction(services.db) as db:
        security_defaults.set_enabled(db, tenant_id, True)
    block = str(export_folder / "block.json")
    result = run("policy", "import", block)
    assert result.exit_code == 1
    assert "can't be enabled while security defaults are on" in result.stdout
    assert "--as-report-only" in result.stderr
    result = run("policy", "import", "--as-report-only", block)
    assert result.exit_code == 0, result.output
    assert "warning: state: was enabled; imported in report-only mode" in result.stdout
    with services.db() as db:
        assert [row.state for row in ca.list_policies(db, tenant_id)] == ["enabledForReportingButNotEnforced"]


def test_unreadable_files_are_rejected_with_the_reason(run: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"displayName": "x",', encoding="utf-8")
    (tmp_path / "odd.json").write_text('{"hello": "world"}', encoding="utf-8")
    result = run("policy", "import", str(tmp_path / "bad.json"), str(tmp_path / "odd.json"))
    assert result.exit_code == 1
    assert (
        "bad.json: rejected: not valid JSON: Expecting property name enclosed in double quotes at line 1"
        in result.stdout
    )
    assert (
        "rejected #1 object: not a Conditional Access policy, named location or authentication strength"
        in result.stdout
    )
    assert run("policy", "import", str(tmp_path / "nothing-here")).exit_code != 0


def test_export_and_list(run: Any, export_folder: Path, tmp_path: Path) -> None:
    assert run("policy", "import", str(export_folder / "block.json"), str(export_folder / "locations")).exit_code == 0
    listed = run("policy", "list")
    assert listed.exit_code == 0 and "Block outside allowed countries" in listed.stdout and "on" in listed.stdout
    as_json = json.loads(run("policy", "list", "--json").stdout)
    assert [item["id"] for item in as_json] == [POLICY_ID]

    exported = json.loads(run("policy", "export").stdout)
    assert [item.get("@odata.type", "policy") for item in exported["value"]] == [
        "#microsoft.graph.countryNamedLocation",
        "policy",
    ]
    assert exported["value"][1]["id"] == POLICY_ID and exported["value"][1]["createdDateTime"]

    out_file = tmp_path / "all.json"
    assert run("policy", "export", "--output", str(out_file)).exit_code == 0
    assert json.loads(out_file.read_text("utf-8")) == exported
    out_dir = tmp_path / "by-kind"
    out_dir.mkdir()
    assert run("policy", "export", "-o", str(out_dir)).exit_code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "authenticationStrengthPolicies.json",
        "namedLocations.json",
        "policies.json",
    ]
    assert json.loads((out_dir / "policies.json").read_text("utf-8"))["value"] == exported["value"][1:]


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("createdDateTime", "modifiedDateTime")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_export_then_import_elsewhere_gives_the_same_objects(
    run: Any, export_folder: Path, tmp_path: Path, services: Services, tenant_id: str
) -> None:
    assert run("policy", "import", str(export_folder / "block.json"), str(export_folder / "locations")).exit_code == 0
    out_file = tmp_path / "all.json"
    assert run("policy", "export", "-o", str(out_file)).exit_code == 0
    first = json.loads(out_file.read_text("utf-8"))
    with transaction(services.db) as db:
        for row in ca.list_policies(db, tenant_id):
            ca.delete_policy(db, tenant_id, row.id)
        for location in ca.list_named_locations(db, tenant_id):
            ca.delete_named_location(db, tenant_id, location.id)
    result = run("policy", "import", str(out_file))
    assert result.exit_code == 0, result.output
    second = json.loads(run("policy", "export").stdout)
    # The CLI stamps objects with the real clock: a second may pass between the two imports.
    assert _without_times(second) == _without_times(first)


def test_ids_another_tenant_holds_are_replaced_and_followed(
    run: Any, export_folder: Path, services: Services, tenant_id: str
) -> None:
    """The same export imported into a second tenant: new ids, and its policy names its own location."""
    assert run("policy", "import", str(export_folder / "block.json"), str(export_folder / "locations")).exit_code == 0
    with transaction(services.db) as db:
        other = Tenant(
            id=new_id(),
            display_name="Fabrikam",
            default_domain="fabrikam.test",
            plan="p2",
            created_at=services.clock.now(),
        )
        db.add(other)
        db.flush()
        sources = [read_source(export_folder / "locations" / "allowed.json"), read_source(export_folder / "block.json")]
        reports = import_sources(db, other.id, sources, services.clock.now(), as_report_only=True)
        assert all(result.imported for report in reports for result in report.results)
        [location] = ca.list_named_locations(db, other.id)
        [imported] = ca.list_policies(db, other.id)
    assert location.id != LOCATION_ID and imported.id != POLICY_ID
    assert imported.document["conditions"]["locations"]["excludeLocations"] == [location.id]
