"""The dependency rule from DESIGN.md: domain/ never imports the web framework; persistence/ and
realtime/ never import server/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_domain_knows_nothing_of_http():
    for path, names in imports_of("domain").items():
        assert not names & {"litestar", "server", "uvicorn", "starlette", "httpx"}, (path, names)


def test_lower_layers_never_import_the_edge():
    for package in ("persistence", "realtime"):
        for path, names in imports_of(package).items():
            assert "server" not in names and "litestar" not in names, (path, names)
