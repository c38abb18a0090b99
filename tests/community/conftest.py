"""Fixtures of the community tests: ``cluster`` for the live ones, real `hubwire serve` processes
started once per module."""

from tests.support.realtime import cluster  # noqa: F401  (a fixture, defined in tests/support/realtime.py)
