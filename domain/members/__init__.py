"""The member side of a hub: magic-link login and self-service (profile, preferences, policies)."""
