"""Driving the sign-in pages over HTTP the way a browser without JavaScript would."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.support.forms import form_with
from tests.support.seed import DEFAULT_PASSWORD


def password_step(client: TestClient, upn: str, password: str = DEFAULT_PASSWORD, start: str = "/signin") -> Any:
    """Username then password; returns the response to the password form (a page or a redirect)."""
    page = client.get(start).text
    form = form_with(page, "/signin/identify")
    page = client.post("/signin/identify", data={**form.fields, "username": upn}).text
    form = form_with(page, "/signin/password")
    return client.post("/signin/password", data={**form.fields, "password": password}, follow_redirects=False)


def post_form(client: TestClient, page: str, action: str, **fields: str) -> Any:
    form = form_with(page, action)
    return client.post(action, data={**form.fields, **fields}, follow_redirects=False)


def notice(page: str) -> str:
    found = re.search(r'<p class="notice" role="alert" id="notice">([^<]*)</p>', page)
    return found.group(1).replace("&#39;", "'") if found else ""


def oathtool_code(secret: str, when: datetime) -> str:
    """A TOTP code from Debian's oathtool: an implementation independent of Limen's."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    out = subprocess.run(
        ["oathtool", "--totp", "--base32", "--now", stamp, secret], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()
