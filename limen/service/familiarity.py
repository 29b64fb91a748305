"""Which devices and networks a user has signed in from: security defaults' "MFA when necessary"
asks for MFA when neither the device nor the network was seen in the last 90 days (SPEC.md §10).

A device is the browser's long-lived cookie (its keyed hash); a network is the /24 of an IPv4
address or the /48 of an IPv6 address. History is recorded on successful interactive sign-ins
while security defaults are on.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.defaults import FAMILIARITY_DAYS
from limen.store.models import SignInFamiliarity

DEVICE, NETWORK = "device", "network"


def network_of(ip_address: str) -> str:
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ip_address[:64]
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def is_familiar(db: Session, user_id: str, device_key: str, ip_address: str, now: datetime) -> bool:
    since = now - timedelta(days=FAMILIARITY_DAYS)
    keys = [(NETWORK, network_of(ip_address))]
    if device_key:
        keys.append((DEVICE, device_key))
    found = db.scalar(
        sa.select(sa.func.count())
        .select_from(SignInFamiliarity)
        .where(
            SignInFamiliarity.user_id == user_id,
            SignInFamiliarity.last_seen_at > since,
            sa.or_(*(sa.and_(SignInFamiliarity.kind == k, SignInFamiliarity.key == v) for k, v in keys)),
        )
    )
    return bool(found)


def remember(
    db: Session | sa.Connection, tenant_id: str, user_id: str, device_key: str, ip_address: str, now: datetime
) -> None:
    keys = [(NETWORK, network_of(ip_address))]
    if device_key:
        keys.append((DEVICE, device_key))
    table = SignInFamiliarity.metadata.tables["sign_in_familiarity"]
    for kind, key in keys:
        where = sa.and_(table.c.user_id == user_id, table.c.kind == kind, table.c.key == key)
        updated = db.execute(sa.update(table).where(where).values(last_seen_at=now))
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            try:
                with db.begin_nested():
                    db.execute(
                        sa.insert(table).values(
                            user_id=user_id, kind=kind, key=key, tenant_id=tenant_id, last_seen_at=now
                        )
                    )
            except sa.exc.IntegrityError:
                pass  # another sign-in of the same user recorded it at the same moment
