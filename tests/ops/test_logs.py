"""Structured logs: one line per request with its route template, status, duration and ids, JSON or
human-readable, and nothing secret in any line (the whole run's logs are scanned too:
tests/support/logscan.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.logs import LogFormatter, redact
from tests.support.api import PASSWORD, register
from tests.support.backends import make_settings


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_one_json_line_per_request_with_route_status_duration_and_ids(
        tmp_path: Path, database_url: str, redis_prefix: str) -> None:
    app = create_app(make_settings(tmp_path, database_url, redis_prefix))
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        staff = await register(c)
        team_id = (await c.get("/api/v1/teams", headers=staff.headers)).json()["data"][0]["id"]
        seen = Records()
        logging.getLogger("hubwire.request").addHandler(seen)
        try:
            r = await c.get(f"/api/v1/teams/{team_id}", headers={**staff.headers, "X-Request-ID": "req-logs-1"})
            assert r.status_code == 200
            missing = await c.get(f"/api/v1/teams/{team_id}/hubs/01a24db4-d2ec-7315-84cd-44cb07d06ca5",
                                  headers=staff.headers)
            assert missing.status_code == 404
        finally:
            logging.getLogger("hubwire.request").removeHandler(seen)
    records = seen.records
    assert len(records) == 2, [rec.getMessage() for rec in records]
    fmt = LogFormatter(log_format="json")
    first = json.loads(fmt.format(records[0]))
    print(fmt.format(records[0]))
    assert first["request_id"] == "req-logs-1"
    assert first["method"] == "GET" and first["status"] == 200
    assert first["route"] == "/api/v1/teams/{team_id}"
    assert first["team_id"] == team_id and "hub_id" not in first
    assert first["duration_ms"] >= 0 and first["level"] == "INFO" and first["logger"] == "hubwire.request"
    second = json.loads(fmt.format(records[1]))
    assert second["status"] == 404 and second["hub_id"] == "01a24db4-d2ec-7315-84cd-44cb07d06ca5"
    assert second["route"] == "/api/v1/teams/{team_id}/hubs/{hub_id}"
    text = LogFormatter(log_format="text").format(records[0])
    assert not text.startswith("{") and "GET /api/v1/teams/{team_id} 200" in text and "request_id=req-logs-1" in text


def test_auto_format_is_json_unless_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert LogFormatter(log_format="auto").json
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert not LogFormatter(log_format="auto").json
    assert LogFormatter(log_format="json").json


@pytest.mark.parametrize("line, secret", [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "eyJhbGciOiJIUzI1NiJ9"),
    ("key hw_sk_AbCdEfGhIjKlMnOp used", "hw_sk_AbCdEfGhIjKlMnOp"),
    ("GET /hubs/demo/login?token=hw_ml_Zyx987654321abc HTTP/1.1", "hw_ml_Zyx987654321abc"),
    ('{"email": "a@b.example", "password": "' + PASSWORD + '"}', PASSWORD),
    ("sent to someone@example.com", "someone@example.com"),
    ("stripe key sk_test_hubwire_standin", "sk_test_hubwire_standin"),
])
def test_secrets_are_redacted_whoever_logs_them(line: str, secret: str) -> None:
    out = redact(line)
    assert secret not in out, out
    record = logging.LogRecord("anything", logging.WARNING, __file__, 1, "%s", (line,), None)
    assert secret not in LogFormatter(log_format="json").format(record)


def test_a_bad_log_format_is_refused(tmp_path: Path) -> None:
    from server.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="HUBWIRE_LOG_FORMAT"):
        Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_LOG_FORMAT": "xml"})




def test_the_log_scan_finds_what_it_looks_for() -> None:
    from tests.support.logscan import find_secrets

    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"
    # a bare password has no shape to redact: only the scan would catch the app logging one
    assert find_secrets(LogFormatter(log_format="json").format(
        logging.LogRecord("anything", logging.INFO, __file__, 1, "login with %s", (PASSWORD,), None)))
    for leaked in (f"Authorization: Bearer {token}", "key hw_sk_abcdefghijklmnop",
                   "GET /hubs/x/login?token=hw_ml_abcdefghijklmnop", '{"password": "hunter2"}'):
        assert find_secrets(leaked), leaked
        record = logging.LogRecord("anything", logging.INFO, __file__, 1, "%s", (leaked,), None)
        assert not find_secrets(LogFormatter(log_format="json").format(record)), leaked  # redacted when written
