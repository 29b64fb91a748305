"""`limen security-defaults on|off|status`: the one-switch baseline (docs/security-defaults.md)."""

from __future__ import annotations

import typer

from limen.cli._common import command_services, console, friendly_errors
from limen.service import security_defaults
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction

app = typer.Typer(help="Security defaults: MFA registration for everyone, MFA for admins, no legacy auth.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="security-defaults", no_args_is_help=True)


def _set(enabled: bool) -> None:
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), transaction(services.db) as db:
            tenant = security_defaults.set_enabled(db, tenant_id, enabled)
            days = tenant.registration_grace_days
        if enabled:
            console.print(
                "Security defaults are [bold green]on[/bold green]: every user registers an authenticator app "
                f"within {days} days of their next sign-in, admins do MFA at every sign-in, legacy "
                "authentication is blocked."
            )
        else:
            console.print("Security defaults are [bold red]off[/bold red]. Protect sign-ins with Conditional Access.")


@app.command("on")
def on() -> None:
    """Turn security defaults on (refused while a Conditional Access policy is enabled)."""
    _set(True)


@app.command("off")
def off() -> None:
    """Turn security defaults off."""
    _set(False)


@app.command("status")
def status() -> None:
    """Show whether security defaults are on."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with services.db() as db:
            enabled = security_defaults.is_enabled(db, tenant_id)
            policies = security_defaults.enabled_policies(db, tenant_id)
    console.print(f"Security defaults: {'[bold green]on[/bold green]' if enabled else '[bold red]off[/bold red]'}")
    if policies:
        console.print(f"Enabled Conditional Access policies: {', '.join(policies)}")
