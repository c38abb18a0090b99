"""The creator's CRM: team contacts, tags, contact attributes and segments (docs/api.md)."""
