"""`limen user|group|role ...` and `limen import`: directory administration from the shell.

Each command is one unit of work: it either completes or changes nothing, and bad input exits with
status 1 and a one-line reason (friendly_errors).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from limen.cli._common import all_pages, command_services, console, err_console, friendly_errors
from limen.domain.directory import find_role, role_catalogue
from limen.domain.errors import NotFound, ValidationFailed
from limen.domain.ids import parse_guid
from limen.service import directory
from limen.service.context import Services
from limen.service.directory_import import ImportReport, import_directory
from limen.service.import_records import read_records
from limen.service.methods.store import has_registered_method
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import Group, User
from limen.web.graph.shapes import group_json, role_assignment_json, user_json

user_app = typer.Typer(help="Users of the directory.", no_args_is_help=True)
group_app = typer.Typer(help="Groups and their (nested) members.", no_args_is_help=True)
role_app = typer.Typer(help="Directory role assignments (Entra built-in roles).", no_args_is_help=True)

#: How many row errors `limen import` prints; the rest are counted.
SHOWN_ERRORS = 50


def register(app: typer.Typer) -> None:
    """Add the `user`, `group`, `role` and `import` commands to the `limen` app."""
    app.add_typer(user_app, name="user")
    app.add_typer(group_app, name="group")
    app.add_typer(role_app, name="role")
    app.command("import")(import_command)


@contextmanager
def _context() -> Iterator[tuple[Services, str]]:
    """Services and the default tenant for one command; the engine is closed when the command ends."""
    with command_services() as services:
        yield services, default_tenant_id(services)


def _ask_password(given: str | None, prompt: bool) -> str | None:
    if given is not None and prompt:
        raise ValidationFailed("Use either --password or --password-prompt, not both.")
    if prompt:
        # Hidden input, asked twice: a typo would otherwise lock the user out at once.
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    return given


# ---- users -------------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    upn: str = typer.Argument(..., help="userPrincipalName, e.g. ada@example.com."),
    name: str = typer.Option(..., "--name", "-n", help="Display name."),
    password: str | None = typer.Option(None, "--password", "-p", help="Initial password (visible in history)."),
    password_prompt: bool = typer.Option(False, "--password-prompt", help="Ask for the password, hidden."),
    mail: str | None = typer.Option(None, "--mail", help="E-mail address."),
    mobile: str | None = typer.Option(None, "--mobile", help="Mobile phone, e.g. +44 20 7946 0000."),
    given_name: str | None = typer.Option(None, "--given-name"),
    surname: str | None = typer.Option(None, "--surname"),
    guest: bool = typer.Option(False, "--guest", help="userType Guest instead of Member."),
) -> None:
    """Create a user."""
    with _context() as (services, tenant_id):
        with friendly_errors():
            secret = _ask_password(password, password_prompt)
            with transaction(services.db) as db:
                user = directory.create_user(
                    db,
                    tenant_id,
                    services.clock.now(),
                    user_principal_name=upn,
                    display_name=name,
                    hasher=services.hasher,
                    password=secret,
                    mail=mail,
                    mobile_phone=mobile,
                    given_name=given_name,
                    surname=surname,
                    user_type="Guest" if guest else "Member",
                )
        console.print(f"Created user [bold]{user.user_principal_name}[/bold] (id {user.id}).")


@user_app.command("list")
def user_list(
    as_json: bool = typer.Option(False, "--json", help="Print Graph JSON instead of a table."),
) -> None:
    """List every user, by userPrincipalName."""
    with _context() as (services, tenant_id):
        with services.db() as db:
            users = list(all_pages(lambda token: directory.list_users(db, tenant_id, top=999, skiptoken=token)))
        if as_json:
            console.print_json(json.dumps([user_json(u) for u in users]))
            return
        table = Table("userPrincipalName", "displayName", "type", "enabled", "mail", "id")
        for user in users:
            enabled = "yes" if user.account_enabled else "[red]no[/red]"
            table.add_row(
                user.user_principal_name, user.display_name, user.user_type, enabled, user.mail or "", user.id
            )
        console.print(table)


def _set_enabled(upn: str, enabled: bool) -> None:
    with _context() as (services, tenant_id):
        with friendly_errors(), transaction(services.db) as db:
            user = directory.set_account_enabled(db, tenant_id, upn, enabled, services.clock.now())
        console.print(f"{'Enabled' if enabled else 'Disabled'} sign-in for {user.user_principal_name}.")
    if not enabled:
        console.print("Their sessions and refresh tokens are revoked.")


@user_app.command("disable")
def user_disable(upn: str = typer.Argument(..., help="userPrincipalName or id.")) -> None:
    """Block sign-in for a user (accountEnabled false)."""
    _set_enabled(upn, False)


@user_app.command("enable")
def user_enable(upn: str = typer.Argument(..., help="userPrincipalName or id.")) -> None:
    """Allow sign-in again (accountEnabled true)."""
    _set_enabled(upn, True)


@user_app.command("set-password")
def user_set_password(
    upn: str = typer.Argument(..., help="userPrincipalName or id."),
    password: str | None = typer.Option(None, "--password", "-p", help="New password; asked hidden if omitted."),
) -> None:
    """Set a user's password (only its argon2id hash is stored)."""
    with _context() as (services, tenant_id):
        with friendly_errors():
            with services.db() as db:
                directory.get_user_by_key(db, tenant_id, upn)  # fail before asking for a password
            secret = _ask_password(None, True) if password is None else password
            assert secret is not None
            with transaction(services.db) as db:
                user = directory.set_password(db, tenant_id, upn, secret, services.clock.now(), services.hasher)
        console.print(f"Password set for {user.user_principal_name}; their sessions and refresh tokens are revoked.")


