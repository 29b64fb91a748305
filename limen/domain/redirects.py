"""Redirect URI rules (RFC 6749 §3.1.2, RFC 8252 for native apps, OAuth 2.0 Security BCP).

Registration validates URIs; authorization compares them exactly, character for character.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from limen.domain.errors import ValidationFailed

MAX_REDIRECT_URIS = 256
MAX_URI_LENGTH = 2048


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_redirect_uri(uri: str, *, public_client: bool) -> str:
    """Return `uri` if it may be registered; raise ValidationFailed saying why not."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH:
        raise ValidationFailed(f"Redirect URI must be a non-empty string of at most {MAX_URI_LENGTH} characters.")
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ValidationFailed(f"Redirect URI {uri!r} must be absolute.")
    if parts.fragment or "#" in uri:
        raise ValidationFailed(f"Redirect URI {uri!r} must not contain a fragment.")
    if "*" in uri:
        raise ValidationFailed(f"Redirect URI {uri!r} must not contain wildcards: URIs are matched exactly.")
    if parts.scheme == "https":
        if not parts.hostname:
            raise ValidationFailed(f"Redirect URI {uri!r} has no host.")
        return uri
    if parts.scheme == "http":
        if parts.hostname and _is_loopback(parts.hostname):
            return uri
        raise ValidationFailed(f"Redirect URI {uri!r} must use https (http is allowed only for loopback hosts).")
    if public_client and "." in parts.scheme:
        # RFC 8252 §7.1: private-use schemes of native apps are reverse domain names.
        return uri
    raise ValidationFailed(
        f"Redirect URI {uri!r} uses scheme {parts.scheme!r}: use https, loopback http, "
        "or (public clients only) a reverse-domain private-use scheme such as com.example.app:/callback."
    )


def validate_redirect_uris(uris: object, *, public_client: bool, field: str) -> list[str]:
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ValidationFailed(f"{field} must be an array of strings.")
    if len(uris) > MAX_REDIRECT_URIS:
        raise ValidationFailed(f"{field} may hold at most {MAX_REDIRECT_URIS} URIs.")
    seen: list[str] = []
    for uri in uris:
        checked = validate_redirect_uri(uri, public_client=public_client)
        if checked not in seen:
            seen.append(checked)
    return seen
