"""`limen app ...`: register OIDC applications from the command line."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from limen.cli._common import command_services, console, friendly_errors
from limen.service import apps as apps_service
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction

app_app = typer.Typer(help="Applications (OpenID Connect clients).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(app_app, name="app")


@app_app.command("add")
def add(
    name: str = typer.Argument(..., help="Display name shown on the sign-in page."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", "-r", help="Exact redirect URI (repeatable)."),
    public: bool = typer.Option(False, "--public", help="Public client (SPA/native): no secret, PKCE S256 required."),
    logout_url: str | None = typer.Option(None, help="Where to return after RP-initiated logout."),
    app_id: str | None = typer.Option(None, help="Use this client id (GUID) instead of a generated one."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (for scripts)."),
) -> None:
    """Register an application and print its client id (and secret, once, for confidential clients)."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        now = services.clock.now()
        with friendly_errors(), transaction(services.db) as db:
            application = apps_service.create_application(
                db,
                tenant_id=tenant_id,
                display_name=name,
                now=now,
                web_redirect_uris=[] if public else list(redirect_uri),
                public_client_redirect_uris=list(redirect_uri) if public else [],
                is_public_client=public,
                logout_url=logout_url,
                app_id=app_id,
            )
            secret = (
                None if public else apps_service.add_password(db, application, now=now, display_name="limen app add")
            )
        result = {"appId": application.app_id, "displayName": application.display_name, "publicClient": public}
        if secret is not None:
            result["clientSecret"] = secret.secret_text
            result["secretExpires"] = secret.credential.end_at.isoformat()
        if as_json:
            typer.echo(json.dumps(result))
            return
        console.print(f"Registered [bold]{application.display_name}[/bold]")
        console.print(f"  client id:     {application.app_id}")
        if secret is not None:
            console.print(f"  client secret: {secret.secret_text}  (shown once; store it now)")


@app_app.command("list")
def list_apps() -> None:
    """List registered applications."""
    import sqlalchemy as sa

    from limen.store.models import Application

    with command_services() as services:
        tenant_id = default_tenant_id(services)
        table = Table("client id", "name", "type", "redirect URIs")
        with services.db() as db:
            for application in db.scalars(
                sa.select(Application).where(Application.tenant_id == tenant_id).order_by(Application.display_name)
            ):
                table.add_row(
                    application.app_id,
                    application.display_name,
                    "public" if application.is_public_client else "confidential",
                    "\n".join(apps_service.all_redirect_uris(application)),
                )
        console.print(table)
