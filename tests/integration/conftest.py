"""Fixtures shared by the integration tests: a user with a password and registered clients."""

from __future__ import annotations

import pytest

from limen.service.context import Services
from limen.store.models import User
from tests.support.seed import Client, add_client, add_user


@pytest.fixture
def user(services: Services) -> User:
    """Adele Vance, enabled, with tests.support.seed.DEFAULT_PASSWORD."""
    return add_user(services)


@pytest.fixture
def rp(services: Services) -> Client:
    """A confidential web application with one redirect URI."""
    return add_client(services)


@pytest.fixture
def public(services: Services) -> Client:
    """A public (native) client: no secret, PKCE S256 required."""
    return add_client(services, "http://127.0.0.1:9998/callback", public=True, name="Contoso Mobile")
