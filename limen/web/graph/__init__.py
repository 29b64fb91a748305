"""Microsoft Graph-compatible admin API under /v1.0: Graph's paths, JSON shapes and errors."""
