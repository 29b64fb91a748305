"""What the Conditional Access engine knows about one sign-in (or one What If question).

`EvaluationContext` is the caller's side: plain facts gathered after the first factor. `Signals`
is the engine's side: the same facts normalised once per evaluation (lower-cased ids and keywords,
the parsed address, the device in rule form, a cache of named-location answers) so that each of up
to 195 policies reads them without redoing the work.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime

from limen.domain.access.device_filter import NormalizedDevice, normalize_device
from limen.domain.access.locations import LocationIndex, Membership, Where, parse_address
from limen.domain.access.strengths import CompletedStep

#: `clientAppTypes` a client may be; the last two are legacy authentication (SPEC §3.10).
CLIENT_APP_TYPES = ("browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other")
LEGACY_CLIENT_APP_TYPES = frozenset({"exchangeactivesync", "other"})
PLATFORMS = ("android", "iOS", "windows", "windowsPhone", "macOS", "linux")
RISK_LEVELS = ("none", "low", "medium", "high")
USER_ACTIONS = ("urn:user:registersecurityinfo", "urn:user:registerdevice")
AUTHENTICATION_FLOWS = ("deviceCodeFlow", "authenticationTransfer")

#: `Signals.principals` prefixes and marker (see conditions._users).
USER_PREFIX = "u:"
ROLE_PREFIX = "r:"
ANY_GUEST = "guest:any"


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """The facts of one sign-in. Ids are compared in lower case, as Limen stores GUIDs.

    `None` means "not known" where the field allows it, with these meanings:

    - `app_id`: no application is the target (What If with only a user action or an auth context).
    - `client_app_type`: not given (What If); a policy that restricts client app types then cannot
      be evaluated (`notEnoughInformation`).
    - `platform`: the User-Agent gave no known platform; only `all` platforms covers it (SPEC §3.6).
    - `ip_address` / `country`: both None means no location input (What If); with an address, a None
      country means the address maps to no country (`includeUnknownCountriesAndRegions`).
    - `insider_risk`: Limen has no insider-risk signal; policies that use one are not evaluated.
    - `device`: unregistered or unknown device; every property is null (SPEC §3.8).
    - `registered_modes`: the person's usable method modes are unknown (What If): no registration
      requirement is derived.
    """

    user_id: str
    #: "member" or "guest" (Graph's `userType`, any case).
    user_type: str = "member"
    #: Graph `guestOrExternalUserTypes` value of this user; a guest without one is an `internalGuest`.
    guest_or_external_user_type: str | None = None
    #: The home tenant of an external user, for `externalTenants`.
    home_tenant_id: str | None = None
    #: Transitive group memberships and active built-in role template ids.
    group_ids: frozenset[str] = frozenset()
    role_ids: frozenset[str] = frozenset()
    #: The resource the token is for, and the Graph app keywords it belongs to (`Office365`,
    #: `MicrosoftAdminPortals`) in Limen's mapping.
    app_id: str | None = None
    app_keywords: frozenset[str] = frozenset()
    #: `urn:user:registersecurityinfo` or `urn:user:registerdevice` when the person is doing that.
    user_action: str | None = None
    #: Authentication context class references the application asked for (`c1`, ...).
    auth_context_class_refs: frozenset[str] = frozenset()
    client_app_type: str | None = "browser"
    platform: str | None = None
    ip_address: str | None = None
    country: str | None = None
    sign_in_risk: str = "none"
    user_risk: str = "none"
    insider_risk: str | None = None
    #: Graph `device` properties from Limen's device registry.
    device: Mapping[str, object] | None = None
    #: False when nothing is known about the device at all (What If without `deviceInfo`): device
    #: conditions are then `notEnoughInformation` instead of "an unregistered device".
    device_known: bool = True
    #: `deviceCodeFlow` or `authenticationTransfer` when the sign-in is one of those.
    authentication_flow: str | None = None
    #: The steps the session has completed so far (first factor included): grant controls are met
    #: from these, so the same call serves before and after the person does MFA.
    completed: tuple[CompletedStep, ...] = ()
    #: Limen's MFA rule (`limen.domain.session.is_multi_factor`) for the completed steps.
    is_multi_factor: bool = False
    #: Modes of the methods the person has registered and may use (for "registerSecurityInfo").
    registered_modes: frozenset[str] | None = None
    #: The person completed a secure password change in this sign-in (grant `passwordChange`).
    password_changed: bool = False


_NONE: frozenset[str] = frozenset()


class Signals:
    """The context, normalised once per evaluation."""

    __slots__ = (
        "_device",
        "_device_ready",
        "_grant_facts",
        "_located",
        "_oldest",
        "_where",
        "acrs",
        "app_id",
        "app_keywords",
        "client_type",
        "context",
        "device_properties",
        "guest_type",
        "home_tenant",
        "platform",
        "principals",
        "user_action",
    )

    def __init__(self, context: EvaluationContext, device_properties: frozenset[str] | None = None) -> None:
        self.context = context
        #: The device properties the policies read (None: all); the others are not normalized.
        self.device_properties = device_properties
        self.app_id = context.app_id.lower() if context.app_id else None
        # Usually empty: no need to build anything then (this runs once per sign-in, every µs counts).
        keywords = context.app_keywords
        self.app_keywords = frozenset(k.lower() for k in keywords) if keywords else _NONE
        self.user_action = context.user_action.lower() if context.user_action else None
        acrs = context.auth_context_class_refs
        self.acrs = frozenset(a.lower() for a in acrs) if acrs else _NONE
        self.client_type = context.client_app_type.lower() if context.client_app_type else None
        self.platform = context.platform.lower() if context.platform else None
        guest = context.guest_or_external_user_type
        if guest is None and context.user_type.lower() == "guest":
            guest = "internalGuest"
        self.guest_type = guest.lower() if guest else None
        self.home_tenant = context.home_tenant_id.lower() if context.home_tenant_id else None
        # Who the user is, as the users condition looks it up (see conditions._users): the user and
        # role ids prefixed, group ids as they are (the most numerous; Limen's ids are lower case).
        extra = [USER_PREFIX + context.user_id.lower()]
        if context.role_ids:
            extra.extend(ROLE_PREFIX + r.lower() for r in context.role_ids)
        if self.guest_type is not None:
            extra.append(ANY_GUEST)
        self.principals = context.group_ids.union(extra)
        self._where: Where | None = None
        self._located: tuple[LocationIndex, Membership] | None = None
        self._device: NormalizedDevice | None = None
        self._device_ready = False
        self._grant_facts: Hashable = None
        self._oldest: tuple[datetime | None, datetime | None] | None = None

    @property
    def where(self) -> Where:
        if self._where is None:
            context = self.context
            country = context.country.upper() if context.country else None
            self._where = Where(
                address=parse_address(context.ip_address),
                country=country,
                country_known=country is not None or bool(context.ip_address),
            )
        return self._where

    @property
    def device(self) -> NormalizedDevice | None:
        """The device as rules see it. A device code flow carries no device identity, so device
        conditions and controls see none (SPEC §3.8: it cannot satisfy them)."""
        if not self._device_ready:
            flow = (self.context.authentication_flow or "").lower()
            self._device = (
                None if flow == "devicecodeflow" else normalize_device(self.context.device, self.device_properties)
            )
            self._device_ready = True
        return self._device

    @property
    def grant_facts(self) -> Hashable:
        """What assessing grant controls reads of this sign-in, the device aside (controls.assess_grant:
        legacy client, MFA done, password changed, the completed steps' modes and authenticators, the
        registered modes, registering now)."""
        if self._grant_facts is None:
            context = self.context
            registered = context.registered_modes
            self._grant_facts = (
                self.legacy_client,
                context.is_multi_factor,
                context.password_changed,
                tuple((step.mode, step.aaguid) for step in context.completed),
                None if registered is None else frozenset(registered),
                self.user_action == "urn:user:registersecurityinfo",
            )
        return self._grant_facts

    @property
    def oldest_step(self) -> datetime | None:
        """When the oldest completed step was done (None: none yet), for sign-in frequencies."""
        return self._oldest_steps()[0]

    @property
    def oldest_secondary_step(self) -> datetime | None:
        """The same, among the steps other than the password."""
        return self._oldest_steps()[1]

    def _oldest_steps(self) -> tuple[datetime | None, datetime | None]:
        if self._oldest is None:
            steps = self.context.completed
            secondary = [step.at for step in steps if step.mode.lower() != "password"]
            self._oldest = (min(step.at for step in steps) if steps else None, min(secondary) if secondary else None)
        return self._oldest

    def membership(self, index: LocationIndex) -> Membership:
        """This sign-in's membership of every named location of `index`, computed once however many
        policies have location conditions."""
        located = self._located
        if located is None or located[0] is not index:
            located = self._located = (index, index.membership(self.where))
        return located[1]

    @property
    def legacy_client(self) -> bool:
        return self.client_type in LEGACY_CLIENT_APP_TYPES
