"""The `limen-authenticator` command (docs/authenticator.md).

    limen-authenticator enrol <enrolment-uri> [--name NAME]
    limen-authenticator pending [--wait N] [--json]
    limen-authenticator approve <request-id> --number NN
    limen-authenticator deny <request-id> [--report]
    limen-authenticator add-totp <otpauth-uri>
    limen-authenticator codes
    limen-authenticator accounts

Every failure is one line on stderr and exit status 1 (2 for bad usage); never a traceback.
"""

from __future__ import annotations

import json
import math
import socket
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import typer
from cryptography.hazmat.primitives.asymmetric import ec

from limen.authenticator import api
from limen.authenticator.state import (
    ENV_VARIABLE,
    Account,
    State,
    StateError,
    TotpEntry,
    is_private,
    load,
    resolve_path,
    save,
)
from limen.domain.methods import push

app = typer.Typer(
    name="limen-authenticator",
    help="A command-line authenticator app for Limen: approve sign-ins (number matching) and show TOTP codes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state_path: Path | None = None


@app.callback()
def _options(
    state: str | None = typer.Option(
        None,
        "--state",
        help=f"State file (accounts and keys). Default: ${ENV_VARIABLE}, else ~/.config/limen-authenticator/state.json.",
    ),
) -> None:
    global _state_path
    _state_path = resolve_path(state)


def _path() -> Path:
    return _state_path or resolve_path(None)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@contextmanager
def _friendly() -> Iterator[None]:
    """Known failures become one clear line and exit status 1."""
    try:
        yield
    except (api.ApiError, StateError) as exc:
        raise fail(str(exc)) from None


def _load() -> State:
    path = _path()
    state = load(path)
    if path.exists() and not is_private(path):
        typer.echo(f"warning: {path} is readable by other users; it holds private keys (chmod 600 it).", err=True)
    return state


def _save(state: State) -> None:
    save(_path(), state)


# Push accounts -----------------------------------------------------------------------------------------


@app.command()
def enrol(
    enrolment_uri: str = typer.Argument(
        ..., help="The limen-authenticator://enrol?... link from the Security info page."
    ),
    name: str = typer.Option("", "--name", help="How this device is named in your security info."),
    allow_http: bool = typer.Option(False, "--allow-http", help="Allow a plain-http server that is not localhost."),
) -> None:
    """Register this client as your authenticator app (push notifications with number matching)."""
    with _friendly():
        enrolment = api.parse_enrolment_uri(enrolment_uri, allow_http=allow_http)
        state = _load()
        device_name = " ".join(name.split()) or f"{socket.gethostname()[:40]} (limen-authenticator)"
        key = ec.generate_private_key(ec.SECP256R1())
        answer = api.enrol(enrolment, key, device_name, platform="cli")
        account = Account(
            server=enrolment.server,
            device_id=str(answer["deviceId"]),
            device_token=str(answer["deviceToken"]),
            user_id=str(answer["userId"]),
            user_principal_name=str(answer["userPrincipalName"]),
            tenant_name=str(answer["tenantName"]),
            device_name=device_name,
            private_key_pem=api.pem_of(key),
            enrolled_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        state.accounts.append(account)
        _save(state)
    typer.echo(f"Enrolled {account.user_principal_name} ({account.tenant_name}) as {device_name!r}.")
    typer.echo(f"State saved to {_path()}. Continue on the sign-in page.")


def _accounts(state: State, only: str | None) -> list[Account]:
    if not state.accounts:
        raise fail("No accounts yet: enrol first with `limen-authenticator enrol <enrolment-uri>`.")
    chosen = [a for a in state.accounts if only is None or a.user_principal_name.lower() == only.strip().lower()]
    if not chosen:
        raise fail(f"No enrolled account {only!r}; see `limen-authenticator accounts`.")
    return chosen


def _pending_of_all(accounts: list[Account], wait: int) -> list[tuple[Account, dict[str, Any]]]:
    """Every account's pending requests; with a wait, the accounts are polled at the same time."""

    def one(account: Account) -> list[tuple[Account, dict[str, Any]]]:
        return [(account, request) for request in api.pending(account, wait)]

    if len(accounts) == 1:
        return one(accounts[0])
    with ThreadPoolExecutor(max_workers=min(8, len(accounts))) as pool:
        return [item for found in pool.map(one, accounts) for item in found]


def _seconds_left(expires: str) -> int:
    try:
        moment = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return max(0, int((moment - datetime.now(UTC)).total_seconds()))


@app.command()
def pending(
    wait: int = typer.Option(0, "--wait", min=0, max=25, help="Wait up to N seconds for a request to arrive."),
    account: str | None = typer.Option(None, "--account", help="Only this userPrincipalName."),
    as_json: bool = typer.Option(False, "--json", help="Print the requests as JSON."),
) -> None:
    """List sign-in requests waiting for your answer (the number is on the sign-in page, not here)."""
    with _friendly():
        found = _pending_of_all(_accounts(_load(), account), wait)
    if as_json:
        typer.echo(json.dumps({"value": [request | {"account": a.user_principal_name} for a, request in found]}))
        return
    if not found:
        typer.echo("No pending requests.")
        return
    for owner, request in found:
        where = ", ".join(part for part in (request.get("ipAddress"), request.get("location")) if part)
        typer.echo(f"Request {request['id']}")
        typer.echo(f"  Account:     {owner.user_principal_name} ({owner.tenant_name})")
        typer.echo(f"  Application: {request.get('appDisplayName') or '(unknown)'}")
        typer.echo(f"  From:        {where or '(unknown)'}")
        typer.echo(f"  Expires in:  {_seconds_left(str(request.get('expiresDateTime', '')))} s")
        typer.echo(f"  Approve with: limen-authenticator approve {request['id']} --number <number on the sign-in page>")


def _owner(state: State, request_id: str, only: str | None) -> Account:
    """The account whose device received `request_id` (asked of each account's server)."""
    for owner, request in _pending_of_all(_accounts(state, only), 0):
        if request.get("id") == request_id:
            return owner
    raise fail(
        f"No pending request {request_id} for your accounts: it expired (requests last "
        f"{push.REQUEST_SECONDS} seconds), was already answered, or went to another device."
    )


def _answer(request_id: str, decision: str, number: str, only: str | None, done: Callable[[Account], str]) -> None:
    with _friendly():
        owner = _owner(_load(), request_id.strip(), only)
        api.answer(owner, request_id.strip(), decision, number)
    typer.echo(done(owner))


@app.command()
def approve(
    request_id: str = typer.Argument(..., help="The request id from `limen-authenticator pending`."),
    number: str = typer.Option(..., "--number", help="The two-digit number shown on the sign-in page."),
    account: str | None = typer.Option(None, "--account", help="Only look at this userPrincipalName."),
) -> None:
    """Approve a sign-in by typing the number the sign-in page shows."""
    typed = push.normalise_number(number)
    if typed is None:
        raise fail("--number must be the two-digit number (10-99) shown on the sign-in page.")
    _answer(
        request_id,
        "approve",
        typed,
        account,
        lambda a: f"Sent approval for {a.user_principal_name}. Continue on the sign-in page; it checks the number.",
    )


@app.command()
def deny(
    request_id: str = typer.Argument(..., help="The request id from `limen-authenticator pending`."),
    report: bool = typer.Option(False, "--report", help="Also report it: this sign-in was not you."),
    account: str | None = typer.Option(None, "--account", help="Only look at this userPrincipalName."),
) -> None:
    """Deny a sign-in you did not start (with --report, tell your organisation it was suspicious)."""
    decision = "report" if report else "deny"
    suffix = " and reported it to your organisation" if report else ""
    _answer(request_id, decision, "", account, lambda a: f"Denied the request for {a.user_principal_name}{suffix}.")


# TOTP --------------------------------------------------------------------------------------------------


def _totp(uri: str) -> pyotp.TOTP:
    try:
        otp = pyotp.parse_uri(uri.strip())
    except (ValueError, KeyError, TypeError) as exc:
        raise fail(f"That is not a valid otpauth:// URI ({exc}).") from None
    if not isinstance(otp, pyotp.TOTP):
        raise fail("Only time-based (otpauth://totp/...) codes are supported.")
    try:
        otp.now()  # a secret that is not base32 only shows itself when a code is made
    except (ValueError, TypeError) as exc:
        raise fail(f"The secret in that URI is not valid base32 ({exc}).") from None
    return otp


@app.command("add-totp")
def add_totp(otpauth_uri: str = typer.Argument(..., help="otpauth://totp/... (the link behind the QR code).")) -> None:
    """Store a TOTP secret to show its codes with `codes`."""
    otp = _totp(otpauth_uri)
    with _friendly():
        state = _load()
        if any(_totp(t.uri).secret == otp.secret for t in state.totp):
            raise fail("That secret is already stored.")
        state.totp.append(TotpEntry(uri=otpauth_uri.strip(), name=otp.name or "", issuer=otp.issuer or ""))
        _save(state)
    typer.echo(
        f"Added {otp.issuer + ': ' if otp.issuer else ''}{otp.name}. See its codes with `limen-authenticator codes`."
    )


@app.command()
def codes(as_json: bool = typer.Option(False, "--json", help="Print the codes as JSON.")) -> None:
    """Show the current code of every stored TOTP secret."""
    with _friendly():
        state = _load()
    now = time.time()
    rows = []
    for entry in state.totp:
        otp = _totp(entry.uri)
        # Rounded up: a code with 0.4 s left still shows 1 s, never 0.
        left = math.ceil(otp.interval - now % otp.interval)
        rows.append({"issuer": entry.issuer, "name": entry.name, "code": otp.at(now), "secondsLeft": left})
    if as_json:
        typer.echo(json.dumps({"value": rows}))
        return
    if not rows:
        typer.echo("No TOTP secrets yet: add one with `limen-authenticator add-totp <otpauth-uri>`.")
    for row in rows:
        label = f"{row['issuer']}: {row['name']}" if row["issuer"] else row["name"]
        typer.echo(f"{row['code']}  ({row['secondsLeft']:>2} s)  {label}")


@app.command()
def accounts() -> None:
    """List the enrolled push accounts and stored TOTP secrets."""
    with _friendly():
        state = _load()
    typer.echo(f"State file: {_path()}")
    if not state.accounts and not state.totp:
        typer.echo("Nothing yet: `limen-authenticator enrol <enrolment-uri>` or `add-totp <otpauth-uri>`.")
    for a in state.accounts:
        typer.echo(f"push  {a.user_principal_name} ({a.tenant_name}) at {a.server}")
        typer.echo(f"      device {a.device_name!r}, id {a.device_id}, enrolled {a.enrolled_at}")
    for t in state.totp:
        typer.echo(f"totp  {t.issuer + ': ' if t.issuer else ''}{t.name}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
