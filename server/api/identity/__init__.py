"""Staff identity: register, log in, sessions, and team API keys (docs/api.md)."""
