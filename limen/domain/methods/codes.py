"""One-time codes sent out of band (text message, e-mail): what SMS and e-mail share.

Not a method itself (it has no SPEC): `sms` and `email` build on it. A code is kept only as
`env.digest(salt + code)`, with a salt unique to the prompt, so the pending state of a challenge
(encrypted at rest anyway) reveals nothing even to someone holding the server's key and a table of
all 10**6 codes: they would need a table per salt.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from limen.domain.methods.base import Environment, Reason, Rejected

#: Characters people put between digits when they copy a code ("123 456", "1234-5678").
_SEPARATORS = re.compile(r"[\s\-.]")


def new_code(digits: int) -> str:
    """A uniformly random decimal code, leading zeros kept."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def seal(code: str, env: Environment) -> dict[str, str]:
    """The `pending` fields that let `matches` check an answer later without keeping the code."""
    salt = secrets.token_hex(16)
    return {"salt": salt, "digest": env.digest(salt + code)}


def normalise(raw: str, digits: int) -> str | None:
    """The code as typed, without separators; None unless exactly `digits` ASCII digits remain."""
    code = _SEPARATORS.sub("", raw)
    return code if len(code) == digits and code.isascii() and code.isdigit() else None


def matches(pending: Mapping[str, Any], code: str, env: Environment) -> bool:
    """Whether `code` is the sealed one; compared in constant time."""
    salt, digest = pending.get("salt"), pending.get("digest")
    if not isinstance(salt, str) or not isinstance(digest, str):
        return False
    return hmac.compare_digest(env.digest(salt + code), digest)


def check(pending: Mapping[str, Any], answer: Mapping[str, str], env: Environment, digits: int) -> Rejected | None:
    """None when the answer's `code` is the sealed one, else why not.

    A code of the wrong shape does not count as a failure (a slip of the finger, not a guess); the
    service counts wrong codes per challenge and gives up after five (SPEC.md §10).
    """
    code = normalise(answer.get("code", ""), digits)
    if code is None:
        return Rejected(Reason.MALFORMED, f"Enter the {digits}-digit code we sent you.", counts_as_failure=False)
    if not matches(pending, code, env):
        return Rejected(Reason.WRONG_CODE, "That code didn't work. Check the code we sent you and try again.")
    return None
