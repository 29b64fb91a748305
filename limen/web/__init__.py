"""HTTP: thin routers that parse, call the service layer and render (DESIGN.md)."""
