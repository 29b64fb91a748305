from __future__ import annotations

import pytest

from limen.domain.errors import ValidationFailed
from limen.domain.redirects import validate_redirect_uri, validate_redirect_uris


@pytest.mark.parametrize(
    ("uri", "public"),
    [
        ("https://app.contoso.com/callback", False),
        ("http://127.0.0.1:8001/callback", False),
        ("http://localhost/cb", False),
        ("http://[::1]:9000/cb", True),
        ("com.contoso.app:/oauth2redirect", True),
    ],
)
def test_acceptable_redirect_uris(uri: str, public: bool) -> None:
    assert validate_redirect_uri(uri, public_client=public) == uri


@pytest.mark.parametrize(
    ("uri", "public", "why"),
    [
        ("http://app.contoso.com/callback", False, "https"),
        ("https://app.contoso.com/cb#frag", False, "fragment"),
        ("https://*.contoso.com/cb", False, "wildcard"),
        ("/relative", False, "absolute"),
        ("com.contoso.app:/cb", False, "scheme"),
        ("myapp:/cb", True, "scheme"),
        ("javascript:alert(1)", True, "scheme"),
        ("", False, "non-empty"),
    ],
)
def test_refused_redirect_uris_say_why(uri: str, public: bool, why: str) -> None:
    with pytest.raises(ValidationFailed, match=why):
        validate_redirect_uri(uri, public_client=public)


def test_lists_are_deduplicated_and_type_checked() -> None:
    uris = ["https://a.example/cb", "https://a.example/cb"]
    assert validate_redirect_uris(uris, public_client=False, field="web.redirectUris") == ["https://a.example/cb"]
    with pytest.raises(ValidationFailed, match="array of strings"):
        validate_redirect_uris("https://a.example/cb", public_client=False, field="web.redirectUris")
