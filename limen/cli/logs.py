"""`limen logs`: the sign-in log, newest first."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from limen.cli._common import command_services, console
from limen.service import signin_log
from limen.service.tenants import default_tenant_id


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)


def logs(
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="How many rows."),
    user: str | None = typer.Option(None, "--user", "-u", help="Only this userPrincipalName."),
    failures: bool = typer.Option(False, "--failures", help="Only failed sign-ins."),
    as_json: bool = typer.Option(False, "--json", help="Graph signIn JSON, one object per line."),
) -> None:
    """List sign-in attempts with their result, application, IP and methods."""
    with command_services() as services:
        with services.db() as db:
            rows = signin_log.recent(
                db, default_tenant_id(services), limit=limit, user_principal_name=user, failures_only=failures
            )
            if as_json:
                for row in rows:
                    typer.echo(json.dumps(signin_log.to_graph(row)))
                return
            table = Table("time (UTC)", "user", "application", "IP", "client app", "result", "requirement")
            for row in rows:
                result = (
                    "[green]success[/green]"
                    if row.error_code == 0
                    else f"[red]{row.error_code}[/red] {row.failure_reason[:60]}"
                )
                table.add_row(
                    f"{row.created_at:%Y-%m-%d %H:%M:%S}",
                    row.user_principal_name,
                    row.app_display_name,
                    row.ip_address,
                    row.client_app_used,
                    result,
                    row.authentication_requirement.replace("FactorAuthentication", ""),
                )
        console.print(table)
