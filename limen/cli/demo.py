"""`limen demo`: upgrade the database, seed the demo tenant, and serve Limen plus a demo application."""

from __future__ import annotations

import asyncio
import dataclasses

import typer
from rich.table import Table

from limen.cli._common import console, settings_or_exit
from limen.config import Secret
from limen.logging_config import logging_config
from limen.service.context import build_services
from limen.service.keys import ensure_signing_key
from limen.service.tenants import ensure_default_tenant
from limen.store import migrate


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    port: int = typer.Option(8000, min=1, max=65535, help="Port for Limen."),
    rp_port: int = typer.Option(8001, min=1, max=65535, help="Port for the demo application."),
    seed_only: bool = typer.Option(False, "--seed-only", help="Create the demo tenant and exit."),
) -> None:
    """Run Limen with a demo tenant on SQLite, and a demo application that signs in through it."""
    import uvicorn

    from limen.demo.rp import RelyingPartyConfig, create_rp_app
    from limen.demo.seed import DEMO_USERS, seed_demo
    from limen.web.app import create_app

    settings = settings_or_exit()
    issuer = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(settings, issuer=issuer)
    services = build_services(settings)
    migrate.upgrade(services.engine)
    tenant = ensure_default_tenant(services)
    ensure_signing_key(services, tenant.id)
    rp_base = f"http://127.0.0.1:{rp_port}"
    state = seed_demo(services, rp_base)
    admin_token = settings.admin_token or Secret(state["admin_token"])
    services.settings = dataclasses.replace(settings, admin_token=admin_token)

    table = Table("user", "password", "who")
    for user in DEMO_USERS:
        table.add_row(user.upn, state["passwords"].get(user.upn, "(set before this demo file existed)"), user.role)
    console.rule("Limen demo")
    console.print(f"Limen:            [bold]{issuer}[/bold]", soft_wrap=True)
    console.print(f"Demo application: [bold]{rp_base}[/bold]  (open it and click 'Sign in with Limen')", soft_wrap=True)
    console.print(f"Admin API token:  {admin_token}", soft_wrap=True)
    console.print(f"  try: curl -H 'Authorization: Bearer {admin_token}' {issuer}/v1.0/users", soft_wrap=True)
    console.print(f"Database:         {settings.database_url}", soft_wrap=True)
    console.print(table)
    outbox = settings.data_dir / "outbox"
    console.print(
        f"Text-message and e-mail codes are not sent in the demo: they are written to {outbox}/", soft_wrap=True
    )
    console.print(
        f"My security info: {issuer}/security-info   Push client: .venv/bin/limen-authenticator --help", soft_wrap=True
    )
    if seed_only:
        services.engine.dispose()
        return

    rp = create_rp_app(
        RelyingPartyConfig(
            issuer=issuer, client_id=state["app_id"], client_secret=state["app_secret"], base_url=rp_base
        )
    )
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                create_app(services),
                host="127.0.0.1",
                port=port,
                log_config=logging_config("info"),
                access_log=False,
            )
        ),
        uvicorn.Server(uvicorn.Config(rp, host="127.0.0.1", port=rp_port, log_level="warning", lifespan="off")),
    ]

    async def run_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(run_all())
