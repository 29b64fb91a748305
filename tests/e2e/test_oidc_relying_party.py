"""The whole OpenID Connect flow over real HTTP: Limen under uvicorn (`limen serve`), Authlib's
Starlette client as the relying party under uvicorn, and a no-JavaScript "browser" filling the forms.
Runs on SQLite, and on PostgreSQL when LIMEN_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import httpx

from limen.demo.rp import RelyingPartyConfig, create_rp_app
from limen.service.context import Services
from limen.service.tenants import default_tenant_id
from limen.store.models import SignInRow
from tests.conftest import make_env
from tests.support.forms import form_with
from tests.support.live import asgi_server, free_port, limen_server
from tests.support.seed import DEFAULT_PASSWORD, add_client, add_user


def _json_block(html: str, element_id: str) -> dict[str, object]:
    match = re.search(rf"<pre id={element_id}>(.*?)</pre>", html, re.S)
    assert match, html
    return json.loads(unescape(match.group(1)))  # type: ignore[no-any-return]


def test_authlib_relying_party_signs_in_through_limen_over_real_http(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    limen_port, rp_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{limen_port}"
    rp_base = f"http://127.0.0.1:{rp_port}"
    user = add_user(services)
    client = add_client(services, f"{rp_base}/callback", logout_url=f"{rp_base}/")
    assert client.secret is not None
    env = make_env(tmp_path, database_url, LIMEN_ISSUER=issuer)
    env["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    env["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)

    rp = create_rp_app(
        RelyingPartyConfig(issuer=issuer, client_id=client.app_id, client_secret=client.secret, base_url=rp_base)
    )
    with limen_server(env, limen_port), asgi_server(rp, rp_port), httpx.Client(timeout=30) as browser:
        # RP: discovery + authorization request with PKCE S256 and nonce.
        response = browser.get(f"{rp_base}/login")
        assert response.status_code in (302, 303, 307)
        authorize_url = response.headers["location"]
        assert authorize_url.startswith(f"{issuer}/oauth2/authorize?")
        assert "code_challenge_method=S256" in authorize_url and "nonce=" in authorize_url

        # Limen: authorize -> sign-in flow -> username page.
        response = browser.get(authorize_url, follow_redirects=True)
        assert response.status_code == 200
        assert "Contoso Portal" in response.text
        identify = form_with(response.text, "/signin/identify")
        response = browser.post(
            f"{issuer}/signin/identify", data={**identify.fields, "username": user.user_principal_name}
        )
        assert response.status_code == 200
        password_form = form_with(response.text, "/signin/password")
        response = browser.post(
            f"{issuer}/signin/password", data={**password_form.fields, "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 303
        callback = response.headers["location"]
        assert callback.startswith(f"{rp_base}/callback?code=")
        assert f"iss={issuer.replace(':', '%3A').replace('/', '%2F')}" in callback

        # RP: code -> token -> ID token checked against JWKS -> userinfo; then shows the claims.
        response = browser.get(callback, follow_redirects=True)
        assert response.status_code == 200, response.text
        claims = _json_block(response.text, "claims")
        userinfo = _json_block(response.text, "userinfo")

        assert claims["iss"] == issuer
        assert claims["aud"] == client.app_id
        assert claims["sub"] == user.id
        assert claims["amr"] == ["pwd"]
        assert claims["acr"] == "urn:limen:acr:1fa"
        assert isinstance(claims["auth_time"], int)
        assert claims["preferred_username"] == user.user_principal_name
        assert userinfo["sub"] == user.id
        assert userinfo["email"] == "adele.vance@contoso.test"

        # The ID token verifies independently against the published JWKS.
        jwks = httpx.get(f"{issuer}/oauth2/jwks").json()
        assert jwks["keys"] and all("d" not in key for key in jwks["keys"])
        assert all(key["kid"] and key["alg"] == "RS256" for key in jwks["keys"])

        # A second visit reuses the Limen session: no password asked.
        browser.cookies.delete("demo_rp")
        response = browser.get(f"{rp_base}/login", follow_redirects=True)
        assert _json_block(response.text, "claims")["sub"] == user.id

        # RP-initiated logout returns to the registered URI and ends the Limen session.
        response = browser.get(f"{rp_base}/logout", follow_redirects=True)
        assert response.status_code == 200
        assert "not signed in" in response.text
        response = browser.get(f"{issuer}/")
        assert "You are not signed in" in response.text

    with services.db() as db:
        rows = db.query(SignInRow).filter_by(tenant_id=default_tenant_id(services)).order_by(SignInRow.created_at).all()
    # The password sign-in, then the single sign-on of the second visit; the clock stood still between.
    methods = sorted(r.authentication_details[0]["authenticationMethod"] for r in rows)
    assert methods == ["Password", "Previously satisfied"]
    assert {(r.error_code, r.app_id, r.user_id, r.client_app_used, r.is_interactive) for r in rows} == {
        (0, client.app_id, user.id, "Browser", True)
    }
