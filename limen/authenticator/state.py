"""The client's state file: enrolled push accounts (with their private keys) and TOTP secrets.

One JSON file, mode 0600 in a 0700 directory, replaced atomically on every change so that an
interrupted write never leaves half a file (and half a private key) behind. Default path:
`$XDG_CONFIG_HOME/limen-authenticator/state.json` (`~/.config/...`), or `--state PATH`, or
`LIMEN_AUTHENTICATOR_STATE`.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ENV_VARIABLE = "LIMEN_AUTHENTICATOR_STATE"
VERSION = 1


class StateError(Exception):
    """The state file cannot be read or written; the message says which file and what to do."""


def default_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "limen-authenticator" / "state.json"


def resolve_path(option: str | None) -> Path:
    """--state wins, then LIMEN_AUTHENTICATOR_STATE, then the default."""
    chosen = option or os.environ.get(ENV_VARIABLE) or ""
    return Path(chosen).expanduser() if chosen else default_path()


@dataclass
class Account:
    """One enrolment: this client is a push device of `user_principal_name` at `server`."""

    server: str
    device_id: str
    device_token: str
    user_id: str
    user_principal_name: str
    tenant_name: str
    device_name: str
    private_key_pem: str
    enrolled_at: str


@dataclass
class TotpEntry:
    uri: str
    name: str
    issuer: str


@dataclass
class State:
    accounts: list[Account] = field(default_factory=list)
    totp: list[TotpEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "accounts": [asdict(a) for a in self.accounts],
            "totp": [asdict(t) for t in self.totp],
        }


def load(path: Path) -> State:
    """The state at `path`; an empty state if the file does not exist yet."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return State()
    except OSError as exc:
        raise StateError(f"Cannot read the state file {path}: {exc.strerror or exc}.") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError(f"expected an object with version {VERSION}")
        return State(
            accounts=[Account(**item) for item in data.get("accounts", [])],
            totp=[TotpEntry(**item) for item in data.get("totp", [])],
        )
    except (ValueError, TypeError) as exc:
        raise StateError(
            f"The state file {path} is damaged ({exc}). Move it away to start afresh (your enrolments are in it)."
        ) from None


def is_private(path: Path) -> bool:
    """Whether only the owner can read the file (it holds private keys and tokens)."""
    try:
        return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    except FileNotFoundError:
        return True


def save(path: Path, state: State) -> None:
    """Write the state atomically, readable and writable by the owner only."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600 before anything is written to it.
        handle, temporary = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(state.to_json(), file, indent=2)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        os.chmod(path, 0o600)
    except OSError as exc:
        raise StateError(f"Cannot write the state file {path}: {exc.strerror or exc}.") from None
