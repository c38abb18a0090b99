"""The real thing: `hubwire serve` as its own process on a real socket, driven over HTTP the way the
README's curl walkthrough does (register -> login -> create team -> create API key -> use key)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import PASSWORD, unique_email
from tests.support.backends import REDIS_URL
from tests.support.servers import ServerProcess, free_port


@pytest.fixture
def server(tmp_path: Path, servers_database_url: str, redis_prefix: str) -> Iterator[ServerProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(
        HUBWIRE_DATA_DIR=str(tmp_path / "data"),
        HUBWIRE_DATABASE_URL=servers_database_url,
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
