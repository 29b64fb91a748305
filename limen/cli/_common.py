"""Shared plumbing for CLI commands: settings, services, clean error output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console

from limen.config import Settings, load_settings
from limen.domain.errors import ConfigurationError, LimenError
from limen.service.context import Services, build_services
from limen.service.paging import Page
from limen.service.tenants import ensure_default_tenant
from limen.store import migrate

console = Console()
err_console = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None


@contextmanager
def command_services(*, require_schema: bool = True) -> Iterator[Services]:
    """Services for one CLI command, with its connection pool closed when the command ends.

    With `require_schema`, the schema must be current and the default tenant is ensured.
    """
    services = build_services(settings_or_exit())
    try:
        if require_schema:
            if not migrate.is_up_to_date(services.engine):
                err_console.print("[red]The database schema is not up to date: run `limen db upgrade` first.[/red]")
                raise typer.Exit(2)
            ensure_default_tenant(services)
        yield services
    finally:
        services.engine.dispose()


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn domain errors into a one-line message and exit status 1, instead of a traceback."""
    try:
        yield
    except LimenError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


T = TypeVar("T")


def all_pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged listing (`fetch(skiptoken)`), page after page: list commands print it all."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page.items
        if (token := page.next_skiptoken) is None:
            return
