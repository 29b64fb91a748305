"""Users imported per second by `limen import`, on a fresh SQLite or PostgreSQL database.

Generates N users as CSV (each in one of 50 department groups; 1% carry an argon2id `passwordHash`
computed once and reused, as when migrating from another IdP; optionally K carry a clear-text
`password` to hash), then imports the file through the same function as `limen import`.

    python bench/import_users.py [--users 100000] [--passwords 0] [--database-url URL]

With --database-url postgresql+psycopg://user@host:port/any, a fresh database is created on that
server and dropped afterwards. Production argon2id parameters are used unless LIMEN_ARGON2_* say otherwise.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from limen.cli.directory import import_file
from limen.config import load_settings
from limen.service.context import build_services
from limen.service.tenants import ensure_default_tenant
from limen.store import migrate
from limen.store.db import make_engine
from limen.store.models import GroupMember, User

GROUPS = 50


def write_csv(path: Path, users: int, hashed_share: float, passwords: int, password_hash: str) -> int:
    """Write the CSV; return how many rows carry a passwordHash."""
    with_hash = 0
    every = max(1, round(1 / hashed_share)) if hashed_share > 0 else 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["userPrincipalName", "displayName", "mail", "givenName", "surname", "accountEnabled",
                      "userType", "password", "passwordHash", "groups"])  # fmt: skip
        for i in range(users):
            upn = f"user{i:06d}@bench.example"
            clear = f"Bench-password-{i}" if i < passwords else ""
            phc = password_hash if not clear and every and i % every == 0 else ""
            with_hash += bool(phc)
            out.writerow([upn, f"User {i:06d}", upn, "User", f"{i:06d}", "true", "Member", clear, phc,
                          f"Department {i % GROUPS:02d}"])  # fmt: skip
    return with_hash


def fresh_database(base_url: str | None, workdir: Path) -> tuple[str, sa.Engine | None, str | None]:
    """(url, admin engine, database name): a new SQLite file, or a new PostgreSQL database."""
    if base_url is None:
        return f"sqlite:///{workdir / 'bench.db'}", None, None
    base_url = base_url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"limen_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.make_url(base_url).set(database=name).render_as_string(hide_password=False), admin, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--hashed-share", type=float, default=0.01, help="Share of rows with a passwordHash.")
    parser.add_argument("--passwords", type=int, default=0, help="Rows with a clear-text password to hash.")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (a fresh database is made).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="limen-bench-") as tmp:
        workdir = Path(tmp)
        url, admin, name = fresh_database(args.database_url, workdir)
        env = {k: v for k, v in os.environ.items() if k.startswith("LIMEN_ARGON2_")}
        settings = load_settings({**env, "LIMEN_DATABASE_URL": url, "LIMEN_DATA_DIR": str(workdir / "data")})
        engine = make_engine(settings.database_url)
        try:
            migrate.upgrade(engine)
            services = build_services(settings, engine=engine)
            ensure_default_tenant(services)
            path = workdir / "users.csv"
            with_hash = write_csv(
                path, args.users, args.hashed_share, args.passwords, services.hasher.hash("Migrated-pw-1")
            )

            started = time.perf_counter()
            report = import_file(services, path, "csv", skip_invalid=False)
            seconds = time.perf_counter() - started

            with services.db() as db:
                stored = db.scalar(sa.select(sa.func.count()).select_from(User)) or 0
                edges = db.scalar(sa.select(sa.func.count()).select_from(GroupMember))
            assert report.written and stored == args.users, (report.errors[:5], stored)
            backend = "PostgreSQL" if admin is not None else "SQLite"
            print(f"backend            {backend} ({engine.dialect.server_version_info or ''})")
            print(f"users imported     {stored:,} ({edges:,} memberships, {report.groups_created} groups)")
            print(f"passwords          {report.passwords_hashed:,} hashed, {with_hash:,} given as passwordHash")
            print(f"total seconds      {seconds:.2f}")
            print(f"users per second   {stored / seconds:,.0f}")
        finally:
            engine.dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
