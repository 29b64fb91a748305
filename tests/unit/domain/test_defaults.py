"""Security defaults as a pure function (SPEC.md §1, §10) and through `decide`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from limen.domain.access.decision import ClientAppType, Outcome, PolicySet, SignInContext, decide
from limen.domain.defaults import ADMIN_PORTALS_APP_ID, DefaultsContext, Trigger, admin_role_ids, evaluate
from limen.domain.directory import DIRECTORY_SYNCHRONIZATION_ACCOUNTS, GLOBAL_ADMINISTRATOR
from limen.domain.signin_log import SignInError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"


def ctx(**overrides: object) -> DefaultsContext:
    values: dict[str, object] = {
        "role_ids": frozenset(),
        "registered_methods": frozenset({"softwareOath"}),
        "window_started_at": None,
        "legacy_client": False,
        "app_id": "app",
        "familiar": True,
    }
    values.update(overrides)
    return DefaultsContext(**values)  # type: ignore[arg-type]


def test_the_seventeen_admin_roles_are_the_admin_set() -> None:
    admins = admin_role_ids()
    assert len(admins) == 17 and GLOBAL_ADMINISTRATOR in admins and GLOBAL_READER not in admins


@pytest.mark.parametrize(
    ("days", "skip", "left"),
    [(0, True, 14), (1, True, 13), (13, True, 1), (13.9, True, 1), (14, False, 0), (40, False, 0)],
)
def test_the_registration_window(days: float, skip: bool, left: int) -> None:
    started = NOW - timedelta(days=days)
    outcome = evaluate(ctx(registered_methods=frozenset(), window_started_at=started), NOW)
    assert outcome.must_register and outcome.skip_allowed is skip and outcome.days_left == left
    assert not outcome.starts_window


def test_the_first_sign_in_starts_the_window_and_sms_alone_does_not_count() -> None:
    outcome = evaluate(ctx(registered_methods=frozenset({"sms"})), NOW)
    assert outcome.must_register and outcome.starts_window and outcome.days_left == 14
    assert not outcome.mfa  # familiar, not an admin: nothing else to ask


def test_triggers() -> None:
    assert evaluate(ctx(), NOW).mfa is False
    cases = {
        Trigger.ADMIN_ROLE: ctx(role_ids=frozenset({GLOBAL_ADMINISTRATOR})),
        Trigger.UNFAMILIAR_DEVICE_AND_NETWORK: ctx(familiar=False),
        Trigger.ADMIN_PORTAL: ctx(app_id=ADMIN_PORTALS_APP_ID),
        Trigger.SIGN_IN_RISK: ctx(sign_in_risk="medium"),
        Trigger.SECURITY_INFO_CHANGE: ctx(changing_security_info=True),
    }
    for trigger, context in cases.items():
        outcome = evaluate(context, NOW)
        assert outcome.mfa and outcome.triggers == (trigger,), trigger
    assert evaluate(ctx(sign_in_risk="low"), NOW).mfa is False
    assert evaluate(ctx(role_ids=frozenset({GLOBAL_READER})), NOW).mfa is False


def test_legacy_clients_are_blocked_and_sync_accounts_exempt() -> None:
    assert evaluate(ctx(legacy_client=True), NOW).blocked
    exempt = evaluate(
        ctx(role_ids=frozenset({DIRECTORY_SYNCHRONIZATION_ACCOUNTS}), registered_methods=frozenset()), NOW
    )
    assert exempt.exempt and not exempt.must_register and not exempt.mfa


@pytest.mark.parametrize("client_app", list(ClientAppType))
def test_decide_blocks_legacy_authentication_only_with_security_defaults(client_app: ClientAppType) -> None:
    context = SignInContext(
        tenant_id="t",
        user_id="u",
        group_ids=frozenset(),
        role_ids=frozenset(),
        app_id="app",
        client_app_type=client_app,
        ip_address="192.0.2.1",
    )
    on = decide(context, PolicySet(security_defaults=True), NOW)
    off = decide(context, PolicySet(security_defaults=False), NOW)
    legacy = client_app in (ClientAppType.EXCHANGE_ACTIVE_SYNC, ClientAppType.OTHER)
    assert (on.outcome is Outcome.BLOCK) is legacy
    assert off.outcome is Outcome.ALLOW
    if legacy:
        assert on.error is SignInError.BLOCKED_BY_SECURITY_DEFAULTS
