"""Access: entitlements, access rules and overrides, and asking the evaluator (docs/api.md)."""
