"""The `limen-authenticator` console script without a server: its state file, TOTP codes (checked
against oathtool) and its errors, which are one line on stderr and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.live import free_port
from tests.support.signin import oathtool_code

AUTHENTICATOR = str(Path(sys.executable).with_name("limen-authenticator"))
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits
URI = f"otpauth://totp/Contoso:adele%40contoso.test?secret={SECRET}&issuer=Contoso"


def run(state: Path, *args: str, via: str = "env") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIMEN_")}
    if via == "env":
        env["LIMEN_AUTHENTICATOR_STATE"] = str(state)
    else:
        args = ("--state", str(state), *args)
    return subprocess.run([AUTHENTICATOR, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def refused(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.startswith("error: ") and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_totp_codes_match_oathtool_and_the_state_is_private(tmp_path: Path) -> None:
    state = tmp_path / "config" / "state.json"
    added = run(state, "add-totp", URI)
    assert added.returncode == 0 and "Contoso: adele@contoso.test" in added.stdout
    assert state.stat().st_mode & 0o777 == 0o600
    assert state.parent.stat().st_mode & 0o777 == 0o700

    before = datetime.now(UTC)
    shown = json.loads(run(state, "codes", "--json").stdout)["value"]
    after = datetime.now(UTC)
    [entry] = shown
    # The command ran between two instants; its code is oathtool's for one of them.
    assert entry["code"] in {oathtool_code(SECRET, before), oathtool_code(SECRET, after)}
    assert (entry["issuer"], entry["name"]) == ("Contoso", "adele@contoso.test")
    assert 1 <= entry["secondsLeft"] <= 30

    # --state and the environment variable name the same kind of file.
    listed = run(state, "accounts", via="option")
    assert "totp  Contoso: adele@contoso.test" in listed.stdout and str(state) in listed.stdout


def test_a_secret_is_stored_once_and_only_totp_is_accepted(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert run(state, "add-totp", URI).returncode == 0
    refused(run(state, "add-totp", URI), "already stored")
    refused(run(state, "add-totp", f"otpauth://hotp/x?secret={SECRET}&counter=1"), "time-based")
    refused(run(state, "add-totp", "https://example.com"), "not a valid otpauth")
    refused(run(state, "add-totp", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"), "112 bits")
    assert len(json.loads(state.read_text())["totp"]) == 1


def test_push_commands_without_an_account_say_how_to_enrol(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    refused(run(state, "pending"), "enrol first")
    refused(run(state, "approve", "c0a80121-7ac0-4e1c-9b8f-0c2b6f1f9d3e", "--number", "42"), "enrol first")
    refused(run(state, "deny", "c0a80121-7ac0-4e1c-9b8f-0c2b6f1f9d3e", "--report"), "enrol first")
    assert not state.exists()


@pytest.mark.parametrize(
    ("link", "says"),
    [
        ("https://login.example.com/enrol?code=x", "not an enrolment link"),
        ("limen-authenticator://enrol?server=https%3A%2F%2Fa.example", "exactly one server= and one code="),
        ("limen-authenticator://enrol?server=ftp%3A%2F%2Fa.example&code=x", "not an http(s) URL"),
        ("limen-authenticator://enrol?server=http%3A%2F%2Flogin.example.com&code=x", "plain http"),
    ],
)
def test_bad_enrolment_links_are_refused_before_any_request(tmp_path: Path, link: str, says: str) -> None:
    refused(run(tmp_path / "state.json", "enrol", link), says)


def test_an_unreachable_server_is_reported_in_words(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    link = f"limen-authenticator://enrol?server=http%3A%2F%2F127.0.0.1%3A{port}&code=abc"
    refused(run(tmp_path / "state.json", "enrol", link), f"Could not reach http://127.0.0.1:{port}")


def test_a_number_that_is_not_two_digits_is_refused(tmp_path: Path) -> None:
    refused(run(tmp_path / "state.json", "approve", "some-id", "--number", "7"), "two-digit number")


def test_a_damaged_or_unreadable_state_file_is_explained(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    refused(run(state, "codes"), "is damaged")
    state.write_text(json.dumps({"version": 99}))
    refused(run(state, "accounts"), "is damaged")


def test_a_state_file_others_can_read_gets_a_warning(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert run(state, "add-totp", URI).returncode == 0
    state.chmod(0o644)
    result = run(state, "codes")
    assert result.returncode == 0 and "readable by other users" in result.stderr
