"""`limen policy lint` and `limen policy templates`: check stored Conditional Access policies, and create
the recommended ones in report-only (docs/conditional-access.md, "Templates and lint").

The lead wires these into `limen policy` with `policy_tools.register(policy_app)`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
import typer
from rich.table import Table
from sqlalchemy.orm import Session

from limen.cli._common import command_services, console, err_console, friendly_errors
from limen.domain.access.lint import Finding, Severity, lint
from limen.domain.access.templates import TEMPLATES, Template, find_template
from limen.service import conditional_access as ca
from limen.service.directory_users import get_user_by_key
from limen.service.policy_lint import directory_facts, stored_policies
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import ConditionalAccessPolicy

# Bind parameters per IN list: well under SQLite's and PostgreSQL's limits.

templates_app = typer.Typer(
    help="Recommended Conditional Access policies, created in report-only.", invoke_without_command=True
)


def register(policy_app: typer.Typer) -> None:
    policy_app.command("lint")(lint_command)
    policy_app.add_typer(templates_app, name="templates")


# ---------------------------------------------------------------- lint


def lint_command(
    acting: str | None = typer.Option(
        None, "--as", help="Your UPN or object id: also report policies that would block you from the admin portal."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as a JSON array (for scripts)."),
) -> None:
    """Check the tenant's policies for lock-outs, contradictions and unknown references; exit 1 on errors."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), services.db() as db:
            policies = stored_policies(db, tenant_id)
            acting_id = get_user_by_key(db, tenant_id, acting).id if acting else None
            facts = directory_facts(db, tenant_id, policies, acting_id)
    findings = lint(policies, directory=facts, acting_user_id=acting_id)
    if as_json:
        typer.echo(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        _print_findings(findings, len(policies))
    if any(f.severity is Severity.ERROR for f in findings):
        raise typer.Exit(1)


def _print_findings(findings: Sequence[Finding], policy_count: int) -> None:
    if not findings:
        console.print(f"[green]No findings[/green] in {policy_count} {_plural(policy_count, 'policy', 'policies')}.")
        return
    table = Table("severity", "policy", "code", "message", "path")
    for f in findings:
        colour = "red" if f.severity is Severity.ERROR else "yellow"
        table.add_row(f"[{colour}]{f.severity.value}[/{colour}]", f.display_name, f.code, f.message, f.path)
    console.print(table)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = len(findings) - errors
    console.print(
        f"{errors} {_plural(errors, 'error', 'errors')}, {warnings} {_plural(warnings, 'warning', 'warnings')} "
        f"in {policy_count} {_plural(policy_count, 'policy', 'policies')}."
    )


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


# ---------------------------------------------------------------- templates


@templates_app.callback()
def templates_list(ctx: typer.Context) -> None:
    """List the templates (run `limen policy templates create KEY...` to create them in report-only)."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table("key", "policy", "plan", "what it does")
    for template in TEMPLATES:
        table.add_row(template.key, template.display_name, template.plan.value, template.description)
    console.print(table)


@templates_app.command("show")
def templates_show(
    key: str = typer.Argument(..., help="Template key (see `limen policy templates`)."),
    exclude: list[str] = typer.Option([], "--exclude", "-x", help="UPN or object id to exclude (repeatable)."),
) -> None:
    """Print a template's Graph JSON (with the excluded accounts resolved), e.g. to edit and import it."""
    with friendly_errors():
        template = find_template(key)
    excluded = _resolve_users(exclude) if exclude else []
    typer.echo(json.dumps(template.build(excluded), indent=2))


@templates_app.command("create")
def templates_create(
    keys: list[str] = typer.Argument(None, help="Template keys (see `limen policy templates`)."),
    exclude: list[str] = typer.Option(
        [], "--exclude", "-x", help="Emergency-access account to exclude, as UPN or object id (repeatable)."
    ),
    create_all: bool = typer.Option(False, "--all", help="Create every template."),
    without_exclusion: bool = typer.Option(
        False, "--without-exclusion", help="Create the policies even though no emergency-access account is excluded."
    ),
) -> None:
    """Create templates as report-only policies; ones whose name already exists are skipped."""
    with friendly_errors():
        chosen = list(TEMPLATES) if create_all else [find_template(k) for k in dict.fromkeys(keys or [])]
    if not chosen:
        err_console.print("[red]error:[/red] name at least one template key, or pass --all.")
        raise typer.Exit(2)
    if not exclude and not without_exclusion:
        # Microsoft's first advice for every policy (SPEC §4.6); lint reports the same thing afterwards.
        err_console.print(
            "[red]error:[/red] name your emergency-access account with --exclude UPN, so that these policies can "
            "never lock everyone out once turned on (or pass --without-exclusion)."
        )
        raise typer.Exit(2)
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        now = services.clock.now()
        with friendly_errors(), transaction(services.db) as db:
            excluded = [get_user_by_key(db, tenant_id, key).id for key in exclude]
            created, skipped = _create(db, tenant_id, chosen, excluded, now)
    for name in created:
        console.print(f"Created [bold]{name}[/bold] (report-only)")
    for name in skipped:
        console.print(f"Skipped [bold]{name}[/bold]: a policy with that name exists")
    if created:
        console.print("Watch them in `limen logs` (reportOnly* results), then turn them on.")


def _resolve_users(keys: Sequence[str]) -> list[str]:
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), services.db() as db:
            return [get_user_by_key(db, tenant_id, key).id for key in keys]


def _create(
    db: Session, tenant_id: str, chosen: Sequence[Template], excluded: Sequence[str], now: datetime
) -> tuple[list[str], list[str]]:
    """Create the templates not created yet (by display name); the service checks plan, limits and schema."""
    existing = set(
        db.scalars(
            sa.select(ConditionalAccessPolicy.display_name).where(ConditionalAccessPolicy.tenant_id == tenant_id)
        )
    )
    created: list[str] = []
    skipped: list[str] = []
    for template in chosen:
        if template.display_name in existing:
            skipped.append(template.display_name)
            continue
        saved = ca.create_policy(db, tenant_id, template.build(excluded), now)
        for warning in saved.warnings:
            err_console.print(f"[yellow]warning:[/yellow] {template.display_name}: {warning}")
        created.append(template.display_name)
        existing.add(template.display_name)
    return created, skipped
