"""Operational surface: liveness, readiness (with a dead Redis and a dead database), the OpenAPI
document, and how settings are read from the environment."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

import server.settings as settings_module
from server.app import create_app
from server.settings import Settings, SettingsError
from tests.support.api import PASSWORD, assert_error, register, unique_email
from tests.support.backends import make_settings

DEAD_REDIS = "redis://127.0.0.1:1/0"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


# ---- liveness and readiness -------------------------------------------------------------------


async def test_health_without_auth(client):
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-request-id"]


async def test_health_ignores_a_bad_token(client):
    r = await client.get("/health", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_ready_reports_its_checks(client, settings):
    r = await client.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    if settings.redis_url:
        assert body["checks"]["redis"] == "ok"
    else:
        assert "redis" not in body["checks"]
    assert set(body["checks"]) == ({"database", "redis"} if settings.redis_url else {"database"})


async def test_ready_is_503_when_redis_is_down(tmp_root: Path, database_url: str, redis_prefix: str):
    s = make_settings(tmp_root / "dead-redis", database_url, redis_prefix, HUBWIRE_REDIS_URL=DEAD_REDIS)
    assert s.redis_url == DEAD_REDIS
    app = create_app(s)
    # Entering the client runs the lifespan: starting the Redis broker against a closed port must
    # not crash the app (the reader task retries in the background).
    async with AsyncTestClient(app) as c:
        r = await c.get("/ready")
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["redis"] == "unavailable"
        assert body["checks"]["database"] == "ok"
        assert r.headers["x-request-id"]
        # liveness is unaffected, and the app keeps answering
        h = await c.get("/health")
        assert h.status_code == 200 and h.json() == {"status": "ok"}
        r2 = await c.get("/ready")
        assert r2.status_code == 503
        # routes that need no Redis still work
        r3 = await c.get("/api/v1/teams")
        assert_error(r3, 401, "unauthenticated")
    # leaving the client ran the shutdown without raising


async def test_routes_needing_redis_answer_503_while_it_is_down(client, tmp_root, database_url, redis_prefix):
    """Login and register hit the Redis rate limiter: with Redis down that is a temporary outage
    (503 with Retry-After), not a bare 500, and no account is half-created."""
    app = create_app(make_settings(tmp_root / "dead-redis-2", database_url, redis_prefix, HUBWIRE_REDIS_URL=DEAD_REDIS))
    email = unique_email("noredis")
    async with AsyncTestClient(app) as c:
        r = await c.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert_error(r, 503, "service_unavailable")
        assert int(r.headers["retry-after"]) >= 1
        assert "Connection refused" not in r.text and "127.0.0.1:1" not in r.text
        r = await c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert_error(r, 503, "service_unavailable")
    # the same database through the healthy app: the refused registration left nothing behind
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_error(r, 401, "invalid_credentials")
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text


async def test_ready_is_503_when_the_database_is_down(tmp_root, redis_prefix):
    s = make_settings(tmp_root / "dead-db", "postgresql+asyncpg://nobody@127.0.0.1:1/nothing", redis_prefix,
                      HUBWIRE_AUTO_MIGRATE="false", HUBWIRE_REDIS_URL="")
    assert s.redis_url is None and not s.auto_migrate
    app = create_app(s)
    async with AsyncTestClient(app) as c:
        r = await c.get("/ready")
        assert r.status_code == 503, r.text
        assert r.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}
        assert (await c.get("/health")).status_code == 200


# ---- OpenAPI ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def openapi(client) -> dict[str, Any]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    return dict(doc)


def openapi_path(litestar_path: str) -> str:
    return re.sub(r"\{([^}:]+):[^}]+\}", r"{\1}", litestar_path)


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/components/schemas/"), ref
        name = ref.rsplit("/", 1)[1]
        assert name in doc["components"]["schemas"], f"dangling reference {ref}"
        schema = doc["components"]["schemas"][name]
    return schema


def body_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    op = doc["paths"][path][method]
    content = op["requestBody"]["content"]
    assert content, op
    schema = next(iter(content.values()))["schema"]
    assert "$ref" in schema, f"{method} {path} body is not a component schema: {schema}"
    return resolve(doc, schema)


def response_schema(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    op = doc["paths"][path][method]
    assert status in op["responses"], (path, method, list(op["responses"]))
    content = op["responses"][status]["content"]
    schema = next(iter(content.values()))["schema"]
    assert "$ref" in schema, f"{method} {path} {status} is not a component schema: {schema}"
    return resolve(doc, schema)


async def test_openapi_lists_every_route_with_its_methods(app, openapi):
    expected: dict[str, set[str]] = {}
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue
        if any(h.opt.get("page") for h in getattr(route, "route_handlers", [])):
            continue  # the web app's pages are not API routes (tests/web/test_pages.py)
        methods = {m for m in getattr(route, "methods", set()) if m in HTTP_METHODS}
        if methods:
            expected.setdefault(openapi_path(route.path), set()).update(methods)
    assert "/api/v1/teams/{team_id}" in expected and "/health" in expected
    for path, methods in expected.items():
        assert path in openapi["paths"], f"{path} missing from the OpenAPI document"
        listed = {m.upper() for m in openapi["paths"][path] if m.upper() in HTTP_METHODS}
        assert listed == methods, (path, listed, methods)
    # and nothing is listed that the app does not serve
    assert set(openapi["paths"]) == set(expected)


async def test_openapi_every_reference_resolves(openapi):
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(openapi)
    assert refs
    for ref in refs:
        resolve(openapi, {"$ref": ref})


async def test_openapi_team_create_body_is_the_real_document(openapi):
    schema = body_schema(openapi, "/api/v1/teams", "post")
    assert "data" in schema["properties"] and "data" in schema.get("required", [])
    data = resolve(openapi, schema["properties"]["data"])
    assert {"type", "attributes"} <= set(data["properties"])
    assert data["properties"]["type"].get("const") == "teams" or data["properties"]["type"].get("enum") == ["teams"]
    attrs = resolve(openapi, data["properties"]["attributes"])
    assert "name" in attrs["properties"] and "slug" in attrs["properties"]
    assert "name" in attrs.get("required", [])
    assert "slug" not in attrs.get("required", [])


async def test_openapi_team_update_body_has_optional_attributes(openapi):
    schema = body_schema(openapi, "/api/v1/teams/{team_id}", "patch")
    data = resolve(openapi, schema["properties"]["data"])
    attrs = resolve(openapi, data["properties"]["attributes"])
    assert {"name", "slug"} <= set(attrs["properties"])
    assert not set(attrs.get("required", [])) & {"name", "slug"}


async def test_openapi_api_key_create_body(openapi):
    schema = body_schema(openapi, "/api/v1/teams/{team_id}/api-keys", "post")
    assert {"name", "scopes", "expires_at"} <= set(schema["properties"])
    assert "name" in schema.get("required", [])
    assert "secret" not in schema["properties"]
    created = response_schema(openapi, "/api/v1/teams/{team_id}/api-keys", "post", "201")
    assert "secret" in created["properties"]
    listed = response_schema(openapi, "/api/v1/teams/{team_id}/api-keys", "get", "200")
    item = resolve(openapi, listed["properties"]["data"]["items"])
    assert "secret" not in item["properties"], "the list never shows secrets"


async def test_openapi_team_responses_reference_documents(openapi):
    one = response_schema(openapi, "/api/v1/teams/{team_id}", "get", "200")
    assert "data" in one["properties"]
    resource = resolve(openapi, one["properties"]["data"])
    assert {"type", "id", "attributes"} <= set(resource["properties"])
    attrs = resolve(openapi, resource["properties"]["attributes"])
    assert {"name", "slug"} <= set(attrs["properties"])
    many = response_schema(openapi, "/api/v1/teams", "get", "200")
    assert {"data", "links", "meta"} <= set(many["properties"])
    created = response_schema(openapi, "/api/v1/teams", "post", "201")
    assert "data" in created["properties"]


async def test_openapi_path_parameters_are_declared(openapi):
    for path, item in openapi["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in item.items():
            if method.upper() not in HTTP_METHODS:
                continue
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            assert names <= declared, (method, path, names, declared)


async def test_openapi_declares_bearer_security(openapi):
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"


# ---- settings ---------------------------------------------------------------------------------


def test_embedded_default_is_sqlite_under_the_data_dir(tmp_path):
    data = tmp_path / "data"
    s = Settings.from_env({"HUBWIRE_DATA_DIR": str(data)})
    assert s.data_dir == data.resolve()
    assert s.database_url == f"sqlite+aiosqlite:///{data.resolve() / 'hubwire.db'}"
    assert s.is_sqlite
    assert s.redis_url is None
    assert s.smtp_host is None and s.smtp_tls == "starttls"
    assert s.auto_migrate is True
    assert s.public_url == "http://127.0.0.1:8000"
    assert data.is_dir()


def test_default_data_dir_is_dot_hubwire(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    assert s.data_dir == (tmp_path / ".hubwire").resolve()
    assert s.database_url.endswith(str((tmp_path / ".hubwire" / "hubwire.db").resolve()))
    assert (tmp_path / ".hubwire" / "secret_key").is_file()


def test_from_env_reads_the_process_environment_when_called(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBWIRE_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("HUBWIRE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("HUBWIRE_PUBLIC_URL", "https://hub.example.test/")
    s = Settings.from_env()
    assert s.data_dir == (tmp_path / "env").resolve()
    assert s.secret_key == "k" * 40
    assert s.public_url == "https://hub.example.test"


def test_generated_secret_is_persisted_private_and_reused(tmp_path):
    data = tmp_path / "secret"
    first = Settings.from_env({"HUBWIRE_DATA_DIR": str(data)})
    path = data / "secret_key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    assert path.read_text().strip() == first.secret_key
    second = Settings.from_env({"HUBWIRE_DATA_DIR": str(data)})
    assert second.secret_key == first.secret_key
    other = Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path / "other")})
    assert other.secret_key != first.secret_key
    assert sorted(p.name for p in data.iterdir()) == ["secret_key"], "no temporary files left behind"


def test_explicit_secret_key_writes_no_file(tmp_path):
    data = tmp_path / "explicit"
    s = Settings.from_env({"HUBWIRE_DATA_DIR": str(data), "HUBWIRE_SECRET_KEY": "s" * 32})
    assert s.secret_key == "s" * 32
    assert not (data / "secret_key").exists()


def test_secret_key_race_never_yields_a_partial_key(tmp_path, monkeypatch):
    """Two workers starting at once (``serve --workers N``): the one that loses the race to create
    the key file must read the winner's whole key, never an empty, half-written file."""
    data = tmp_path / "race"
    real_write = os.write
    seen: list[str] = []

    def write_with_a_rival(fd: int, payload: bytes) -> int:
        if not seen:
            seen.append("")  # guard: the rival does not nest another rival
            # another process starts up right now, while our key is not yet written
            seen[0] = Settings.from_env({"HUBWIRE_DATA_DIR": str(data)}).secret_key
        return real_write(fd, payload)

    monkeypatch.setattr(settings_module.os, "write", write_with_a_rival)
    mine = Settings.from_env({"HUBWIRE_DATA_DIR": str(data)}).secret_key
    monkeypatch.setattr(settings_module.os, "write", real_write)
    assert seen and len(seen[0]) >= 32
    assert mine == seen[0]
    assert (data / "secret_key").read_text().strip() == mine
    assert Settings.from_env({"HUBWIRE_DATA_DIR": str(data)}).secret_key == mine