@user_app.command("revoke-sessions")
def user_revoke_sessions(upn: str = typer.Argument(..., help="userPrincipalName or id.")) -> None:
    """Sign a user out everywhere: end their sessions and refresh tokens (Graph revokeSignInSessions)."""
    with _context() as (services, tenant_id):
        with friendly_errors(), transaction(services.db) as db:
            user, ended = directory.revoke_sign_in_sessions(db, tenant_id, upn, services.clock.now())
        console.print(
            f"Revoked {ended} session(s) of {user.user_principal_name} and their refresh tokens; "
            "access tokens already issued run until they expire."
        )


@user_app.command("require-mfa-registration")
def user_require_mfa_registration(
    upn: str = typer.Argument(..., help="userPrincipalName or id."),
    off: bool = typer.Option(False, "--off", help="Withdraw the requirement instead."),
) -> None:
    """Make a user register an authentication method at their next sign-in (before it completes)."""
    with _context() as (services, tenant_id):
        with friendly_errors(), transaction(services.db) as db:
            user = directory.get_user_by_key(db, tenant_id, upn)
            user.mfa_registration_required = not off
            registered = has_registered_method(db, tenant_id, user.id)
        if off:
            console.print(f"{user.user_principal_name} no longer has to register a method.")
        elif registered:
            console.print(f"{user.user_principal_name} already has a method registered: nothing to ask at sign-in.")
        else:
            console.print(f"{user.user_principal_name} must register a method at their next sign-in.")


# ---- groups ------------------------------------------------------------------------------------


def _find_group(db: Session, tenant_id: str, key: str) -> Group:
    """A group by id, or by display name when exactly one group has it."""
    if parse_guid(key) is not None:
        return directory.get_group(db, tenant_id, key)
    groups = directory.groups_named(db, tenant_id, key)
    if not groups:
        raise ValidationFailed(f"No group is named {key!r}.")
    if len(groups) > 1:
        ids = ", ".join(g.id for g in groups)
        raise ValidationFailed(f"{len(groups)} groups are named {key!r} ({ids}): give the id instead.")
    return groups[0]


def _find_principal(db: Session, tenant_id: str, key: str) -> User | Group:
    """A user (UPN or id) or a group (id or unique name)."""
    if parse_guid(key) is not None:
        return directory.get_directory_object(db, tenant_id, key)
    if "@" in key:
        user = directory.find_by_upn(db, tenant_id, key)
        if user is None:
            raise ValidationFailed(f"No user has the userPrincipalName {key!r}.")
        return user
    return _find_group(db, tenant_id, key)


def _label(obj: User | Group) -> str:
    return obj.user_principal_name if isinstance(obj, User) else f"group {obj.display_name!r}"


def _principal_label(db: Session, tenant_id: str, principal_id: str) -> str:
    try:
        return _label(directory.get_directory_object(db, tenant_id, principal_id))
    except NotFound:  # deletes remove assignments; this only shows rows written behind Limen's back
        return f"(missing object {principal_id})"


@group_app.command("add")
def group_add(
    name: str = typer.Argument(..., help="Display name."),
    description: str | None = typer.Option(None, "--description", "-d"),
) -> None:
    """Create a security group."""
    with _context() as (services, tenant_id):
        with friendly_errors(), transaction(services.db) as db:
            group = directory.create_group(
                db, tenant_id, services.clock.now(), display_name=name, description=description
            )
        console.print(f"Created group [bold]{group.display_name}[/bold] (id {group.id}).")


@group_app.command("add-member")
def group_add_member(
    group: str = typer.Argument(..., help="Group id, or its name if unique."),
    member: str = typer.Argument(..., help="User (UPN or id) or group (id or unique name)."),
) -> None:
    """Add a user or a group to a group (nesting may not form a cycle)."""
    with _context() as (services, tenant_id):
        with friendly_errors(), transaction(services.db) as db:
            target = _find_group(db, tenant_id, group)
            added = _find_principal(db, tenant_id, member)
            directory.add_member(db, tenant_id, target.id, added.id)
        console.print(f"Added {_label(added)} to group {target.display_name!r}.")


