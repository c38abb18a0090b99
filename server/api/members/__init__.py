"""Members of a hub: magic-link login and self-service (docs/api.md)."""
