"""`limen user tap issue|show|revoke`: Temporary Access Passes from the shell.

The pass is printed once, when it is issued; Limen keeps only a keyed digest of it.
"""

from __future__ import annotations

import json
from datetime import datetime

import typer

from limen.cli._common import command_services, console, friendly_errors
from limen.domain.errors import ValidationFailed
from limen.domain.methods import tap
from limen.service import directory
from limen.service.methods import tap as tap_service
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction

tap_app = typer.Typer(
    help="Temporary Access Passes: time-limited passes to sign in without a password and register methods.",
    no_args_is_help=True,
)


def register(user_app: typer.Typer) -> None:
    """Add `tap` under `limen user`."""
    user_app.add_typer(tap_app, name="tap")


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(f"--start {text!r} is not an ISO 8601 time, e.g. 2026-05-04T09:00:00+00:00.") from None


def _describe(shape: dict[str, object]) -> str:
    uses = "one-time" if shape["isUsableOnce"] else "multi-use"
    state = "usable now" if shape["isUsable"] else f"not usable: {shape['methodUsabilityReason']}"
    return f"{uses}, valid from {shape['startDateTime']} for {shape['lifetimeInMinutes']} minutes ({state})"


@tap_app.command("issue")
def tap_issue(
    upn: str = typer.Argument(..., help="userPrincipalName or id."),
    lifetime_minutes: int | None = typer.Option(
        None, "--lifetime-minutes", help=f"{tap.MIN_LIFETIME_MINUTES}-{tap.MAX_LIFETIME_MINUTES}; default 60."
    ),
    one_time: bool = typer.Option(False, "--one-time", help="The pass works for one sign-in only."),
    start: str | None = typer.Option(None, "--start", help="ISO 8601 time with a zone; default now."),
    as_json: bool = typer.Option(False, "--json", help="Print Graph JSON (with the pass) instead of text."),
) -> None:
    """Issue a pass (replacing the user's previous one) and print it, once."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors():
            begins = _parse_start(start)
            with transaction(services.db) as db:
                user = directory.get_user_by_key(db, tenant_id, upn)
                method, value = tap_service.issue(
                    db, services, tenant_id, user.id, lifetime_minutes=lifetime_minutes, one_time=one_time, start=begins
                )
                shape = tap_service.graph_shape(method, services.clock.now(), value)
                name = user.user_principal_name
        if as_json:
            console.print_json(json.dumps(shape))
            return
        console.print(f"Temporary Access Pass for {name}: [bold]{value}[/bold]", soft_wrap=True, highlight=False)
        console.print(_describe(shape), soft_wrap=True, highlight=False)
        console.print("Give it to the user now: Limen does not keep it and cannot show it again.", soft_wrap=True)


@tap_app.command("show")
def tap_show(upn: str = typer.Argument(..., help="userPrincipalName or id.")) -> None:
    """Show whether the user has a pass and when it works (never the pass itself)."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), services.db() as db:
            user = directory.get_user_by_key(db, tenant_id, upn)
            method = tap_service.current(db, tenant_id, user.id)
            shape = tap_service.graph_shape(method, services.clock.now()) if method is not None else None
        if shape is None:
            console.print(f"{user.user_principal_name} has no Temporary Access Pass.", soft_wrap=True)
        else:
            console.print(f"{user.user_principal_name}: {_describe(shape)}", soft_wrap=True, highlight=False)


@tap_app.command("revoke")
def tap_revoke(upn: str = typer.Argument(..., help="userPrincipalName or id.")) -> None:
    """Delete the user's pass at once."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), transaction(services.db) as db:
            user = directory.get_user_by_key(db, tenant_id, upn)
            removed = tap_service.revoke(db, tenant_id, user.id)
        if removed:
            console.print(f"Revoked the Temporary Access Pass of {user.user_principal_name}.", soft_wrap=True)
        else:
            # Nothing to do is not an error: scripts may revoke whatever state the user is in.
            console.print(f"{user.user_principal_name} had no Temporary Access Pass.", soft_wrap=True)