@group_app.command("list")
def group_list(
    as_json: bool = typer.Option(False, "--json", help="Print Graph JSON instead of a table."),
) -> None:
    """List every group with its number of direct members."""
    with _context() as (services, tenant_id):
        with services.db() as db:
            counts = directory.member_counts(db, tenant_id)
            groups = all_pages(lambda token: directory.list_groups(db, tenant_id, top=999, skiptoken=token))
            rows = [(g, counts.get(g.id, 0)) for g in groups]
        if as_json:
            console.print_json(json.dumps([group_json(g) for g, _ in rows]))
            return
        table = Table("displayName", "members", "description", "id")
        for group, count in rows:
            table.add_row(group.display_name, str(count), group.description or "", group.id)
        console.print(table)


# ---- roles -------------------------------------------------------------------------------------


@role_app.command("assign")
def role_assign(
    principal: str = typer.Argument(..., help="User (UPN or id) or group (id or unique name)."),
    role: str = typer.Argument(..., help="Role template id or name, e.g. 'Global Administrator'."),
) -> None:
    """Assign a built-in directory role, tenant-wide."""
    with _context() as (services, tenant_id):
        with friendly_errors(), transaction(services.db) as db:
            definition = find_role(role)
            holder = _find_principal(db, tenant_id, principal)
            directory.create_role_assignment(
                db, tenant_id, services.clock.now(), principal_id=holder.id, role_definition_id=definition.id
            )
        console.print(f"Assigned {definition.display_name} to {_label(holder)}.")


@role_app.command("list")
def role_list(
    definitions: bool = typer.Option(False, "--definitions", help="List the built-in roles instead."),
    as_json: bool = typer.Option(False, "--json", help="Print Graph JSON instead of a table."),
) -> None:
    """List role assignments (or, with --definitions, the role catalogue)."""
    catalogue = role_catalogue()
    if definitions:
        table = Table("displayName", "privileged", "templateId")
        for role in sorted(catalogue.values(), key=lambda r: r.display_name):
            table.add_row(role.display_name, "yes" if role.is_privileged else "", role.id)
        console.print(table)
        return
    with _context() as (services, tenant_id):
        with services.db() as db:
            assignments = all_pages(
                lambda token: directory.list_role_assignments(db, tenant_id, top=999, skiptoken=token)
            )
            rows = [(a, _principal_label(db, tenant_id, a.principal_id)) for a in assignments]
        if as_json:
            console.print_json(json.dumps([role_assignment_json(a) for a, _ in rows]))
            return
        table = Table("role", "principal", "assignment id")
        for assignment, label in rows:
            held = catalogue.get(assignment.role_definition_id)
            table.add_row(held.display_name if held else assignment.role_definition_id, label, assignment.id)
        console.print(table)


# ---- import ------------------------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    """Rows per second so far: what an admin watching a 100,000-row import wants to know."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0
        rate = task.completed / elapsed if elapsed > 0 else 0
        return Text(f"{rate:,.0f} rows/s", style="progress.data.speed")


def import_file(services: Services, path: Path, fmt: str | None, *, skip_invalid: bool) -> ImportReport:
    """Read and import a file with a progress bar; the code path of `limen import` (and of bench/)."""
    records = read_records(path, fmt)
    columns = (TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), _RateColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        return import_directory(services, records, report, skip_invalid=skip_invalid)


def import_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or JSON file."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="csv or json (default: from the file name)."),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help="Import the good rows and report the bad ones (default: all or nothing).",
    ),
) -> None:
    """Import users (and groups) from CSV or JSON. By default nothing is written if any row is bad."""
    with _context() as (services, _tenant_id):
        started = time.perf_counter()
        with friendly_errors():
            result = import_file(services, path, fmt, skip_invalid=skip_invalid)
        elapsed = time.perf_counter() - started
        for error in result.errors[:SHOWN_ERRORS]:
            err_console.print(f"[red]{error}[/red]", highlight=False)
        if len(result.errors) > SHOWN_ERRORS:
            err_console.print(f"... and {len(result.errors) - SHOWN_ERRORS} more rows with errors.")
        if not result.written:
            err_console.print(
                f"[red]error:[/red] nothing was imported: {len(result.errors)} row(s) have errors. "
                "Fix them, or use --skip-invalid to import the other rows."
            )
            raise typer.Exit(1)
        console.print(
            f"Imported {result.users_created:,} users, {result.groups_created:,} new groups and "
            f"{result.memberships_added:,} memberships in {elapsed:.1f} s "
            f"({result.passwords_hashed:,} passwords hashed, {result.rows_skipped:,} rows skipped)."
        )
