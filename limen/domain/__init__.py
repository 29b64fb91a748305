"""Pure domain logic: no framework, no database, no network, no wall clock (DESIGN.md)."""
