"""Forward-auth behind a real nginx (Debian's package, `auth_request`), over real HTTP.

The layout is the one docs/forward-auth.md recommends: Limen on its own host (here 127.0.0.1, under
`limen serve`), the application on another (nginx listening on 127.0.0.2, in front of a small app that
echoes the identity headers it receives). Loopback addresses differ, so the two hosts' cookies stay apart
as they would for limen.example.com and wiki.example.com. nginx runs in the foreground from a temporary
prefix (its own config, pid and temp paths), so it needs nothing installed system-wide beyond the package.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from limen.service import security_defaults
from limen.service.context import Services
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import SignInRow
from tests.conftest import make_env
from tests.support.forms import form_with
from tests.support.live import asgi_server, free_port, limen_server
from tests.support.seed import DEFAULT_PASSWORD, add_client, add_user

UPN = "adele.vance@contoso.test"
APP_HOST = "127.0.0.2"

# The configuration of docs/forward-auth.md ("nginx"), with this test's addresses filled in.
NGINX_CONF = """
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    upstream limen {{ server 127.0.0.1:{limen_port}; }}
    upstream wiki {{ server 127.0.0.1:{app_port}; }}

    server {{
        listen {app_host}:{nginx_port};

        # The question nginx asks Limen before every request.
        location = /_limen/auth {{
            internal;
            proxy_pass http://limen/forward-auth?app={app_id}&mode=nginx;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Uri $request_uri;
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}

        # Where the sign-in comes back to: Limen sets the application's cookie on this host.
        location = /_limen/callback {{
            proxy_pass http://limen/forward-auth/callback;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}

        # Not signed in: a browser goes to Limen; any other client gets Limen's Basic challenge.
        location @limen_signin {{
            # nginx passes Limen's WWW-Authenticate on with the 401 by itself.
            if ($limen_location = "") {{
                return 401;
            }}
            add_header Set-Cookie $limen_cookie;
            add_header Cache-Control no-store;
            return 302 $limen_location;
        }}

        location / {{
            auth_request /_limen/auth;
            auth_request_set $limen_location $upstream_http_location;
            auth_request_set $limen_cookie $upstream_http_set_cookie;
            auth_request_set $limen_user $upstream_http_x_limen_user;
            auth_request_set $limen_user_id $upstream_http_x_limen_user_id;
            auth_request_set $limen_name $upstream_http_x_limen_name;
            auth_request_set $limen_email $upstream_http_x_limen_email;
            auth_request_set $limen_amr $upstream_http_x_limen_amr;
            error_page 401 = @limen_signin;

            # Always set from Limen's answer, so a client cannot send its own.
            proxy_set_header X-Limen-User $limen_user;
            proxy_set_header X-Limen-User-Id $limen_user_id;
            proxy_set_header X-Limen-Name $limen_name;
            proxy_set_header X-Limen-Email $limen_email;
            proxy_set_header X-Limen-Amr $limen_amr;
            proxy_set_header Remote-User $limen_user;
            proxy_set_header Host $http_host;
            proxy_pass http://wiki;
        }}
    }}
}}
"""


async def _echo(request: Request) -> JSONResponse:
    """The protected application: shows what identity the proxy handed it."""
    headers = request.headers
    return JSONResponse(
        {
            "path": request.url.path,
            "user": headers.get("x-limen-user"),
            "user_id": headers.get("x-limen-user-id"),
            "name": headers.get("x-limen-name"),
            "email": headers.get("x-limen-email"),
            "amr": headers.get("x-limen-amr"),
            "remote_user": headers.get("remote-user"),
        }
    )


WIKI = Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST", "OPTIONS"])])


@contextmanager
def nginx(prefix: Path, conf: str, port: int) -> Iterator[None]:
    """nginx in the foreground from `prefix`; stopped (SIGTERM: fast shutdown) afterwards."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    log = (prefix / "error.log").open("wb")
    command = [
        "nginx",
        "-p",
        str(prefix),
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        "stderr",
        "-g",
        f"daemon off; pid {prefix}/nginx.pid; error_log stderr;",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(prefix / 'error.log').read_text()}")
            try:
                socket.create_connection((APP_HOST, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def _sign_in(browser: httpx.Client, issuer: str, start_url: str) -> httpx.Response:
    page = browser.get(start_url, follow_redirects=True)
    assert page.status_code == 200 and "Contoso Wiki" in page.text, page.text
    form = form_with(page.text, "/signin/identify")
    page = browser.post(f"{issuer}/signin/identify", data={**form.fields, "username": UPN})
    form = form_with(page.text, "/signin/password")
    return browser.post(f"{issuer}/signin/password", data={**form.fields, "password": DEFAULT_PASSWORD})


def _set_defaults(services: Services, enabled: bool) -> None:
    with transaction(services.db) as db:
        security_defaults.set_enabled(db, default_tenant_id(services), enabled)


def test_nginx_auth_request_in_front_of_an_app_with_browser_sign_in_and_legacy_basic(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    limen_port, app_port, nginx_port = free_port(), free_port(), free_port()
    issuer = f"http://127.0.0.1:{limen_port}"
    site = f"http://{APP_HOST}:{nginx_port}"
    user = add_user(services)
    wiki = add_client(services, f"{site}/_limen/callback", name="Contoso Wiki")
    # New tenants start with security defaults on: the browser signs in under them.
    _set_defaults(services, True)
    env = make_env(tmp_path, database_url, LIMEN_ISSUER=issuer)
    env["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    env["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)
    conf = NGINX_CONF.format(
        prefix=tmp_path / "nginx",
        limen_port=limen_port,
        app_port=app_port,
        app_host=APP_HOST,
        nginx_port=nginx_port,
        app_id=wiki.app_id,
    )
    html = {"Accept": "text/html,application/xhtml+xml"}
    with (
        limen_server(env, limen_port),
        asgi_server(WIKI, app_port),
        nginx(tmp_path / "nginx", conf, nginx_port),
        httpx.Client(timeout=30) as browser,
    ):
        # A browser without a session is sent to Limen, with a nonce cookie for the application's host.
        response = browser.get(f"{site}/notes/7?view=full", headers=html)
        assert response.status_code == 302, response.text
        start = response.headers["location"]
        assert start.startswith(f"{issuer}/forward-auth/start?state=")
        assert browser.cookies.get("limen_fa_nonce", domain=APP_HOST)

        # It signs in at Limen (security defaults: registration offered, skipped within the 14 days)...
        response = _sign_in(browser, issuer, start)
        assert response.status_code == 200 and "/signin/register/skip" in response.text, response.text
        form = form_with(response.text, "/signin/register/skip")
        response = browser.post(f"{issuer}/signin/register/skip", data=form.fields)
        assert response.status_code == 303
        callback = response.headers["location"]
        assert callback.startswith(f"{site}/_limen/callback?code=")

        # ... comes back through nginx to the page it asked for, and the app sees who it is.
        response = browser.get(callback, headers=html)
        assert response.status_code == 302 and response.headers["location"] == f"{site}/notes/7?view=full"
        response = browser.get(response.headers["location"], headers={**html, "X-Limen-User": "mallory@evil.test"})
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["path"] == "/notes/7"
        assert seen["user"] == UPN and seen["remote_user"] == UPN and seen["user_id"] == user.id
        assert seen["name"] == "Adele Vance" and seen["email"] == "adele.vance@contoso.test"
        assert seen["amr"] == "pwd"

        # Clients that are not browsers get the Basic challenge, not a redirect.
        response = httpx.get(f"{site}/api/notes", headers={"Accept": "application/json"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="Contoso Wiki", charset="UTF-8"'

        # HTTP Basic is legacy authentication: refused under security defaults, whatever the path...
        active_sync = f"{site}/Microsoft-Server-ActiveSync?Cmd=Sync&DeviceType=iPhone"
        response = httpx.post(active_sync, auth=(UPN, DEFAULT_PASSWORD))
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic ")
        response = httpx.get(f"{site}/dav/notes.txt", auth=(UPN, DEFAULT_PASSWORD))
        assert response.status_code == 401

        # ... and accepted as a single-factor sign-in once they are off.
        _set_defaults(services, False)
        response = httpx.post(active_sync, auth=(UPN, DEFAULT_PASSWORD))
        assert response.status_code == 200 and response.json()["user"] == UPN
        response = httpx.get(f"{site}/dav/notes.txt", auth=(UPN, DEFAULT_PASSWORD))
        assert response.status_code == 200 and response.json()["amr"] == "pwd"
        response = httpx.get(f"{site}/dav/notes.txt", auth=(UPN, "wrong-password"))
        assert response.status_code == 401

    with services.db() as db:
        rows = list(
            db.scalars(sa.select(SignInRow).where(SignInRow.app_id == wiki.app_id).order_by(SignInRow.created_at))
        )
    assert [(r.error_code, r.client_app_used, r.authentication_requirement) for r in rows] == [
        (0, "Browser", "singleFactorAuthentication"),
        (530035, "Exchange ActiveSync", "singleFactorAuthentication"),
        (530035, "Other clients", "singleFactorAuthentication"),
        (0, "Exchange ActiveSync", "singleFactorAuthentication"),
        (0, "Other clients", "singleFactorAuthentication"),
        (50126, "Other clients", "singleFactorAuthentication"),
    ]
    assert all(r.user_id == user.id for r in rows)
    assert rows[1].failure_reason == "Access has been blocked by security defaults."
    # The client address nginx forwarded (X-Forwarded-For from a proxy uvicorn trusts) is the one logged.
    assert {r.ip_address for r in rows} == {"127.0.0.1"}
