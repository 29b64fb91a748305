"""Opaque bearer secrets: random, shown once, stored as SHA-256 (their entropy makes slow hashes pointless)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def keyed_digest(key: str, *parts: str) -> str:
    """HMAC-SHA256 over `parts`, for values we derive rather than store (CSRF tokens)."""
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()
