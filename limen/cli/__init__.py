"""The `limen` command: serve, db, demo, directory and application administration, logs."""

from __future__ import annotations

import typer

from limen.cli import apps, demo, logs, server

try:  # TEMP until directory CLI lands
    from limen.cli import directory
except ImportError:
    directory = None  # type: ignore[assignment]

app = typer.Typer(
    name="limen",
    help="Limen identity provider: sign-in security for remote workforces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
server.register(app)
demo.register(app)
if directory is not None:
    directory.register(app)
apps.register(app)
logs.register(app)


def main() -> None:
    app()
