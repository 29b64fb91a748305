"""What If requests (Graph `conditionalAccessRoot: evaluate`), parsed into the engine's context.

Pure: the service looks up the user's groups, roles and the IP's country and hands them in, so that
a What If request and a real sign-in with the same facts build the same `EvaluationContext` (a
property test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from limen.domain.access.context import EvaluationContext
from limen.domain.access.decision import APP_KEYWORDS
from limen.domain.errors import ValidationFailed

USER_ACTIONS = {
    "registerSecurityInformation": "urn:user:registersecurityinfo",
    "registerOrJoinDevices": "urn:user:registerdevice",
}
PLATFORMS = {"android", "ios", "windows", "windowsphone", "macos", "linux", "all"}
CLIENT_APP_TYPES = {"all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"}
RISK_LEVELS = {"none", "low", "medium", "high"}
_PLATFORM_NAMES = {"ios": "iOS", "macos": "macOS", "windowsphone": "windowsPhone"}
_KNOWN = {"signInIdentity", "signInContext", "signInConditions", "appliedPoliciesOnly"}


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"'{path}' must be an object.")
    return value


def _string(value: object, path: str, allowed: set[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"'{path}' must be a non-empty string.")
    if allowed is not None and value.lower() not in {a.lower() for a in allowed}:
        raise ValidationFailed(f"'{path}' must be one of {', '.join(sorted(allowed))}, not {value!r}.")
    return value


@dataclass(frozen=True, slots=True)
class WhatIfRequest:
    user_id: str
    app_id: str | None
    user_action: str | None
    auth_contexts: frozenset[str]
    client_app_type: str | None
    platform: str | None
    ip_address: str | None
    country: str | None
    sign_in_risk: str
    user_risk: str
    insider_risk: str | None
    authentication_flow: str | None
    device: Mapping[str, object] | None
    applied_only: bool

    def context(
        self, *, user_id: str, user_type: str, group_ids: frozenset[str], role_ids: frozenset[str], country: str | None
    ) -> EvaluationContext:
        return EvaluationContext(
            user_id=user_id,
            user_type=user_type.lower(),
            group_ids=frozenset(g.lower() for g in group_ids),
            role_ids=role_ids,
            app_id=self.app_id,
            app_keywords=APP_KEYWORDS.get(self.app_id or "", frozenset()),
            user_action=self.user_action,
            auth_context_class_refs=self.auth_contexts,
            client_app_type=self.client_app_type,
            platform=self.platform,
            ip_address=self.ip_address,
            country=country,
            sign_in_risk=self.sign_in_risk,
            user_risk=self.user_risk,
            insider_risk=self.insider_risk,
            device=self.device,
            device_known=self.device is not None,
            authentication_flow=self.authentication_flow,
            registered_modes=None,
        )


def parse_request(body: Mapping[str, Any]) -> WhatIfRequest:
    """Check a What If request; ValidationFailed names the property at fault."""
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise ValidationFailed(f"Property '{unknown[0]}' does not exist on the evaluate action.")
    identity = _object(body.get("signInIdentity"), "signInIdentity")
    if identity.get("@odata.type") not in (None, "#microsoft.graph.userSignIn"):
        raise ValidationFailed("'signInIdentity' must be a #microsoft.graph.userSignIn: Limen evaluates user sign-ins.")
    user_id = _string(identity.get("userId"), "signInIdentity.userId")

    target = _object(body.get("signInContext"), "signInContext")
    kind = target.get("@odata.type")
    app_id: str | None = None
    user_action: str | None = None
    auth_contexts: frozenset[str] = frozenset()
    if kind == "#microsoft.graph.applicationContext":
        apps = target.get("includeApplications")
        if not isinstance(apps, list) or len(apps) != 1 or not isinstance(apps[0], str):
            raise ValidationFailed("'signInContext.includeApplications' must list exactly one application id.")
        app_id = apps[0]
    elif kind == "#microsoft.graph.userActionContext":
        action = _string(target.get("userAction"), "signInContext.userAction", set(USER_ACTIONS))
        user_action = next(v for k, v in USER_ACTIONS.items() if k.lower() == action.lower())
    elif kind == "#microsoft.graph.authContext":
        auth_contexts = frozenset(
            {_string(target.get("authenticationContextValue"), "signInContext.authenticationContextValue")}
        )
    else:
        raise ValidationFailed(
            "'signInContext.@odata.type' must be #microsoft.graph.applicationContext, userActionContext or authContext."
        )

    conditions = _object(body.get("signInConditions", {}), "signInConditions")
    platform: str | None = None
    if conditions.get("devicePlatform") is not None:
        raw = _string(conditions["devicePlatform"], "signInConditions.devicePlatform", PLATFORMS).lower()
        platform = None if raw == "all" else _PLATFORM_NAMES.get(raw, raw)
    client: str | None = None
    if conditions.get("clientAppType") is not None:
        raw = _string(conditions["clientAppType"], "signInConditions.clientAppType", CLIENT_APP_TYPES)
        client = None if raw == "all" else next(c for c in CLIENT_APP_TYPES if c.lower() == raw.lower())
    ip = conditions.get("ipAddress")
    if ip is not None:
        ip = _string(ip, "signInConditions.ipAddress")
    country = conditions.get("country")
    if country is not None:
        country = _string(country, "signInConditions.country").upper()
        if len(country) != 2 or not country.isalpha():
            raise ValidationFailed("'signInConditions.country' must be an ISO 3166 two-letter code.")
    risks = {
        name: _string(conditions.get(name, "none"), f"signInConditions.{name}", RISK_LEVELS).lower()
        for name in ("signInRiskLevel", "userRiskLevel")
    }
    transfer: str | None = None
    if conditions.get("authenticationFlow") is not None:
        flow = _object(conditions["authenticationFlow"], "signInConditions.authenticationFlow")
        transfer = _string(
            flow.get("transferMethod"),
            "signInConditions.authenticationFlow.transferMethod",
            {"none", "deviceCodeFlow", "authenticationTransfer"},
        )
        transfer = None if transfer == "none" else transfer
    device: dict[str, object] | None = None
    if conditions.get("deviceInfo") is not None:
        device = dict(_object(conditions["deviceInfo"], "signInConditions.deviceInfo"))
        device.pop("@odata.type", None)
        if "ownership" in device and "deviceOwnership" not in device:
            # Graph's deviceInfo says `ownership` where device filters say `deviceOwnership`.
            device["deviceOwnership"] = device.pop("ownership")
    insider = conditions.get("insiderRiskLevel")
    applied_only = body.get("appliedPoliciesOnly", False)
    if not isinstance(applied_only, bool):
        raise ValidationFailed("'appliedPoliciesOnly' must be true or false.")
    return WhatIfRequest(
        user_id=user_id,
        app_id=app_id,
        user_action=user_action,
        auth_contexts=auth_contexts,
        client_app_type=client,
        platform=platform,
        ip_address=ip,
        country=country,
        sign_in_risk=risks["signInRiskLevel"],
        user_risk=risks["userRiskLevel"],
        insider_risk=insider if isinstance(insider, str) else None,
        authentication_flow=transfer,
        device=device,
        applied_only=applied_only,
    )
