"""argon2id with the production parameters, as the issue and OWASP specify."""

from __future__ import annotations

import threading

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


def test_concurrency_defaults_to_one_hash_per_core_and_can_be_set() -> None:
    import os

    assert Argon2Hasher(memory_kib=64, time_cost=1).max_concurrency == (os.cpu_count() or 1)
    assert Argon2Hasher(memory_kib=64, time_cost=1, max_concurrency=3).max_concurrency == 3


def test_no_more_hashes_than_the_cap_run_at_once() -> None:
    import threading

    from argon2 import PasswordHasher

    class Gate(PasswordHasher):
        def __init__(self) -> None:
            super().__init__(memory_cost=64, time_cost=1, parallelism=1)
            self.inside = 0
            self.entered = threading.Semaphore(0)
            self.release = threading.Event()

        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            self.inside += 1
            self.entered.release()
            assert self.release.wait(timeout=30)
            self.inside -= 1
            return super().verify(hash, password)

    hasher = Argon2Hasher(memory_kib=64, time_cost=1, max_concurrency=2)
    stored = hasher.hash("pw")
    gate = Gate()
    hasher._hasher = gate
    threads = [threading.Thread(target=hasher.verify, args=(stored, "pw")) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert gate.entered.acquire(timeout=30) and gate.entered.acquire(timeout=30)
    # Two are inside; the third waits at the cap rather than entering.
    assert not gate.entered.acquire(timeout=0.2)
    assert gate.inside == 2
    gate.release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert gate.inside == 0


def test_hashes_run_on_the_hasher_s_own_few_threads_whoever_calls() -> None:
    """The m KiB an argon2 hash walks stays warm in the thread that ran it: the same few threads must do
    every hash, not whichever of the web server's many threads happens to call."""
    seen: set[str] = set()

    class Recording(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            seen.add(threading.current_thread().name)
            return super().verify(hash, password)

    hasher = Argon2Hasher(memory_kib=64, time_cost=1, max_concurrency=2)
    stored = hasher.hash("pw")
    hasher._hasher = Recording(memory_cost=64, time_cost=1, parallelism=1)
    callers = [threading.Thread(target=hasher.verify, args=(stored, "pw"), name=f"caller-{n}") for n in range(12)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    assert seen and len(seen) <= 2 and all(name.startswith("argon2") for name in seen)
