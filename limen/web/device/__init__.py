"""The HTTP API that authenticator apps (`limen-authenticator`) speak: docs/authenticator.md."""
