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
        assert not names & {"litestar", "server", "uvicorn", "starlette", "httpx", "stripe"}, (path, names)


def test_lower_layers_never_import_the_edge():
    for package in ("persistence", "realtime"):
        for path, names in imports_of(package).items():
            assert "server" not in names and "litestar" not in names, (path, names)


def test_persistence_never_imports_the_domain():
    """persistence/ sits below domain/: ids, the pager and its errors live there, so the two never
    import each other."""
    for path, names in imports_of("persistence").items():
        assert "domain" not in names, (path, names)



# ---- no import cycles -----------------------------------------------------------------------------

LAYERS = ("server", "domain", "persistence", "realtime")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules ``tree`` imports when it runs, at module level or inside a function:
    ``from a.b import c`` is ``a.b.c`` when that is a module, else ``a.b``. Imports under
    ``if TYPE_CHECKING:`` never run, so they are left out."""
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
        stack.extend(ast.iter_child_nodes(node))
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for layer in LAYERS for path in (ROOT / layer).rglob("*.py")}
    known = set(files)
    return {name: _runtime_imports(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", known)
            for name, path in files.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    """No module of server/, domain/, persistence/ or realtime/ needs itself through others, not
    even through an import inside a function (which only hides a cycle until that function runs).
    A cycle is broken by moving what both sides need below them, as domain/crm/lifecycle.py does."""
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from domain.crm import segments\n")
    known = {"domain.crm", "domain.crm.segments", "domain.crm.contacts"}
    assert _runtime_imports(tree, "domain.crm.contacts", False, known) == {"domain.crm.segments"}
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]

# ---- the tests' own layout ----------------------------------------------------------------------

TESTS = ROOT / "tests"


def imported_from_tests(path: Path) -> list[str]:
    """Every ``tests...`` name ``path`` imports (at any depth, relative imports resolved) or loads as
    a plugin (``pytest_plugins``): ``from tests.support.api import doc`` gives ``tests.support.api.doc``."""
    package = path.relative_to(ROOT).parent.parts
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            found += [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytest_plugins"
                                                  for t in node.targets):
            found += [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
    return [name for name in found if name.split(".")[0] == "tests"]


def test_no_test_module_imports_another():
    """Helpers live in tests/support/ and are imported from there; fixtures come from the conftest.py
    files by injection. So no file under tests/ imports a test module or a conftest."""
    wrong = [(str(path.relative_to(ROOT)), name)
             for path in sorted(TESTS.rglob("*.py"))
             for name in imported_from_tests(path)
             if name != "tests.support" and not name.startswith("tests.support.")]
    assert not wrong, "import these from tests/support/:\n" + "\n".join(f"{p}: {n}" for p, n in wrong)


def test_tests_are_packages_one_folder_per_context():
    """Every folder under tests/ is a package, so two test modules of one basename in two folders
    cannot clash under pytest's default import mode; test modules sit in a context's folder, never
    at the top or among the helpers."""
    folders = {p.parent for p in TESTS.rglob("*.py")}
    not_packages = [str(f.relative_to(ROOT)) for f in sorted(folders) if not (f / "__init__.py").exists()]
    assert not not_packages, f"add an __init__.py to {not_packages}"
    misplaced = [str(p.relative_to(ROOT)) for p in sorted(TESTS.rglob("test_*.py"))
                 if p.parent.parent != TESTS or p.parent.name == "support"]
    assert not misplaced, f"move into tests/<context>/: {misplaced}"


# ---- the domain names fields; the edge writes pointers -------------------------------------------


def test_the_domain_names_fields_and_never_writes_a_json_pointer():
    """A domain error names the field at fault (``field="slug"``, ``field=("participant_ids", 2)``);
    server/errors.py turns it into a pointer into the route's body. So no module under domain/
    passes ``pointer=`` or spells a path into a JSON:API document."""
    wrong: list[str] = []
    for path in sorted((ROOT / "domain").rglob("*.py")):
        source = path.read_text()
        name = str(path.relative_to(ROOT))
        if "/data/" in source:
            wrong.append(f"{name}: mentions /data/")
        for node in ast.walk(ast.parse(source, name)):
            if isinstance(node, ast.Call) and any(k.arg == "pointer" for k in node.keywords):
                wrong.append(f"{name}:{node.lineno}: passes pointer=")
    assert not wrong, "\n".join(wrong)
