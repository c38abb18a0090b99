"""Fixtures of the realtime tests: ``cluster``, real `hubwire serve` processes (two sharing Redis
when HUBWIRE_TEST_REDIS_URL is set, one otherwise), started once per module."""

from tests.support.realtime import cluster  # noqa: F401  (a fixture, defined in tests/support/realtime.py)
