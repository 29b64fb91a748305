"""Use cases of authentication methods: storing them, and running their registration and challenges."""
