"""`limen user tap issue|show|revoke` and the TAP service: the pass is printed once, stored only as a
keyed digest, replaced by the next one, and a one-time pass works exactly once."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from limen.cli import app
from limen.domain.clock import FrozenClock
from limen.domain.methods import tap
from limen.service.context import Services
from limen.service.methods import tap as tap_service
from limen.store.db import transaction
from limen.store.models import AuthMethod, User
from tests.conftest import make_env

UPN = "adele.vance@contoso.test"
PASS = re.compile(rf"Temporary Access Pass for {re.escape(UPN)}: ([{tap.ALPHABET}]+)\n")


@pytest.fixture
def run(services: Services, clock: FrozenClock, tmp_path: Path, database_url: str) -> Any:
    """`limen ...` with the keys of `services` (the digest of a pass depends on LIMEN_SECRET_KEY). The
    command runs on the system clock, so the test's clock is set to it after each command."""
    keys = {
        "LIMEN_SECRET_KEY": str(services.settings.secret_key),
        "LIMEN_ENCRYPTION_KEYS": ",".join(services.settings.encryption_keys),
    }
    env = {**make_env(tmp_path, database_url, **keys), "COLUMNS": "250"}
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        result = runner.invoke(app, list(args), env=env)
        clock.set(datetime.now(UTC))
        return result

    return invoke


def _issued(result: Result) -> str:
    assert result.exit_code == 0, result.output
    found = PASS.search(result.stdout)
    assert found is not None, result.stdout
    return found.group(1)


def _raw_rows(services: Services) -> list[str]:
    """Every column of every auth_methods row, as the database holds it."""
    with services.engine.connect() as conn:
        return [" ".join(repr(v) for v in row) for row in conn.execute(sa.text("SELECT * FROM auth_methods"))]


def test_issue_prints_the_pass_once_and_stores_only_its_digest(
    run: Any, services: Services, tenant_id: str, user: User
) -> None:
    result = run("user", "tap", "issue", UPN, "--lifetime-minutes", "120", "--one-time")
    value = _issued(result)
    assert len(value) == 8
    assert result.stdout.count(value) == 1
    assert re.search(r"one-time, valid from [0-9-]{10}T[0-9:]{8}Z for 120 minutes \(usable now\)", result.stdout)
    [raw] = _raw_rows(services)
    assert value not in raw and value.lower() not in raw.lower()
    with services.db() as db:
        row = tap_service.current(db, tenant_id, user.id)
        assert row is not None and row.lookup_key is not None
        assert row.lookup_key == tap.lookup_key(value, tap_service._digest(services, tenant_id))
        assert (row.data["lifetimeInMinutes"], row.data["isUsableOnce"]) == (120, True)
        assert tap_service.check(db, services, tenant_id, user.id, value) is not None
    # Showing it again is impossible: `show` tells the terms only.
    shown = run("user", "tap", "show", UPN)
    assert shown.exit_code == 0 and value not in shown.stdout and "one-time" in shown.stdout


def test_a_one_time_pass_works_once(services: Services, tenant_id: str, user: User) -> None:
    with transaction(services.db) as db:
        value = tap_service.issue(db, services, tenant_id, user.id, one_time=True).value
    with transaction(services.db) as db:
        assert tap_service.check(db, services, tenant_id, user.id, f" {value} ") is not None
    with transaction(services.db) as db:
        assert tap_service.use(db, services, tenant_id, user.id, value) is tap.Usability.ONE_TIME_USED
        assert tap_service.check(db, services, tenant_id, user.id, value) is None


def test_two_nodes_racing_with_a_one_time_pass_let_only_one_in(services: Services, tenant_id: str, user: User) -> None:
    with transaction(services.db) as db:
        value = tap_service.issue(db, services, tenant_id, user.id, one_time=True).value
    first, second = services.db(), services.db()
    try:
        # The second node has read the pass, still unused, before the first spends it: its own check
        # passes, and only the conditional UPDATE can tell it the pass is gone.
        stale = second.scalars(sa.select(AuthMethod).where(AuthMethod.user_id == user.id)).one()
        won = tap_service.use(first, services, tenant_id, user.id, value)
        first.commit()
        assert stale.counter == 0
        lost = tap_service.use(second, services, tenant_id, user.id, value)
        second.commit()
    finally:
        first.close()
        second.close()
    assert isinstance(won, AuthMethod) and won.counter == 1
    assert lost is tap.Usability.ONE_TIME_USED


