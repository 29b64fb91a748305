"""The device code flow (RFC 8628) over real HTTP against `limen serve`: a "device" asks for codes,
a no-JavaScript browser enters the user code, signs in and approves, the device redeems its code and
checks the ID token against the published JWKS."""

from __future__ import annotations

from pathlib import Path

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from limen.service.context import Services
from tests.conftest import make_env
from tests.support.forms import form_with
from tests.support.live import free_port, limen_server
from tests.support.seed import DEFAULT_PASSWORD, add_client, add_user

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def test_a_device_signs_in_through_a_browser_over_real_http(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    user = add_user(services)
    device_app = add_client(services, "http://127.0.0.1:9998/callback", public=True, name="Contoso TV")
    env = make_env(tmp_path, database_url, LIMEN_ISSUER=issuer)
    env["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    env["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)

    with limen_server(env, port), httpx.Client(timeout=30) as device, httpx.Client(timeout=30) as browser:
        config = device.get(f"{issuer}/.well-known/openid-configuration").json()
        codes = device.post(
            config["device_authorization_endpoint"], data={"client_id": device_app.app_id, "scope": "openid profile"}
        ).json()
        pending = device.post(
            config["token_endpoint"],
            data={"grant_type": GRANT, "device_code": codes["device_code"], "client_id": device_app.app_id},
        )
        assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"

        # The person, on another device: the code, then the sign-in, then "yes, that was me".
        page = browser.get(codes["verification_uri"])
        form = form_with(page.text, "/device")
        entered = browser.post(
            f"{issuer}/device", data={**form.fields, "user_code": codes["user_code"]}, follow_redirects=True
        )
        identify = form_with(entered.text, "/signin/identify")
        page = browser.post(f"{issuer}/signin/identify", data={**identify.fields, "username": user.user_principal_name})
        password = form_with(page.text, "/signin/password")
        done = browser.post(f"{issuer}/signin/password", data={**password.fields, "password": DEFAULT_PASSWORD})
        assert done.status_code == 303
        confirm = browser.get(f"{issuer}{done.headers['location']}")
        assert confirm.status_code == 200
        approve = form_with(confirm.text, "/device/confirm")
        approved = browser.post(f"{issuer}/device/confirm", data={**approve.fields, "decision": "approve"})
        assert approved.status_code in (200, 303)

        tokens = device.post(
            config["token_endpoint"],
            data={"grant_type": GRANT, "device_code": codes["device_code"], "client_id": device_app.app_id},
        )
        assert tokens.status_code == 200, tokens.text
        keys = KeySet.import_key_set(device.get(config["jwks_uri"]).json())
        claims = jwt.decode(tokens.json()["id_token"], keys, algorithms=["RS256"]).claims
        assert claims["sub"] == user.id and claims["aud"] == device_app.app_id and claims["iss"] == issuer
        userinfo = device.get(
            config["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
        ).json()
        assert userinfo["sub"] == user.id
        again = device.post(
            config["token_endpoint"],
            data={"grant_type": GRANT, "device_code": codes["device_code"], "client_id": device_app.app_id},
        )
        assert again.status_code == 400 and again.json()["error"] in ("invalid_grant", "expired_token")
