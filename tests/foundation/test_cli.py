"""The `hubwire` command on a fresh data directory: demo seeds a working login, a hub and
contacts, and a second run prints the same login instead of seeding twice."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import Settings
from tests.support.servers import hubwire_command


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(HUBWIRE_DATA_DIR=str(data_dir), HUBWIRE_LOG_LEVEL="WARNING")
    return subprocess.run([*hubwire_command(), *args], env=env, capture_output=True, text=True, timeout=120)


async def test_demo_seeds_once_and_the_login_works(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = run_cli(data_dir, "demo")
    assert first.returncode == 0, first.stderr
    login = re.search(r"staff login: (\S+) / (\S+)", first.stdout)
    assert login, first.stdout
    second = run_cli(data_dir, "demo")
    assert second.returncode == 0, second.stderr
    assert login.group(0) in second.stdout  # the same login, not a second seed

    app = create_app(Settings.from_env({"HUBWIRE_DATA_DIR": str(data_dir), "HUBWIRE_LOG_LEVEL": "WARNING"}))
    async with AsyncTestClient(app) as c:
        r = await c.post("/api/v1/auth/login", json={"email": login.group(1), "password": login.group(2)})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        team_id = (await c.get("/api/v1/teams", headers=auth)).json()["data"][0]["id"]
        hubs = (await c.get(f"/api/v1/teams/{team_id}/hubs", headers=auth)).json()["data"]
        assert [h["attributes"]["slug"] for h in hubs] == ["demo"]
        contacts = (await c.get(f"/api/v1/teams/{team_id}/contacts", headers=auth)).json()["data"]
        assert len(contacts) == 3
        members = (await c.get(f"/api/v1/teams/{team_id}/hubs/{hubs[0]['id']}/memberships", headers=auth)).json()
        assert len(members["data"]) == 2


def test_create_user_refuses_a_bad_password_and_a_duplicate(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bad = run_cli(data_dir, "create-user", "--email", "a@example.com", "--password", "short")
    assert bad.returncode == 1 and "password_too_short" in bad.stderr
    ok = run_cli(data_dir, "create-user", "--email", "a@example.com", "--password", "a long enough password")
    assert ok.returncode == 0, ok.stderr
    dup = run_cli(data_dir, "create-user", "--email", "A@example.com", "--password", "a long enough password")
    assert dup.returncode == 1 and "email_taken" in dup.stderr
