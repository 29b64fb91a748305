"""Coarse device details from a User-Agent header, for the sign-in log's `deviceDetail`.

Only the browser family and operating system are derived: enough for an admin to recognise a
sign-in, with nothing a client could use to claim compliance (that needs device registration).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"OPR/(\d+)")),
    ("Firefox", re.compile(r"Firefox/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS|Chromium)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+).*Safari/")),
)
_SYSTEMS = (
    ("Windows", re.compile(r"Windows NT")),
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("MacOs", re.compile(r"Mac OS X|Macintosh")),
    ("Linux", re.compile(r"Linux|X11")),
)


def device_detail(user_agent: str, device: Mapping[str, object] | None = None) -> dict[str, object]:
    """Graph `signIn.deviceDetail`: the browser and system from the User-Agent and, when the browser
    proved it is a registered device (its device cookie), that device's id, name and state."""
    browser = ""
    for name, pattern in _BROWSERS:
        match = pattern.search(user_agent)
        if match:
            browser = f"{name} {match.group(1)}.0"
            break
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    detail: dict[str, object] = {
        "deviceId": "",
        "displayName": "",
        "operatingSystem": system,
        "browser": browser or ("Rich Client" if user_agent else ""),
        "isCompliant": False,
        "isManaged": False,
        "trustType": "",
    }
    if device is not None:
        detail.update(
            deviceId=str(device.get("deviceId") or ""),
            displayName=str(device.get("displayName") or ""),
            operatingSystem=system or str(device.get("operatingSystem") or ""),
            isCompliant=bool(device.get("isCompliant")),
            isManaged=bool(device.get("isManaged")),
            trustType=str(device.get("trustType") or ""),
        )
    return detail


#: Conditional Access `platforms` values by the operating system `device_detail` finds.
_PLATFORMS = {"Windows": "windows", "Android": "android", "iOS": "iOS", "MacOs": "macOS", "Linux": "linux"}


def platform_of(user_agent: str) -> str | None:
    """The device platform Conditional Access sees (from the User-Agent, which a client controls:
    platform conditions are a convenience, not a security boundary, exactly as in Entra)."""
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    return _PLATFORMS.get(system)
