"""Where an IP address is: its country, for named locations and the sign-in log.

Uses geoip2fast's bundled database (country level, IPv4 and IPv6, shipped inside the package so that
Limen works offline). Refresh it by upgrading the package (`pip install -U geoip2fast`, then pin the
new version) — see docs/conditional-access.md. Private, loopback and unknown addresses have no country.
"""

from __future__ import annotations

import ipaddress
import threading
from functools import lru_cache

from geoip2fast import GeoIP2Fast

_DATA_FILE = "geoip2fast-ipv6.dat.gz"  # covers IPv4 and IPv6
_lock = threading.Lock()
_reader: GeoIP2Fast | None = None


def _database() -> GeoIP2Fast:
    global _reader
    with _lock:
        if _reader is None:
            # Loaded once per process (about 0.1 s), on first use rather than at import.
            _reader = GeoIP2Fast(geoip2fast_data_file=_DATA_FILE)
        return _reader


@lru_cache(maxsize=4096)
def country_of(ip_address: str) -> str | None:
    """ISO 3166 alpha-2 code, or None when the address is private, reserved or not in the database."""
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return None
    if not address.is_global:
        return None
    code = str(_database().lookup(str(address)).country_code or "")
    return code if len(code) == 2 and code.isalpha() else None
