"""The tree passes ruff with the rules pyproject.toml selects (errors, unused and unsorted
imports), so a change that leaves an unused import or an undefined name fails the suite. ruff is
pinned in the ``test`` extra: a newer ruff's rules do not move under the tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_tree_passes_ruff() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
