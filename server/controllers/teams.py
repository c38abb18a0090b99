"""Kept only while ``server/controllers/realtime.py`` imports ``TEAM_PATH`` from here: the teams routes
live in ``server/api/teams``, the prefix in ``server/paths.py``. Delete this file when realtime moves."""

from __future__ import annotations

from server.paths import TEAM_PATH

__all__ = ["TEAM_PATH"]
