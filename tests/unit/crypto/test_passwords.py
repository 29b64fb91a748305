"""argon2id with the production parameters, as the issue and OWASP specify."""

from __future__ import annotations

from argon2 import PasswordHasher

from limen.crypto.passwords import Argon2Hasher
from limen.crypto.vault import DecryptionFailed, Vault


def test_default_parameters_are_argon2id_m19456_t2_p1() -> None:
    hasher = Argon2Hasher()
    stored = hasher.hash("Tr0ub4dor&3")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(stored, "Tr0ub4dor&3").ok
    assert not hasher.verify(stored, "tr0ub4dor&3").ok


def test_verification_returns_a_new_hash_when_parameters_changed() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("pw")
    result = Argon2Hasher(memory_kib=128, time_cost=1).verify(old, "pw")
    assert result.ok and result.new_hash is not None and "m=128,t=1,p=1" in result.new_hash
    same = Argon2Hasher(memory_kib=64, time_cost=1).verify(old, "pw")
    assert same.ok and same.new_hash is None


def test_missing_or_malformed_hashes_fail_without_raising() -> None:
    hasher = Argon2Hasher(memory_kib=64, time_cost=1)
    assert not hasher.verify(None, "pw").ok
    assert not hasher.verify("not-a-hash", "pw").ok


def test_vault_round_trips_and_supports_key_rotation() -> None:
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Vault([old_key]).encrypt(b"secret")
    rotated_vault = Vault([new_key, old_key])
    assert rotated_vault.decrypt(token) == b"secret"
    rotated = rotated_vault.rotate(token)
    assert Vault([new_key]).decrypt(rotated) == b"secret"
    try:
        Vault([new_key]).decrypt(token)
    except DecryptionFailed:
        pass
    else:
        raise AssertionError("a removed key must not decrypt")