@pytest.mark.parametrize("url", [
    "mysql://root@localhost/hubwire",
    "sqlite:///plain-sync-driver.db",
    "postgresql+psycopg2://u@h/db",
    "hubwire.db",
    "redis://127.0.0.1:6379/0",
])
def test_bad_database_url_is_refused(tmp_path, url):
    with pytest.raises(SettingsError, match="HUBWIRE_DATABASE_URL"):
        Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_DATABASE_URL": url})


@pytest.mark.parametrize("url, expected", [
    ("postgres://u:p@db.example:5432/hub", "postgresql+asyncpg://u:p@db.example:5432/hub"),
    ("postgresql://u@db/hub", "postgresql+asyncpg://u@db/hub"),
    ("postgresql+asyncpg://u@db/hub", "postgresql+asyncpg://u@db/hub"),
    ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
])
def test_database_urls_are_normalised(tmp_path, url, expected):
    s = Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_DATABASE_URL": url})
    assert s.database_url == expected
    assert s.is_sqlite == expected.startswith("sqlite")


@pytest.mark.parametrize("value", ["ssl", "yes", "STARTTLS?", "true"])
def test_bad_smtp_tls_is_refused(tmp_path, value):
    with pytest.raises(SettingsError, match="HUBWIRE_SMTP_TLS"):
        Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_SMTP_TLS": value})


