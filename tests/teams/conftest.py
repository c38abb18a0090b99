"""The teams tests share no fixtures beyond the root conftest's."""
