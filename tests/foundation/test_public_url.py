"""The default public URL (the base of links in emails and of the demo printout) follows the address
the server listens on: ``HUBWIRE_HOST`` / ``HUBWIRE_PORT`` and ``hubwire serve --host/--port``.
``HUBWIRE_PUBLIC_URL``, when set, wins."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.settings import Settings, SettingsError
from tests.support.api import PASSWORD
from tests.support.backends import REDIS_URL, Database
from tests.support.servers import ServerProcess, free_port, hubwire_command


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path / "data"), **env})


def test_the_default_public_url_names_the_configured_port(tmp_path: Path) -> None:
    assert settings(tmp_path).public_url == "http://127.0.0.1:8000"
    s = settings(tmp_path, HUBWIRE_PORT="9123")
    assert (s.host, s.port, s.public_url) == ("127.0.0.1", 9123, "http://127.0.0.1:9123")
    assert settings(tmp_path, HUBWIRE_HOST="localhost", HUBWIRE_PORT="9000").public_url == "http://localhost:9000"


def test_a_wildcard_or_ipv6_listening_address_gives_a_reachable_link(tmp_path: Path) -> None:
    assert settings(tmp_path, HUBWIRE_HOST="0.0.0.0", HUBWIRE_PORT="8080").public_url == "http://127.0.0.1:8080"
    assert settings(tmp_path, HUBWIRE_HOST="::", HUBWIRE_PORT="8080").public_url == "http://[::1]:8080"
    assert settings(tmp_path, HUBWIRE_HOST="::1", HUBWIRE_PORT="8080").public_url == "http://[::1]:8080"


def test_an_explicit_public_url_wins_over_host_and_port(tmp_path: Path) -> None:
    s = settings(tmp_path, HUBWIRE_PORT="9123", HUBWIRE_PUBLIC_URL="https://members.example.com/")
    assert s.public_url == "https://members.example.com"
    assert s.port == 9123


def test_a_port_that_is_not_a_port_is_a_configuration_error(tmp_path: Path) -> None:
    for bad in ("eighty", "70000", "-1"):
        with pytest.raises(SettingsError, match="HUBWIRE_PORT"):
            settings(tmp_path, HUBWIRE_PORT=bad)


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(HUBWIRE_DATA_DIR=str(data_dir), HUBWIRE_LOG_LEVEL="WARNING", HUBWIRE_PASSWORD_HASHING="fast",
               **extra)
    return env


def test_the_demo_printout_names_the_configured_port(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", HUBWIRE_PORT="9123")
    done = subprocess.run([*hubwire_command(), "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "http://127.0.0.1:9123/api/v1/auth/login" in done.stdout, done.stdout
    assert "http://127.0.0.1:9123/schema/swagger" in done.stdout, done.stdout
    assert ":8000" not in done.stdout, done.stdout


@pytest.fixture
async def database(databases: Database) -> str:
    """A database of its own (the server migrates it on start)."""
    return await databases.new("public_url")


@pytest.fixture
def server(tmp_path: Path, database: str, redis_prefix: str) -> Iterator[tuple[ServerProcess, Path]]:
    """``hubwire serve --port P`` with no HUBWIRE_PORT and no HUBWIRE_PUBLIC_URL."""
    data_dir = tmp_path / "data"
    env = clean_env(data_dir, HUBWIRE_DATABASE_URL=database, HUBWIRE_REDIS_PREFIX=redis_prefix + "public-url:")
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
    srv = ServerProcess(env, free_port(), tmp_path / "server.log")
    try:
        srv.wait_ready()
        yield srv, data_dir
    finally:
        code = srv.stop()
        assert code in (0, -signal.SIGTERM), srv.log_path.read_text()


def test_magic_links_name_the_port_given_to_serve(server: tuple[ServerProcess, Path]) -> None:
    srv, data_dir = server
    with httpx.Client(base_url=srv.base, timeout=10.0) as http:
        r = http.post("/api/v1/auth/register", json={"email": "owner@example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text
        staff = {"Authorization": f"Bearer {r.json()['access_token']}"}
        team = http.get("/api/v1/auth/me", headers=staff).json()["teams"][0]["team_id"]
        r = http.post(f"/api/v1/teams/{team}/hubs", headers=staff,
                      json={"data": {"type": "hubs", "attributes": {"name": "Port Hub", "slug": "port-hub"}}})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/contact-auth/register", json={"email": "member@example.com", "hub_id": r.json()["data"]["id"]})
        assert r.status_code == 202, r.text

    outbox = data_dir / "outbox"
    deadline = time.monotonic() + 20
    while not list(outbox.glob("*.eml")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [eml] = list(outbox.glob("*.eml"))
    links = re.findall(rb"https?://\S+/hubs/port-hub/login\?token=\S+", eml.read_bytes())
    assert links, eml.read_text()
    assert all(link.startswith(f"http://127.0.0.1:{srv.port}/".encode()) for link in links), links