@pytest.mark.parametrize("value, expected", [("none", "none"), ("TLS", "tls"), ("starttls", "starttls"), ("", "starttls")])
def test_smtp_tls_values(tmp_path, value, expected):
    s = Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_SMTP_TLS": value})
    assert s.smtp_tls == expected


@pytest.mark.parametrize("key", ["short", "x" * 31])
def test_short_secret_key_is_refused(tmp_path, key):
    with pytest.raises(SettingsError, match="HUBWIRE_SECRET_KEY"):
        Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_SECRET_KEY": key})


def test_secret_key_of_32_characters_is_enough(tmp_path):
    s = Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_SECRET_KEY": "y" * 32})
    assert s.secret_key == "y" * 32


@pytest.mark.parametrize("name, value", [
    ("HUBWIRE_SMTP_PORT", "twenty-five"),
    ("HUBWIRE_ACCESS_TOKEN_TTL", "1.5"),
    ("HUBWIRE_AUTO_MIGRATE", "maybe"),
    ("HUBWIRE_PASSWORD_HASHING", "md5"),
    ("HUBWIRE_LOG_LEVEL", "chatty"),
])
def test_other_bad_values_are_refused(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), name: value})


def test_settings_values_are_parsed(tmp_path):
    s = Settings.from_env({
        "HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_SMTP_HOST": "smtp.example.test", "HUBWIRE_SMTP_PORT": "2525",
        "HUBWIRE_AUTO_MIGRATE": "off", "HUBWIRE_REDIS_URL": "redis://r:6379/2", "HUBWIRE_LOG_LEVEL": "debug",
        "HUBWIRE_TRUSTED_PROXIES": " 10.0.0.1, ,10.0.0.2 ",
    })
    assert s.smtp_host == "smtp.example.test" and s.smtp_port == 2525
    assert s.auto_migrate is False
    assert s.redis_url == "redis://r:6379/2"
    assert s.log_level == "DEBUG"
    assert s.trusted_proxies == ("10.0.0.1", "10.0.0.2")


