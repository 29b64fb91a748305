"""Use cases: run the domain with the store, the crypto adapters and the log. No HTTP here."""
