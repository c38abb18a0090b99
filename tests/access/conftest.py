"""The access tests share no fixtures beyond the root conftest's; their helpers are in
tests/support/access_facts.py, access_cases.py (the evaluator's table) and access_world.py."""
