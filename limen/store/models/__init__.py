"""SQLAlchemy models, one module per aggregate. Every row belongs to a tenant."""

from limen.store.models.access import (
    AuthenticationStrengthPolicy,
    ConditionalAccessPolicy,
    NamedLocation,
    SignInFamiliarity,
)
from limen.store.models.apps import Application, ApplicationPassword
from limen.store.models.base import Base
from limen.store.models.device_codes import DeviceCode, DeviceCodeAttempt
from limen.store.models.devices import Device, DeviceOwner
from limen.store.models.directory import Group, GroupMember, RoleAssignment, Tenant, User
from limen.store.models.methods import AuthMethod, MethodChallenge, RiskDetection
from limen.store.models.oauth import AuthorizationCode, BrowserSession, RefreshToken, SignInFlow, SigningKey
from limen.store.models.signin_log import SignInRow

__all__ = [
    "Application",
    "ApplicationPassword",
    "AuthMethod",
    "AuthenticationStrengthPolicy",
    "AuthorizationCode",
    "Base",
    "BrowserSession",
    "ConditionalAccessPolicy",
    "Device",
    "DeviceCode",
    "DeviceCodeAttempt",
    "DeviceOwner",
    "Group",
    "GroupMember",
    "MethodChallenge",
    "NamedLocation",
    "RefreshToken",
    "RiskDetection",
    "RoleAssignment",
    "SignInFamiliarity",
    "SignInFlow",
    "SignInRow",
    "SigningKey",
    "Tenant",
    "User",
]
