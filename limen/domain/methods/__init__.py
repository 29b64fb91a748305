"""Authentication methods: base.py defines the shape, each module one method.

A new method is one module plus one line in `_MODULES` below.
"""

from __future__ import annotations

from types import ModuleType

from limen.domain.methods import email, fido2, password, push, sms, tap, totp
from limen.domain.methods.base import Method, MethodSpec

_MODULES: tuple[ModuleType, ...] = (
    password,
    totp,
    fido2,
    push,
    sms,
    email,
    tap,
)

#: Every method Limen knows, by key, in the order "other ways to sign in" lists them.
SPECS: dict[str, MethodSpec] = {module.SPEC.key: module.SPEC for module in _MODULES}
#: The methods that have registration and challenge operations (all but the password).
METHODS: dict[str, Method] = {module.SPEC.key: module.METHOD for module in _MODULES if hasattr(module, "METHOD")}


def spec(key: str) -> MethodSpec | None:
    return SPECS.get(key)


def method(key: str) -> Method | None:
    return METHODS.get(key)
