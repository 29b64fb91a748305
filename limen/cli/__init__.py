"""The `limen` command: serve, db, demo, directory and application administration, logs."""

from __future__ import annotations

import typer

from limen.cli import apps, demo, devices, directory, logs, policy, security_defaults, server, tap, what_if

app = typer.Typer(
    name="limen",
    help="Limen identity provider: sign-in security for remote workforces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
server.register(app)
demo.register(app)
directory.register(app)
tap.register(directory.user_app)
apps.register(app)
logs.register(app)
security_defaults.register(app)
what_if.register(app)
policy.register(app)
devices.register(app)


def main() -> None:
    app()
