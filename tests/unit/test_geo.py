"""Country lookup from the bundled GeoIP database (offline)."""

from __future__ import annotations

import pytest

from limen.domain.user_agent import platform_of
from limen.service.geo import country_of


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),
        ("81.2.69.142", "GB"),
        ("2a00:1450:4001::1", "DE"),
        ("127.0.0.1", None),
        ("10.1.2.3", None),
        ("192.0.2.1", None),  # documentation range: not global
        ("2001:db8::1", None),
        ("not an address", None),
    ],
)
def test_country_of(ip: str, country: str | None) -> None:
    assert country_of(ip) == country


@pytest.mark.parametrize(
    ("agent", "platform"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0", "windows"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", "iOS"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/130.0 Mobile", "android"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15", "macOS"),
        ("Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", "linux"),
        ("curl/8.5.0", None),
        ("", None),
    ],
)
def test_platform_of(agent: str, platform: str | None) -> None:
    assert platform_of(agent) == platform
