"""Time-ordered identifiers: a re-export of :mod:`persistence.ids`, where they live (below both
the domain and the persistence layer, so persistence never imports the domain)."""

from __future__ import annotations

from persistence.ids import new_id, parse_id

__all__ = ["new_id", "parse_id"]
