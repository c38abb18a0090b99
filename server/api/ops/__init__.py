"""Operational endpoints: liveness and readiness (docs/api.md)."""
