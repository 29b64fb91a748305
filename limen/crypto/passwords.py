"""Password hashing with argon2id (argon2-cffi). Verification is CPU-bound and releases the GIL;
callers on the event loop must run it in a worker thread (see limen.service.signin).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    #: A new hash with the current parameters, when the stored one used older parameters.
    new_hash: str | None = None


class Argon2Hasher:
    def __init__(
        self,
        *,
        memory_kib: int = 19456,
        time_cost: int = 2,
        parallelism: int = 1,
        max_concurrency: int | None = None,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # argon2 is memory-hard: many hashes at once only evict each other from the CPU caches (and
        # cost m KiB each). Beyond one per core, callers wait their turn instead.
        self.max_concurrency = max_concurrency or os.cpu_count() or 1
        self._executor: ThreadPoolExecutor | None = None
        self._executor_pid = 0
        self._executor_lock = threading.Lock()
        # Verifying against this hash makes an unknown username cost the same as a wrong password.
        self._dummy_hash = self._hasher.hash("limen-timing-equaliser")

    def hash(self, password: str) -> str:
        return self._run(self._hash, password)

    def verify(self, stored_hash: str | None, password: str) -> Verification:
        """Check `password`; with no stored hash, burn the same time and fail."""
        return self._run(self._verify, stored_hash, password)

    def dummy_verify(self, password: str) -> None:
        """Spend one verification's worth of time, for accounts that do not exist or cannot sign in."""
        self._run(self._burn, password)

    def _run(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run `work` in one of this process's hashing threads and wait for it.

        Dedicated threads, because each thread's allocator keeps the m KiB its last hash used: the same
        few threads reuse warm memory, where the web server's pool of dozens would each touch their own,
        cold, costing 10-15 % more CPU per hash (docs/performance.md).
        """
        executor = self._executor
        if executor is None or self._executor_pid != os.getpid():  # none yet, or inherited over fork
            with self._executor_lock:
                if self._executor is None or self._executor_pid != os.getpid():
                    self._executor = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="argon2")
                    self._executor_pid = os.getpid()
                executor = self._executor
        # The executor's threads are the slots: at most max_concurrency hashes at once, the rest queue.
        return executor.submit(work, *args).result()

    def _hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def _verify(self, stored_hash: str | None, password: str) -> Verification:
        if stored_hash is None:
            self._burn(password)
            return Verification(ok=False)
        try:
            self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verification(ok=True, new_hash=self._hasher.hash(password))
        return Verification(ok=True)

    def _burn(self, password: str) -> None:
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy_hash, password)
