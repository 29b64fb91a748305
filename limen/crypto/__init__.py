"""Cryptographic building blocks from well-kept libraries: argon2-cffi, cryptography, secrets."""
