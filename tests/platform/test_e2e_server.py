"""The real thing: `hubwire serve` as its own process on a real socket, driven over HTTP the way the
README's curl walkthrough does (register -> login -> create team -> create API key -> use key)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, REDIS_URL, unique_email


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hubwire_command() -> list[str]:
    script = Path(sys.executable).parent / "hubwire"
    return [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]


class ServerProcess:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*hubwire_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.log_path = log

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.base + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not answer /health in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()


@pytest.fixture
def server(tmp_path: Path, database_url: str, redis_prefix: str) -> Iterator[ServerProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(
        HUBWIRE_DATA_DIR=str(tmp_path / "data"),
        HUBWIRE_DATABASE_URL=database_url,
        HUBWIRE_PASSWORD_HASHING="fast",
        HUBWIRE_REDIS_PREFIX=redis_prefix,
        HUBWIRE_LOG_LEVEL="WARNING",
    )
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
    srv = ServerProcess(env, free_port(), tmp_path / "server.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        code = srv.stop()
        log = srv.log_path.read_text()
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete, hence -15.
        assert code in (0, -signal.SIGTERM), f"server did not shut down cleanly ({code}):\n{log}"
        assert "Traceback" not in log and "ERROR" not in log, log


def test_readme_walkthrough_over_a_real_socket(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base, timeout=10.0) as http:
        assert http.get("/health").json() == {"status": "ok"}
        ready = http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"] == "ok"
        if REDIS_URL:
            assert ready.json()["checks"]["redis"] == "ok"

        email = unique_email("e2e")
        r = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        assert r.headers["x-request-id"]

        r = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        staff = {"Authorization": f"Bearer {r.json()['access_token']}"}

        r = http.post("/api/v1/teams", headers={**staff, "Content-Type": "application/vnd.api+json"},
                      content=b'{"data": {"type": "teams", "attributes": {"name": "Acme Courses"}}}')
        assert r.status_code == 201, r.text
        team_id = r.json()["data"]["id"]

        r = http.post(f"/api/v1/teams/{team_id}/api-keys", headers=staff,
                      json={"name": "zapier", "scopes": ["teams:read"]})
        assert r.status_code == 201, r.text
        key = r.json()
        assert key["secret"].startswith("hw_sk_")

        as_key = {"Authorization": f"Bearer {key['secret']}"}
        r = http.get(f"/api/v1/teams/{team_id}", headers=as_key)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["attributes"]["name"] == "Acme Courses"
        # Out of scope, then revoked: refused at once.
        assert http.get(f"/api/v1/teams/{team_id}/members", headers=as_key).status_code == 403
        assert http.delete(f"/api/v1/teams/{team_id}/api-keys/{key['id']}", headers=staff).status_code == 200
        r = http.get(f"/api/v1/teams/{team_id}", headers=as_key)
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] == "api_key_revoked"

        schema = http.get("/schema/openapi.json")
        assert schema.status_code == 200
        assert "/api/v1/teams/{team_id}/api-keys" in schema.json()["paths"]
