"""The sign-in UI: server-rendered, accessible, and fully usable without JavaScript."""
