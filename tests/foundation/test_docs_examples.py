"""docs/api.md is a walkthrough that runs, and every route of the app is findable in it.

The convention (stated at the top of docs/api.md): every fenced block marked ``sh`` is run, in the
order of the page, in one bash session against a freshly started ``hubwire serve`` (its own data
directory and database): ``set -euo pipefail``, ``B`` set to the server's address and
``HUBWIRE_DATA_DIR`` to its data directory, and every variable and function a block sets carried
over to the next block (each block runs with ``set -a`` in its own bash, and the environment it
ends with starts the next one). Blocks of any other language (``json``, ``text``: answers shown to
the reader) are not run. A failing block fails the test with the block, its output and the
server's log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.backends import REDIS_URL, Database
from tests.support.servers import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
SH_BLOCK = re.compile(r"^```sh[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
BLOCK_TIMEOUT = 60.0


def sh_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of every ``sh`` block, in page order."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in SH_BLOCK.finditer(text)]


def run_block(block: str, env: dict[str, str], state: Path) -> tuple[int, str, dict[str, str]]:
    """Run one block in bash with ``env``; (exit status, output, the environment it ended with).
    The block runs in its own process group, so that whatever it leaves running is stopped too."""
    script = f"set -a -euo pipefail\n{block}\nenv -0 > {state}\n"
    proc = subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return -1, output + f"\n(timed out after {BLOCK_TIMEOUT:.0f}s)", env
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a background job the block left behind
        except ProcessLookupError:
            pass
    if proc.returncode != 0:
        return proc.returncode, output, env
    carried = dict(kv.split("=", 1) for kv in state.read_text().split("\0") if "=" in kv)
    return 0, output, carried


@pytest.fixture
async def docs_database_url(databases: Database) -> str:
    """A database of its own: the walkthrough registers fixed emails (the server migrates it)."""
    return await databases.new("docs_walk")


@pytest.fixture
def docs_server(tmp_path: Path, docs_database_url: str, redis_prefix: str) -> Iterator[tuple[ServerProcess, Path]]:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(
        HUBWIRE_DATA_DIR=str(data_dir),
        HUBWIRE_DATABASE_URL=docs_database_url,
        HUBWIRE_PASSWORD_HASHING="fast",
        HUBWIRE_REDIS_PREFIX=redis_prefix + "docs:",
        HUBWIRE_LOG_LEVEL="WARNING",
    )
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
    srv = ServerProcess(env, free_port(), tmp_path / "server.log")
    try:
        srv.wait_ready()
        yield srv, data_dir
    finally:
        code = srv.stop()
        log = srv.log_path.read_text()
        assert code in (0, -signal.SIGTERM), f"server did not shut down cleanly ({code}):\n{log}"
        assert "Traceback" not in log and "ERROR" not in log, log


def test_the_api_md_walkthrough_runs_against_a_live_server(docs_server: tuple[ServerProcess, Path],
                                                           tmp_path: Path) -> None:
    srv, data_dir = docs_server
    blocks = sh_blocks(API_MD.read_text())
    assert len(blocks) > 20, "docs/api.md lost its examples"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    # The examples need python3 (to read JSON answers): the interpreter running the suite, first
    # on PATH, rather than whatever wrapper the machine's PATH finds first.
    env.update(B=srv.base, HUBWIRE_DATA_DIR=str(data_dir),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    state = tmp_path / "walk.env"
    for line, block in blocks:
        status, output, env = run_block(block, env, state)
        if status != 0:
            pytest.fail(f"docs/api.md: the sh block at line {line} failed (exit {status}):\n{block}\n"
                        f"--- its output:\n{output}\n--- server log:\n{srv.log_path.read_text()}", pytrace=False)


# ---- every route is findable ----------------------------------------------------------------------

INDEX_ROW = re.compile(r"^\| ([A-Z ]+?)(?: \(WebSocket\))? \| `(/[^`]*)` \| (.+) \|$", re.M)


def route_index(text: str) -> dict[str, set[str]]:
    section = text[text.index("## Route index"):]
    return {path: set(methods.split()) for methods, path, _ in INDEX_ROW.findall(section)}


async def test_the_route_index_lists_every_route_of_the_openapi_document(client: Any) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    served = {path: {m.upper() for m in ops if m in {"get", "post", "put", "patch", "delete"}}
              for path, ops in schema["paths"].items()}
    index = route_index(API_MD.read_text())
    http_index = {p: m for p, m in index.items() if not p.endswith("/ws")}
    assert http_index == served, {
        "missing from docs/api.md": sorted(set(served) - set(http_index)),
        "not served": sorted(set(http_index) - set(served)),
        "methods differ": sorted(p for p in set(served) & set(http_index) if served[p] != http_index[p]),
    }
    assert {"/api/v1/hub/{hub_id}/ws", "/api/v1/teams/{team_id}/ws"} <= set(index)


# ---- links between the docs resolve, and the docs stand alone -------------------------------------


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    body = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # headings inside code are not headings
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", body, re.M)}


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md", "docs/realtime.md", "docs/deploy.md"])
def test_links_to_sections_resolve(doc: str) -> None:
    path = ROOT / doc
    text = path.read_text()
    broken = []
    for target, fragment in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", text):
        linked = (path.parent / target) if target else path
        if not linked.exists() or fragment not in anchors(linked.read_text()):
            broken.append(f"{target}#{fragment}")
    assert not broken, f"{doc}: links to missing sections: {broken}"


def test_the_docs_stand_alone() -> None:
    """The design notes outside the repository are never cited: what a reader needs is in docs/."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "shared/" not in path.read_text(), f"{path.name} cites shared/"