def test_settings_repr_hides_secrets(tmp_path):
    s = Settings.from_env({
        "HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_SECRET_KEY": "topsecret-" + "z" * 30,
        "HUBWIRE_SMTP_PASSWORD": "smtp-pass-123", "HUBWIRE_STRIPE_SECRET_KEY": "sk_test_abc",
        "HUBWIRE_STRIPE_WEBHOOK_SECRET": "whsec_abc",
    })
    text = repr(s)
    for secret in ["topsecret-", "smtp-pass-123", "sk_test_abc", "whsec_abc"]:
        assert secret not in text, secret


async def test_app_starts_from_the_embedded_default(tmp_path):
    """create_app with nothing but a data dir: SQLite file created and migrated on start."""
    app = create_app(Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path / "embedded"),
                                        "HUBWIRE_PASSWORD_HASHING": "fast", "HUBWIRE_LOG_LEVEL": "WARNING"}))
    async with AsyncTestClient(app) as c:
        r = await c.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok"}
        staff = await register(c, "embedded")
        assert staff.team_id
    assert (tmp_path / "embedded" / "hubwire.db").is_file()


def test_realtime_and_scheduler_settings_are_checked_when_the_app_is_created(tmp_path):
    from server.settings import Settings, SettingsError

    base = {"HUBWIRE_DATA_DIR": str(tmp_path)}
    s = Settings.from_env({**base, "HUBWIRE_RT_SEND_QUEUE": "64", "HUBWIRE_COMMUNITY_SCHEDULER_INTERVAL": "0.5"})
    assert s.realtime == {"HUBWIRE_RT_SEND_QUEUE": "64"} and s.community_scheduler_interval == 0.5
    with pytest.raises(SettingsError, match="HUBWIRE_RT_SEND_QUEUE"):
        Settings.from_env({**base, "HUBWIRE_RT_SEND_QUEUE": "lots"})
    with pytest.raises(SettingsError, match="HUBWIRE_COMMUNITY_SCHEDULER_INTERVAL"):
        Settings.from_env({**base, "HUBWIRE_COMMUNITY_SCHEDULER_INTERVAL": "0"})


async def test_openapi_documents_the_real_media_types_and_error_shape(openapi):
    op = openapi["paths"]["/api/v1/teams/{team_id}"]["patch"]
    assert set(op["requestBody"]["content"]) == {"application/vnd.api+json"}
    assert set(op["responses"]["200"]["content"]) == {"application/vnd.api+json"}
    for code in ("401", "403", "404", "422"):
        ref = op["responses"][code]["content"]["application/vnd.api+json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorDocument"
    error = openapi["components"]["schemas"]["ErrorDocument"]
    assert error["required"] == ["errors"]
    # plain routes stay plain JSON; /health needs no credentials
    login = openapi["paths"]["/api/v1/auth/login"]["post"]
    assert set(login["requestBody"]["content"]) == {"application/json"}
    assert openapi["paths"]["/health"]["get"]["security"] == []
