"""Operator commands: `limen serve`, `limen db upgrade|status`, `limen keys ...`, `limen config check`."""

from __future__ import annotations

import os

import typer
from cryptography.fernet import Fernet

from limen.cli._common import command_services, console, err_console, settings_or_exit
from limen.config import Secret
from limen.logging_config import logging_config
from limen.service import keys as keys_service
from limen.service.context import build_services
from limen.service.tenants import ensure_default_tenant
from limen.store import migrate

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Token-signing and encryption keys.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")
    app.add_typer(config_app, name="config")


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (they share state through the database)."),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1", help="Proxies whose X-Forwarded-For/Proto are trusted (comma-separated, or * behind a private LB)."
    ),
) -> None:
    """Run Limen under uvicorn."""
    import uvicorn

    settings = settings_or_exit()
    services = build_services(settings)
    if not migrate.is_up_to_date(services.engine):
        err_console.print("[red]The database schema is not up to date: run `limen db upgrade` first.[/red]")
        raise typer.Exit(2)
    if settings.dev_secrets_generated:
        err_console.print(
            f"[yellow]Development mode: using generated keys from {settings.data_dir}/dev-secrets.json. "
            "Set LIMEN_SECRET_KEY and LIMEN_ENCRYPTION_KEYS in production.[/yellow]"
        )
    # Workers are separate processes that re-read the environment: pin what this process resolved.
    os.environ.setdefault("LIMEN_SECRET_KEY", str(settings.secret_key))
    os.environ.setdefault("LIMEN_ENCRYPTION_KEYS", ",".join(settings.encryption_keys))
    services.engine.dispose()
    uvicorn.run(
        "limen.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        # uvicorn's access log prints query strings, which can hold id_token_hint and codes; Limen
        # logs requests itself without them (limen.web.access_log).
        access_log=False,
        server_header=False,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema to the latest revision (safe to run repeatedly)."""
    with command_services(require_schema=False) as services:
        before = migrate.current_revision(services.engine)
        migrate.upgrade(services.engine)
        tenant = ensure_default_tenant(services)
        keys_service.ensure_signing_key(services, tenant.id)
        after = migrate.current_revision(services.engine)
        if before == after:
            console.print(f"Database is up to date (revision {after}).")
        else:
            console.print(f"Database upgraded from {before or 'empty'} to {after}.")


@db_app.command("status")
def db_status() -> None:
    """Show the schema revision and whether it is current."""
    with command_services(require_schema=False) as services:
        current, head = migrate.current_revision(services.engine), migrate.head_revision()
        console.print(f"current: {current or 'empty'}\nlatest:  {head}")
        if current != head:
            raise typer.Exit(1)


@keys_app.command("rotate")
def keys_rotate(
    activate_after_hours: int = typer.Option(
        0, min=0, max=24 * 30, help="Publish now, start signing after this many hours (lets clients refresh JWKS)."
    ),
) -> None:
    """Add a new token-signing key; older keys stay published for the configured overlap."""
    from datetime import timedelta

    with command_services() as services:
        tenant = ensure_default_tenant(services)
        key = keys_service.rotate(services, tenant.id, activate_after=timedelta(hours=activate_after_hours))
        console.print(f"New signing key {key.id} signs from {key.active_from:%Y-%m-%d %H:%M} UTC.")


@keys_app.command("revoke")
def keys_revoke(kid: str = typer.Argument(..., help="The kid to withdraw (see `limen keys list`).")) -> None:
    """Withdraw a compromised signing key at once (tokens it signed stop verifying)."""
    from limen.cli._common import friendly_errors

    with command_services() as services:
        tenant = ensure_default_tenant(services)
        with friendly_errors():
            keys_service.revoke(services, tenant.id, kid)
        console.print(f"Signing key {kid} withdrawn from JWKS; a current key signs from now on.")


@keys_app.command("list")
def keys_list() -> None:
    """List signing keys with their activation and retirement times."""
    from rich.table import Table

    with command_services() as services:
        tenant = ensure_default_tenant(services)
        table = Table("kid", "algorithm", "created", "signs from", "retires")
        for key in keys_service.list_keys(services, tenant.id):
            table.add_row(
                key.id,
                key.algorithm,
                f"{key.created_at:%Y-%m-%d %H:%M}",
                f"{key.active_from:%Y-%m-%d %H:%M}",
                f"{key.retire_at:%Y-%m-%d %H:%M}" if key.retire_at else "-",
            )
        console.print(table)


@keys_app.command("generate-encryption-key")
def keys_generate_encryption_key() -> None:
    """Print a new key for LIMEN_ENCRYPTION_KEYS (prepend it to rotate, then run `limen keys reencrypt`)."""
    typer.echo(Fernet.generate_key().decode())


@keys_app.command("reencrypt")
def keys_reencrypt() -> None:
    """Re-encrypt stored secrets under the first LIMEN_ENCRYPTION_KEYS entry, so older keys can be removed."""
    import sqlalchemy as sa

    from limen.crypto.vault import DecryptionFailed
    from limen.store.db import transaction
    from limen.store.models import AuthMethod, MethodChallenge, SigningKey

    with command_services() as services:
        count = methods = 0
        try:
            with transaction(services.db) as db:
                for key in db.scalars(sa.select(SigningKey)):
                    key.private_jwk_encrypted = services.vault.rotate(key.private_jwk_encrypted)
                    count += 1
                for method in db.scalars(sa.select(AuthMethod).where(AuthMethod.secret.is_not(None))):
                    assert method.secret is not None
                    method.secret = services.vault.rotate(method.secret)
                    methods += 1
                # Pending challenges are short-lived, but they hold codes and new TOTP keys too.
                for challenge in db.scalars(sa.select(MethodChallenge)):
                    challenge.pending = services.vault.rotate(challenge.pending)
        except DecryptionFailed:
            err_console.print(
                "[red]error:[/red] a stored secret cannot be decrypted with any key in LIMEN_ENCRYPTION_KEYS. "
                "Keep the old key in the list (after the new one) until re-encryption succeeds. Nothing was changed."
            )
            raise typer.Exit(1) from None
        console.print(f"Re-encrypted {count} signing key(s) and {methods} method secret(s).")


@config_app.command("check")
def config_check() -> None:
    """Validate LIMEN_* settings and print the effective configuration (secrets masked)."""
    import sqlalchemy as sa

    settings = settings_or_exit()
    for name, value in sorted(vars(settings).items()):
        if (name in {"admin_token", "secret_key", "encryption_keys"} or isinstance(value, Secret)) and value:
            shown: object = "********"
        elif name == "database_url":
            shown = sa.make_url(str(value)).render_as_string(hide_password=True)
        else:
            shown = value
        console.print(f"{name} = {shown}", soft_wrap=True)
