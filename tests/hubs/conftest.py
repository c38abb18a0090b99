"""The hubs and memberships tests share no fixtures beyond the root conftest's; their helpers are
in tests/support/hubs.py and tests/support/app.py."""
