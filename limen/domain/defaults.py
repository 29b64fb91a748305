"""Security defaults (SPEC.md §1, §10): the one-switch baseline, as a pure function.

- Every user must register an authenticator-app method (push or TOTP, SPEC §1.2 #1). The window to do
  it is per user: `grace_days` (default 14) from their first interactive sign-in after defaults
  applied to them; during it they may skip, after it the sign-in cannot complete without registering.
- Holders of the admin roles in SPEC §1.3 do MFA at every sign-in.
- Other users do MFA "when necessary", which Limen defines exactly (SPEC §10): the sign-in risk is
  medium or high; or neither the device nor the network has been seen in a successful sign-in of that
  user in the last 90 days; or the target is Limen's admin console or admin API; or the action is
  registering or removing security info while the user already has a method.
- Legacy authentication (Exchange ActiveSync and other clients) is blocked (AADSTS530035).
- Directory Synchronization Accounts are never asked to register or do MFA (SPEC §1.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from limen.domain.directory import DIRECTORY_SYNCHRONIZATION_ACCOUNTS, role_catalogue

DEFAULT_GRACE_DAYS = 14
FAMILIARITY_DAYS = 90
#: Methods that count as "registered for MFA" under security defaults (SPEC §1.2 #1).
REQUIRED_METHODS = frozenset({"softwareOath", "microsoftAuthenticator"})
#: `MicrosoftAdminPortals` in Limen: its own admin console and admin API (privileged activities).
ADMIN_PORTALS_APP_ID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"


def admin_role_ids() -> frozenset[str]:
    return frozenset(role.id for role in role_catalogue().values() if role.security_defaults_admin)


class Trigger(StrEnum):
    """Why security defaults asked for MFA; logged with the sign-in."""

    ADMIN_ROLE = "adminRole"
    SIGN_IN_RISK = "signInRisk"
    UNFAMILIAR_DEVICE_AND_NETWORK = "unfamiliarDeviceAndNetwork"
    ADMIN_PORTAL = "adminPortal"
    SECURITY_INFO_CHANGE = "securityInfoChange"


@dataclass(frozen=True, slots=True)
class DefaultsContext:
    role_ids: frozenset[str]
    registered_methods: frozenset[str]
    #: When this user's registration window started (None: it starts with this sign-in).
    window_started_at: datetime | None
    legacy_client: bool
    app_id: str
    #: The device (browser cookie) or the network was seen in a successful sign-in of this user lately.
    familiar: bool
    sign_in_risk: str = "none"
    changing_security_info: bool = False
    grace_days: int = DEFAULT_GRACE_DAYS


@dataclass(frozen=True, slots=True)
class DefaultsOutcome:
    blocked: bool = False
    mfa: bool = False
    triggers: tuple[Trigger, ...] = ()
    must_register: bool = False
    skip_allowed: bool = False
    #: Whole days left to register (rounded up), when registration is asked for.
    days_left: int | None = None
    #: Set when this sign-in starts the user's registration window.
    starts_window: bool = False
    exempt: bool = False


def evaluate(context: DefaultsContext, now: datetime) -> DefaultsOutcome:
    if context.legacy_client:
        return DefaultsOutcome(blocked=True)
    if DIRECTORY_SYNCHRONIZATION_ACCOUNTS in context.role_ids:
        return DefaultsOutcome(exempt=True)
    registered = bool(context.registered_methods & REQUIRED_METHODS)
    skip_allowed, days_left = False, None
    if not registered:
        deadline = (context.window_started_at or now) + timedelta(days=context.grace_days)
        skip_allowed = now < deadline
        days_left = max(0, math.ceil((deadline - now) / timedelta(days=1)))
    # A user with other methods (say, a text message) still does MFA when a trigger fires.
    triggers: list[Trigger] = []
    if context.role_ids & admin_role_ids():
        triggers.append(Trigger.ADMIN_ROLE)
    if context.sign_in_risk in ("medium", "high"):
        triggers.append(Trigger.SIGN_IN_RISK)
    if not context.familiar:
        triggers.append(Trigger.UNFAMILIAR_DEVICE_AND_NETWORK)
    if context.app_id == ADMIN_PORTALS_APP_ID:
        triggers.append(Trigger.ADMIN_PORTAL)
    if context.changing_security_info:
        triggers.append(Trigger.SECURITY_INFO_CHANGE)
    mfa = bool(triggers) and bool(context.registered_methods)
    return DefaultsOutcome(
        mfa=mfa,
        triggers=tuple(triggers) if mfa else (),
        must_register=not registered,
        skip_allowed=skip_allowed,
        days_left=days_left,
        starts_window=not registered and context.window_started_at is None,
    )
