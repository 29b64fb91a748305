"""Encryption at rest for secrets Limen must read back (signing keys, later TOTP seeds).

MultiFernet: the first configured key encrypts; every key decrypts, so keys can be rotated by
prepending a new one and re-encrypting (`limen keys reencrypt`).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DecryptionFailed(Exception):
    """No configured key can decrypt the value: the key was removed or the data was altered."""


class Vault:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("Vault needs at least one key")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise DecryptionFailed("cannot decrypt with the configured LIMEN_ENCRYPTION_KEYS") from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the primary key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise DecryptionFailed("cannot decrypt with the configured LIMEN_ENCRYPTION_KEYS") from exc
