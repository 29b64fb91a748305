"""Limen: a self-hosted identity provider for sign-in security of remote workforces."""

__version__ = "0.1.0"