def test_concurrent_uses_of_a_one_time_pass_succeed_once(services: Services, tenant_id: str, user: User) -> None:
    with transaction(services.db) as db:
        value = tap_service.issue(db, services, tenant_id, user.id, one_time=True).value
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def sign_in() -> None:
        barrier.wait()
        with transaction(services.db) as db:
            outcomes.append(tap_service.check(db, services, tenant_id, user.id, value))

    threads = [threading.Thread(target=sign_in) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(isinstance(o, AuthMethod) for o in outcomes) == 1 and len(outcomes) == 4


def test_a_multi_use_pass_works_between_start_and_expiry_only(
    services: Services, clock: FrozenClock, tenant_id: str, user: User
) -> None:
    with transaction(services.db) as db:
        value = tap_service.issue(
            db, services, tenant_id, user.id, lifetime_minutes=30, start=clock.now() + timedelta(hours=1)
        ).value
    with transaction(services.db) as db:
        assert tap_service.use(db, services, tenant_id, user.id, value) is tap.Usability.NOT_YET_VALID
    clock.advance(timedelta(hours=1))
    for _ in range(3):
        with transaction(services.db) as db:
            assert tap_service.check(db, services, tenant_id, user.id, value) is not None
    clock.advance(timedelta(minutes=30))
    with transaction(services.db) as db:
        assert tap_service.use(db, services, tenant_id, user.id, value) is tap.Usability.EXPIRED


def test_a_pass_only_works_for_its_own_user(services: Services, tenant_id: str, user: User) -> None:
    from tests.support.seed import add_user

    other = add_user(services, "megan.bowen@contoso.test", name="Megan Bowen")
    with transaction(services.db) as db:
        value = tap_service.issue(db, services, tenant_id, user.id).value
    with transaction(services.db) as db:
        assert tap_service.use(db, services, tenant_id, other.id, value) is None
        assert tap_service.check(db, services, tenant_id, user.id, value) is not None


def test_a_new_pass_replaces_the_old_and_revoke_ends_it(
    run: Any, services: Services, tenant_id: str, user: User
) -> None:
    old = _issued(run("user", "tap", "issue", UPN))
    new = _issued(run("user", "tap", "issue", UPN, "--lifetime-minutes", "10"))
    assert old != new
    with transaction(services.db) as db:
        assert tap_service.check(db, services, tenant_id, user.id, old) is None
        assert tap_service.check(db, services, tenant_id, user.id, new) is not None
        assert db.scalar(sa.select(sa.func.count()).select_from(AuthMethod)) == 1
    revoked = run("user", "tap", "revoke", UPN)
    assert revoked.exit_code == 0 and f"Revoked the Temporary Access Pass of {UPN}." in revoked.stdout
    with transaction(services.db) as db:
        assert tap_service.check(db, services, tenant_id, user.id, new) is None
    again = run("user", "tap", "revoke", UPN)
    assert again.exit_code == 0 and "had no Temporary Access Pass" in again.stdout
    assert "has no Temporary Access Pass" in run("user", "tap", "show", UPN).stdout


def test_json_output_is_graphs_create_response(run: Any, user: User) -> None:
    result = run("user", "tap", "issue", UPN, "--json", "--start", "2099-01-02T08:00:00+01:00")
    assert result.exit_code == 0, result.output
    shape = json.loads(result.stdout)
    assert shape["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
    assert len(shape["temporaryAccessPass"]) == 8
    assert (shape["startDateTime"], shape["lifetimeInMinutes"], shape["isUsableOnce"]) == (
        "2099-01-02T07:00:00Z",
        60,
        False,
    )
    assert (shape["isUsable"], shape["methodUsabilityReason"]) == (False, "NotYetValid")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--lifetime-minutes", "9"), "between 10 and 43200"),
        (("--lifetime-minutes", "43201"), "between 10 and 43200"),
        (("--start", "tomorrow"), "is not an ISO 8601 time"),
        (("--start", "2099-01-02T08:00:00"), "needs a time zone"),
        (("--start", "2020-12-31T08:00:00Z"), "in the past"),
    ],
)
def test_bad_terms_exit_1_with_the_reason_and_issue_nothing(
    run: Any, services: Services, user: User, args: tuple[str, ...], reason: str
) -> None:
    result = run("user", "tap", "issue", UPN, *args)
    assert result.exit_code == 1, result.output
    assert reason in result.stderr
    assert _raw_rows(services) == []


def test_an_unknown_user_exits_1(run: Any) -> None:
    for command in ("issue", "show", "revoke"):
        result = run("user", "tap", command, "nobody@contoso.test")
        assert result.exit_code == 1 and "does not exist" in result.stderr
