"""Hubs, their policies and sender settings, hub memberships and member tokens (docs/api.md)."""
