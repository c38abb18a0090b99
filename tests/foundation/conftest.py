"""The cross-cutting tests (ops, JSON:API, CLI, end-to-end server, migrations, units of work,
architecture) share no fixtures beyond the root conftest's."""
