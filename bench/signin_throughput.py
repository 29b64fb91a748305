"""Password sign-ins per second through Limen's HTTP flow, against raw argon2id verifications per second.

Limen runs under `limen serve` on 127.0.0.1 with production argon2id parameters (unless overridden);
N concurrent clients each repeat the no-JavaScript sign-in: GET /signin, POST the username, POST the
password (the answer is the 303 that completes the sign-in). The raw figure runs argon2id `verify`
with the same parameters in as many processes as the machine has cores. The ratio says how much of
the machine's hashing capacity reaches users as completed sign-ins (target: at least 0.8).

    python bench/signin_throughput.py [--clients 8] [--seconds 15] [--workers 1] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from argon2 import PasswordHasher
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.live import free_port, limen_server

PASSWORD = "Bench-Password-2026!"
_HIDDEN = re.compile(r'name="(flow|csrf_token)" value="([^"]*)"')


def _raw_worker(args: tuple[int, int, int, float]) -> int:
    memory, time_cost, parallelism, seconds = args
    hasher = PasswordHasher(memory_cost=memory, time_cost=time_cost, parallelism=parallelism)
    stored = hasher.hash(PASSWORD)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(stored, PASSWORD)
        count += 1
    return count


def raw_rate(memory: int, time_cost: int, parallelism: int, seconds: float, processes: int) -> float:
    with multiprocessing.Pool(processes) as pool:
        counts = pool.map(_raw_worker, [(memory, time_cost, parallelism, seconds)] * processes)
    return sum(counts) / seconds


def _fields(html: str) -> dict[str, str]:
    return dict(_HIDDEN.findall(html))


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    The load generator shares the machine's cores with the server, so it must cost little: httpx
    spends about a millisecond of CPU per request, which would be charged to Limen's figure.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None and self._writer is not None
        body = urlencode(form).encode() if form is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "User-Agent: limen-bench"]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
            else:
                headers[name] = value
        length = int(headers.get("content-length", "0"))
        text = (await self._reader.readexactly(length)).decode() if length else ""
        return status, headers, text

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _client(base: str, users: list[str], deadline: float, counter: list[int], failures: list[int]) -> None:
    parts = urlsplit(base)
    client = LeanClient(parts.hostname or "127.0.0.1", parts.port or 80)
    index = secrets.randbelow(len(users))
    try:
        while time.perf_counter() < deadline:
            client.cookies.clear()
            status, headers, page = await client.request("GET", "/signin")
            if status == 303:
                status, headers, page = await client.request("GET", headers["location"])
            _, _, page = await client.request("POST", "/signin/identify", {**_fields(page), "username": users[index]})
            status, _, _ = await client.request("POST", "/signin/password", {**_fields(page), "password": PASSWORD})
            if status == 303 and time.perf_counter() < deadline:
                counter[0] += 1
            elif status != 303:
                failures[0] += 1
            index = (index + 1) % len(users)
    finally:
        await client.close()


async def http_rate(base: str, users: list[str], clients: int, seconds: float) -> tuple[float, int]:
    # Warm-up: connection pools and caches (signing key, templates) fill on first use.
    await asyncio.gather(*(_client(base, users, time.perf_counter() + 2, [0], [0]) for _ in range(clients)))
    counter, failures = [0], [0]
    start = time.perf_counter()
    await asyncio.gather(*(_client(base, users, start + seconds, counter, failures) for _ in range(clients)))
    return counter[0] / seconds, failures[0]


def seed(env: dict[str, str], count: int) -> list[str]:
    os.environ.update(env)
    from limen.config import load_settings
    from limen.service.context import build_services
    from limen.service.directory import create_user
    from limen.service.security_defaults import set_enabled
    from limen.service.tenants import default_tenant_id
    from limen.store import migrate
    from limen.store.db import transaction

    services = build_services(load_settings(env))
    migrate.upgrade(services.engine)
    tenant = default_tenant_id(services)
    # The figure is password sign-ins: with security defaults on, users without an authenticator app
    # would stop at the registration prompt (docs/performance.md).
    with transaction(services.db) as db:
        set_enabled(db, tenant, False)
    stored = services.hasher.hash(PASSWORD)
    upns = [f"bench.user{i}@contoso.test" for i in range(count)]
    with transaction(services.db) as db:
        for upn in upns:
            user = create_user(db, tenant, services.clock.now(), user_principal_name=upn, display_name=upn)
            user.password_hash = stored
    services.engine.dispose()
    return upns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement time for each figure")
    parser.add_argument(
        "--workers", type=int, default=1, help="limen serve --workers (default 1, as limen serve; docs/performance.md)"
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-kib", type=int, default=19456)
    parser.add_argument("--time-cost", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument(
        "--argon2-concurrency", type=int, default=0, help="LIMEN_ARGON2_CONCURRENCY for the server (0: one per core)"
    )
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp dir")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            "LIMEN_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
            "LIMEN_ISSUER": f"http://127.0.0.1:{port}",
            "LIMEN_SECRET_KEY": secrets.token_urlsafe(32),
            "LIMEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LIMEN_DATA_DIR": tmp,
            "LIMEN_ARGON2_MEMORY_KIB": str(args.memory_kib),
            "LIMEN_ARGON2_TIME_COST": str(args.time_cost),
            "LIMEN_ARGON2_PARALLELISM": str(args.parallelism),
            "LIMEN_ARGON2_CONCURRENCY": str(args.argon2_concurrency),
            "LIMEN_LOG_LEVEL": "warning",
        }
        users = seed(env, args.users)
        print(f"machine: {cores} cores; argon2id m={args.memory_kib} KiB t={args.time_cost} p={args.parallelism}")
        print(
            f"{args.clients} concurrent clients, limen serve --workers {args.workers}, {args.seconds:.0f} s per figure"
        )
        ratios = []
        with limen_server(env, port, workers=args.workers) as base:
            # Rounds alternate the two measurements, so background load on the machine hits both alike.
            for round_no in range(1, args.rounds + 1):
                raw = raw_rate(args.memory_kib, args.time_cost, args.parallelism, args.seconds, cores)
                rate, failures = asyncio.run(http_rate(base, users, args.clients, args.seconds))
                ratios.append(rate / raw)
                print(
                    f"round {round_no}: raw argon2id verify {raw:7.1f}/s ({cores} processes) | "
                    f"HTTP password sign-ins {rate:7.1f}/s (failures {failures}) | ratio {rate / raw:.2f}"
                )
        print(f"median ratio sign-ins / raw verifications: {statistics.median(ratios):.2f}  (target >= 0.80)")


if __name__ == "__main__":
    main()
