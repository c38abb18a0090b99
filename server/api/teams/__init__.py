"""Teams and their staff members (docs/api.md)."""
