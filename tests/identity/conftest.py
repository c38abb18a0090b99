"""The identity tests (staff auth, API keys) share no fixtures beyond the root conftest's."""
