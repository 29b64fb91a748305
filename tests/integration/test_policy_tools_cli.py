"""`limen policy lint` and `limen policy templates` (limen/cli/policy_tools.py) against a real database.

The commands are mounted on a Typer app built here, as the lead mounts them on `limen policy`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner, Result

from limen.cli.policy_tools import register
from limen.domain.access.templates import find_template
from limen.domain.directory import GLOBAL_ADMINISTRATOR
from limen.domain.ids import new_id
from limen.service import conditional_access as ca
from limen.service.context import Services
from limen.service.directory import add_member, create_group, create_role_assignment
from limen.store.db import transaction
from limen.store.models import ConditionalAccessPolicy, Tenant, User
from tests.conftest import make_env
from tests.support.seed import add_user

ADMIN_UPN = "admin@contoso.test"
BREAK_GLASS_UPN = "break.glass@contoso.test"


@pytest.fixture
def env(services: Services, tmp_path: Path, database_url: str) -> dict[str, str]:
    values = make_env(tmp_path, database_url, COLUMNS="250")
    values["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    values["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)
    return values


@pytest.fixture
def run(env: dict[str, str]) -> Any:
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


@pytest.fixture
def break_glass(services: Services) -> User:
    return add_user(services, BREAK_GLASS_UPN, name="Break Glass", mail=None)


def stored(services: Services) -> list[ConditionalAccessPolicy]:
    with services.db() as db:
        return list(db.scalars(sa.select(ConditionalAccessPolicy).order_by(ConditionalAccessPolicy.display_name)))


def add_policy(services: Services, tenant_id: str, document: dict[str, Any]) -> str:
    with transaction(services.db) as db:
        return str(ca.create_policy(db, tenant_id, document, services.clock.now()).row.id)


def add_location(services: Services, tenant_id: str) -> str:
    body = {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": "Office",
        "isTrusted": True,
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}],
    }
    with transaction(services.db) as db:
        return str(ca.create_named_location(db, tenant_id, body, services.clock.now()).row.id)


def enabled(template_key: str, excluded: list[str]) -> dict[str, Any]:
    document = find_template(template_key).build(excluded)
    document["state"] = "enabled"
    return document


# ------------------------------------------------------------------ templates


def test_templates_lists_every_template(run: Any) -> None:
    result = run("templates")
    assert result.exit_code == 0, result.output
    for key in ("require-mfa-admins", "block-legacy-authentication", "require-password-change-high-risk-users"):
        assert key in result.stdout


def test_templates_show_prints_graph_json_with_the_account_resolved(run: Any, break_glass: User) -> None:
    result = run("templates", "show", "block-legacy-authentication", "--exclude", BREAK_GLASS_UPN.upper())
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["state"] == "enabledForReportingButNotEnforced"
    assert document["conditions"]["users"]["excludeUsers"] == [break_glass.id]


def test_create_makes_report_only_policies_excluding_the_emergency_account(
    run: Any, services: Services, break_glass: User
) -> None:
    result = run("templates", "create", "require-mfa-all-users", "block-legacy-authentication", "-x", BREAK_GLASS_UPN)
    assert result.exit_code == 0, result.output
    assert "Created" in result.stdout and "report-only" in result.stdout
    rows = stored(services)
    assert [r.display_name for r in rows] == [
        "Block legacy authentication",
        "Require multifactor authentication for all users",
    ]
    for row in rows:
        assert row.state == row.document["state"] == "enabledForReportingButNotEnforced"
        assert row.document["conditions"]["users"]["excludeUsers"] == [break_glass.id]
        assert row.document["id"] == row.id
    again = run("templates", "create", "block-legacy-authentication", "-x", BREAK_GLASS_UPN)
    assert again.exit_code == 0 and "Skipped" in again.stdout
    assert len(stored(services)) == 2


def test_create_all_then_lint_is_clean(run: Any, services: Services, break_glass: User) -> None:
    assert run("templates", "create", "--all", "-x", BREAK_GLASS_UPN).exit_code == 0
    assert len(stored(services)) == 6
    result = run("lint")
    assert result.exit_code == 0, result.output
    assert "No findings" in result.stdout and "6 policies" in result.stdout


def test_create_refuses_without_an_emergency_account_unless_told(run: Any, services: Services) -> None:
    refused = run("templates", "create", "require-mfa-all-users")
    assert refused.exit_code == 2 and "--exclude" in refused.output
    assert stored(services) == []
    forced = run("templates", "create", "require-mfa-all-users", "--without-exclusion")
    assert forced.exit_code == 0, forced.output
    assert [r.document["conditions"]["users"]["excludeUsers"] for r in stored(services)] == [[]]


def test_create_rejects_unknown_keys_and_accounts_and_writes_nothing(
    run: Any, services: Services, break_glass: User
) -> None:
    unknown_key = run("templates", "create", "block-everyone", "-x", BREAK_GLASS_UPN)
    assert unknown_key.exit_code == 1 and "block-legacy-authentication" in unknown_key.output
    unknown_user = run("templates", "create", "require-mfa-all-users", "-x", "nobody@contoso.test")
    assert unknown_user.exit_code == 1 and "nobody@contoso.test" in unknown_user.output
    assert run("templates", "create", "-x", BREAK_GLASS_UPN).exit_code == 2
    assert stored(services) == []


def test_risk_templates_need_plan_p2(run: Any, services: Services, tenant_id: str, break_glass: User) -> None:
    with transaction(services.db) as db:
        db.execute(sa.update(Tenant).where(Tenant.id == tenant_id).values(plan="p1"))
    result = run("templates", "create", "--all", "-x", BREAK_GLASS_UPN)
    assert result.exit_code == 1 and "need plan p2" in result.output
    assert stored(services) == []  # one transaction: nothing half-created
    assert run("templates", "create", "require-mfa-admins", "-x", BREAK_GLASS_UPN).exit_code == 0


# ------------------------------------------------------------------ lint


def test_lint_with_no_policies(run: Any) -> None:
    result = run("lint")
    assert result.exit_code == 0 and "No findings in 0 policies" in result.stdout


def test_lint_exits_1_on_an_enabled_policy_that_could_lock_everyone_out(
    run: Any, services: Services, tenant_id: str
) -> None:
    policy_id = add_policy(services, tenant_id, enabled("require-mfa-all-users", []))
    result = run("lint")
    assert result.exit_code == 1
    assert "couldLockEveryoneOut" in result.stdout and "1 error, 0 warnings in 1 policy" in result.stdout
    findings = json.loads(run("lint", "--json").stdout)
    assert [(f["policyId"], f["code"], f["severity"]) for f in findings] == [
        (policy_id, "couldLockEveryoneOut", "error")
    ]


def test_lint_reports_unknown_references_as_warnings_with_exit_0(
    run: Any, services: Services, tenant_id: str, break_glass: User
) -> None:
    document = enabled("require-mfa-all-users", [break_glass.id])
    missing_group, missing_app = new_id(), new_id()
    document["conditions"]["users"]["excludeGroups"] = [missing_group]
    document["conditions"]["applications"]["excludeApplications"] = [missing_app]
    add_policy(services, tenant_id, document)
    result = run("lint", "--json")
    assert result.exit_code == 0, result.output
    found = {(f["code"], f["path"]) for f in json.loads(result.stdout)}
    assert found == {
        ("unknownGroup", "conditions.users.excludeGroups[0]"),
        ("unknownApplication", "conditions.applications.excludeApplications[0]"),
    }


def test_lint_as_an_admin_reports_a_block_of_the_admin_portal(
    run: Any, services: Services, tenant_id: str, break_glass: User
) -> None:
    admin = add_user(services, ADMIN_UPN, name="Admin", mail=None)
    now = services.clock.now()
    with transaction(services.db) as db:
        # The admin holds Global Administrator through a nested group: lint must look through both.
        outer = create_group(db, tenant_id, now, display_name="Admins")
        inner = create_group(db, tenant_id, now, display_name="Tier 0")
        add_member(db, tenant_id, outer.id, inner.id)
        add_member(db, tenant_id, inner.id, admin.id)
        create_role_assignment(db, tenant_id, now, principal_id=outer.id, role_definition_id=GLOBAL_ADMINISTRATOR)
    document = enabled("block-legacy-authentication", [break_glass.id])
    document["conditions"]["clientAppTypes"] = ["all"]
    document["conditions"]["users"] = {"includeRoles": [GLOBAL_ADMINISTRATOR], "excludeUsers": [break_glass.id]}
    policy_id = add_policy(services, tenant_id, document)
    assert run("lint").exit_code == 0  # nobody acting: the rule is not checked
    result = run("lint", "--as", ADMIN_UPN, "--json")
    assert result.exit_code == 1
    assert [f["code"] for f in json.loads(result.stdout)] == ["blocksAdminPortalForActingAdmin"]
    with transaction(services.db) as db:
        patch = {"conditions": {"users": {"excludeGroups": [inner.id]}}}
        ca.update_policy(db, tenant_id, policy_id, patch, services.clock.now())
    assert run("lint", "--as", ADMIN_UPN).exit_code == 0
    assert run("lint", "--as", "nobody@contoso.test").exit_code == 1


def test_lint_checks_named_locations_and_custom_strength_references(
    run: Any, services: Services, tenant_id: str, break_glass: User
) -> None:
    office, missing = add_location(services, tenant_id), new_id()
    with transaction(services.db) as db:
        body = {"displayName": "Keys only", "allowedCombinations": ["fido2"]}
        strength = str(ca.create_strength(db, tenant_id, body, services.clock.now()).row.id)
    document = enabled("require-mfa-all-users", [break_glass.id])
    document["grantControls"]["builtInControls"] = []
    document["grantControls"]["authenticationStrength"] = {"id": strength}
    document["conditions"]["locations"] = {"includeLocations": ["All"], "excludeLocations": [office, "AllTrusted"]}
    add_policy(services, tenant_id, document)
    assert run("lint").exit_code == 0 and "No findings" in run("lint").stdout
    document["conditions"]["locations"]["excludeLocations"] = [missing]
    document["displayName"] = "Second"
    add_policy(services, tenant_id, document)
    findings = json.loads(run("lint", "--json").stdout)
    assert [(f["displayName"], f["code"], f["path"]) for f in findings] == [
        ("Second", "unknownNamedLocation", "conditions.locations.excludeLocations[0]")
    ]
