"""argon2 verification must not block the event loop: while one sign-in is inside the hash, the
same server keeps answering other requests. The hash is held open with a gate, so nothing here
depends on how fast the machine is.
"""

from __future__ import annotations

import threading

import httpx

from limen.crypto.passwords import Argon2Hasher, Verification
from limen.service.context import Services
from limen.web.app import create_app
from tests.support.forms import form_with
from tests.support.live import asgi_server, free_port
from tests.support.seed import DEFAULT_PASSWORD, add_user


class GatedHasher(Argon2Hasher):
    """The real hasher, which waits at a gate inside `verify` until the test opens it."""

    def __init__(self, inner: Argon2Hasher) -> None:
        self.__dict__.update(inner.__dict__)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def verify(self, stored_hash: str | None, password: str) -> Verification:
        self.entered.set()
        assert self.gate.wait(timeout=30), "the test never opened the gate"
        return super().verify(stored_hash, password)


def test_other_requests_are_served_while_a_password_is_being_verified(services: Services) -> None:
    user = add_user(services)
    gated = GatedHasher(services.hasher)
    services.hasher = gated
    port = free_port()
    results: dict[str, int] = {}

    with (
        asgi_server(create_app(services), port, lifespan="on") as base,
        httpx.Client(base_url=base, timeout=30) as browser,
    ):
        page = browser.get("/signin").text
        page = browser.post(
            "/signin/identify",
            data={**form_with(page, "/signin/identify").fields, "username": user.user_principal_name},
        ).text
        form = form_with(page, "/signin/password")

        def sign_in() -> None:
            response = browser.post("/signin/password", data={**form.fields, "password": DEFAULT_PASSWORD})
            results["status"] = response.status_code

        signer = threading.Thread(target=sign_in)
        signer.start()
        assert gated.entered.wait(timeout=30), "the sign-in never reached the password check"
        # The hash is in progress (held at the gate). A blocked event loop could not answer this.
        other = httpx.get(f"{base}/.well-known/openid-configuration", timeout=10)
        assert other.status_code == 200
        assert "status" not in results
        gated.gate.set()
        signer.join(timeout=30)

    assert results["status"] == 303
