"""The demo: a seeded tenant and a tiny relying party that signs in through Limen."""
