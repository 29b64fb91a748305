"""`limen what-if`: which Conditional Access policies would apply to a sign-in (Graph's evaluate)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from limen.cli._common import command_services, console, friendly_errors
from limen.service import directory, what_if
from limen.service.tenants import default_tenant_id


def register(app: typer.Typer) -> None:
    app.command("what-if")(what_if_command)


def what_if_command(
    user: str = typer.Option(..., "--user", "-u", help="userPrincipalName or id of the person signing in."),
    app: str | None = typer.Option(None, "--app", help="Application (client) id the sign-in is for."),
    user_action: str | None = typer.Option(
        None, "--user-action", help="registerSecurityInformation or registerOrJoinDevices instead of an app."
    ),
    auth_context: str | None = typer.Option(None, "--auth-context", help="Authentication context (c1...)."),
    client_app: str = typer.Option("browser", "--client-app", help="browser, mobileAppsAndDesktopClients, ..."),
    platform: str | None = typer.Option(None, "--platform", help="windows, macOS, iOS, android, linux."),
    ip: str | None = typer.Option(None, "--ip", help="IP address (its country is looked up)."),
    country: str | None = typer.Option(None, "--country", help="Two-letter country code."),
    sign_in_risk: str = typer.Option("none", "--sign-in-risk"),
    user_risk: str = typer.Option("none", "--user-risk"),
    applied_only: bool = typer.Option(False, "--applied-only", help="Only the policies that apply."),
    as_json: bool = typer.Option(False, "--json", help="Graph whatIfAnalysisResult JSON."),
) -> None:
    """Evaluate the tenant's enabled and report-only policies for a described sign-in."""
    targets = [t for t in (app, user_action, auth_context) if t]
    if len(targets) != 1:
        raise typer.BadParameter("give exactly one of --app, --user-action, --auth-context")
    if app:
        context: dict[str, Any] = {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [app]}
    elif user_action:
        context = {"@odata.type": "#microsoft.graph.userActionContext", "userAction": user_action}
    else:
        context = {"@odata.type": "#microsoft.graph.authContext", "authenticationContextValue": auth_context}
    conditions: dict[str, Any] = {
        "clientAppType": client_app,
        "signInRiskLevel": sign_in_risk,
        "userRiskLevel": user_risk,
    }
    if platform:
        conditions["devicePlatform"] = platform
    if ip:
        conditions["ipAddress"] = ip
    if country:
        conditions["country"] = country
    with command_services() as services, friendly_errors():
        tenant_id = default_tenant_id(services)
        with services.db() as db:
            person = directory.get_user_by_key(db, tenant_id, user)
            user_id = person.id
        body = {
            "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user_id},
            "signInContext": context,
            "signInConditions": conditions,
            "appliedPoliciesOnly": applied_only,
        }
        results = what_if.evaluate_request(services, tenant_id, body)
    if as_json:
        typer.echo(json.dumps({"value": results}, indent=2))
        return
    table = Table("policy", "state", "applies", "grant controls", "reasons")
    for result in results:
        grant = result.get("grantControls") or {}
        controls = ", ".join(grant.get("builtInControls") or []) or "-"
        table.add_row(
            str(result.get("displayName", "")),
            str(result.get("state", "")),
            "[green]yes[/green]" if result.get("policyApplies") else "no",
            controls,
            str(result.get("analysisReasons", "")),
        )
    console.print(table)
    if not results:
        console.print("No enabled or report-only Conditional Access policies.")
