"""The conventions every route shares: media types, body validation with exact pointers, request
ids, uniform error documents (404/405/500 included), document shapes, and the start-up check that
no team route can skip the team dependency."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from litestar.testing import AsyncTestClient

import server.app as server_app
from domain.errors import DomainError, ValidationFailed
from server.app import check_team_routes, create_app
from server.deps import DEPENDENCIES, TeamCtx
from server.jsonapi import validate_body
from tests.support.api import (
    JSONAPI_HEADERS,
    PASSWORD,
    assert_error,
    create_team,
    doc,
    register,
    unique_email,
)
from tests.support.backends import make_settings

JSONAPI = "application/vnd.api+json"
SANE_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


async def team_ids(client: Any, staff: Any) -> list[str]:
    r = await client.get("/api/v1/teams", params={"page[size]": "100"}, headers=staff.headers)
    assert r.status_code == 200, r.text
    return sorted(t["id"] for t in r.json()["data"])


# ---- media types ------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type, body", [
    ("text/plain", json.dumps(doc("teams", {"name": "Plain"}))),
    ("application/x-www-form-urlencoded", "data[type]=teams&data[attributes][name]=Form"),
    ("multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nM\r\n--xyz--\r\n"),
    ("application/xml", "<data><type>teams</type></data>"),
])
async def test_non_json_body_is_415_and_creates_nothing(client, content_type, body):
    staff = await register(client)
    before = await team_ids(client, staff)
    r = await client.post("/api/v1/teams", content=body.encode(),
                          headers={**staff.headers, "Content-Type": content_type})
    err = assert_error(r, 415, "unsupported_media_type")
    assert JSONAPI in err["meta"]["accepted"]
    assert await team_ids(client, staff) == before


async def test_form_encoded_via_httpx_data_is_415(client):
    staff = await register(client)
    before = await team_ids(client, staff)
    r = await client.post("/api/v1/teams", data={"name": "Form team"}, headers=staff.headers)
    assert_error(r, 415, "unsupported_media_type")
    assert await team_ids(client, staff) == before


async def test_415_is_answered_before_authentication(client):
    # The body check needs no caller: an anonymous text/plain POST is refused as such.
    r = await client.post("/api/v1/teams", content=b"hello", headers={"Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")


async def test_plain_route_also_refuses_non_json(client):
    r = await client.post("/api/v1/auth/register", content=b"email=a@b.test&password=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", [JSONAPI, "application/json", "application/json; charset=utf-8"])
async def test_json_media_types_are_accepted(client, content_type):
    staff = await register(client)
    before = await team_ids(client, staff)
    name = f"Accepted {content_type}"
    r = await client.post("/api/v1/teams", content=json.dumps(doc("teams", {"name": name})).encode(),
                          headers={**staff.headers, "Content-Type": content_type})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith(JSONAPI)
    body = r.json()
    assert body["data"]["type"] == "teams"
    assert body["data"]["attributes"]["name"] == name
    assert r.headers["location"] == f"/api/v1/teams/{body['data']['id']}"
    after = await team_ids(client, staff)
    assert sorted(before + [body["data"]["id"]]) == after


# ---- body validation --------------------------------------------------------------------------


async def test_malformed_json_is_400_invalid_json(client):
    staff = await register(client)
    before = await team_ids(client, staff)
    for raw in [b'{"data": {', b"{'data': 1}", b"not json", b'{"data": {"type": "teams"}} trailing']:
        r = await client.post("/api/v1/teams", content=raw, headers={**staff.headers, **JSONAPI_HEADERS})
        assert_error(r, 400, "invalid_json")
    assert await team_ids(client, staff) == before


async def test_malformed_json_on_plain_route(client):
    r = await client.post("/api/v1/auth/login", content=b'{"email": "x@y.test", "password": ',
                          headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")


async def test_array_body_is_422_at_the_root(client):
    staff = await register(client)
    r = await client.post("/api/v1/teams", content=b'[{"data": {"type": "teams", "attributes": {"name": "A"}}}]',
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "invalid_value", pointer="")
    r = await client.post("/api/v1/auth/login", json=[{"email": "a@b.test", "password": PASSWORD}])
    assert_error(r, 422, "invalid_value", pointer="")


async def test_syntax_error_after_a_misfit_is_still_invalid_json(client):
    staff = await register(client)
    r = await client.post("/api/v1/teams", content=b'{"data": {"type": "teams"}} trailing',
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 400, "invalid_json")
    r = await client.post("/api/v1/teams", content=b'{"data": {"type": "teams", "attributes": {"name": 5}}, ',
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 400, "invalid_json")


def test_validate_body_deep_nesting_is_a_client_error():
    class Loose(msgspec.Struct):
        meta: dict[str, Any]

    deep = b'{"meta": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    with pytest.raises(DomainError) as info:
        validate_body(deep, Loose)
    assert info.value.code == "invalid_json"
    with pytest.raises(ValidationFailed) as vf:
        validate_body(b"[" * 5000 + b"]" * 5000, Loose)
    assert vf.value.pointer == ""
    validate_body(b'{"meta": {"a": [[1]]}}', Loose)  # a fitting body passes


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400"])
def test_validate_body_out_of_range_number_is_a_field_error_not_bad_json(literal):
    """1e400 is well-formed JSON that msgspec cannot hold: a 422 on that field, not invalid_json."""
    class Loose(msgspec.Struct):
        meta: dict[str, Any]

    with pytest.raises(ValidationFailed) as vf:
        validate_body(b'{"meta": {"a": ' + literal + b"}}", Loose)
    # msgspec does not name the map key (`$.meta[...]`): the pointer stops at the map, never the root
    assert vf.value.pointer == "/meta"
    assert vf.value.code == "invalid_value"
    with pytest.raises(DomainError) as bad:
        validate_body(b'{"meta": {"a": ' + literal + b"}} trailing", Loose)
    assert bad.value.code in {"invalid_json", "invalid_value"}


async def test_unknown_attribute_is_422_unknown_field(client):
    staff = await register(client)
    before = await team_ids(client, staff)
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "X", "x": 1}),
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "unknown_field", pointer="/data/attributes/x")
    assert await team_ids(client, staff) == before


async def test_unknown_member_of_data_is_422_unknown_field(client):
    staff = await register(client)
    body = doc("teams", {"name": "X"})
    body["data"]["colour"] = "blue"
    r = await client.post("/api/v1/teams", json=body, headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "unknown_field", pointer="/data/colour")


async def test_missing_required_attribute_is_422_missing_field(client):
    staff = await register(client)
    r = await client.post("/api/v1/teams", json=doc("teams", {"slug": "no-name"}),
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "missing_field", pointer="/data/attributes/name")


async def test_missing_data_is_422_missing_field(client):
    staff = await register(client)
    r = await client.post("/api/v1/teams", json={}, headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "missing_field", pointer="/data")


async def test_wrong_type_is_422_invalid_value(client):
    staff = await register(client)
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": 42}),
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "invalid_value", pointer="/data/attributes/name")


async def test_wrong_resource_type_is_422(client):
    staff = await register(client)
    r = await client.post("/api/v1/teams", json=doc("hubs", {"name": "Wrong type"}),
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "invalid_value", pointer="/data/type")


async def test_patch_validation_uses_exact_pointers(client):
    staff = await register(client)
    url = f"/api/v1/teams/{staff.team_id}"
    h = {**staff.headers, **JSONAPI_HEADERS}
    r = await client.patch(url, json=doc("teams", {"name": ["a"]}, id=staff.team_id), headers=h)
    assert_error(r, 422, "invalid_value", pointer="/data/attributes/name")
    r = await client.patch(url, json=doc("teams", {"nickname": "n"}, id=staff.team_id), headers=h)
    assert_error(r, 422, "unknown_field", pointer="/data/attributes/nickname")
    r = await client.get(url, headers=staff.headers)
    assert r.status_code == 200
    assert "nickname" not in r.json()["data"]["attributes"]


async def test_plain_route_uses_plain_pointers(client):
    r = await client.post("/api/v1/auth/register", json={"email": 1, "password": PASSWORD})
    assert_error(r, 422, "invalid_value", pointer="/email")
    r = await client.post("/api/v1/auth/register", json={"email": unique_email(), "password": PASSWORD, "x": 1})
    assert_error(r, 422, "unknown_field", pointer="/x")
    r = await client.post("/api/v1/auth/register", json={"email": unique_email()})
    assert_error(r, 422, "missing_field", pointer="/password")
    r = await client.post("/api/v1/auth/login", json={"email": "a@b.test", "password": None})
    assert_error(r, 422, "invalid_value", pointer="/password")


async def test_plain_route_nested_pointer(client):
    staff = await register(client)
    r = await client.post(f"/api/v1/teams/{staff.team_id}/api-keys",
                          json={"name": "k", "scopes": ["teams:read", 7]}, headers=staff.headers)
    assert_error(r, 422, "invalid_value", pointer="/scopes/1")


# ---- request ids ------------------------------------------------------------------------------


async def test_every_response_carries_a_request_id(client):
    staff = await register(client)
    responses = [
        await client.get("/health"),  # success, plain
        await client.get(f"/api/v1/teams/{staff.team_id}", headers=staff.headers),  # success, JSON:API
        await client.get("/api/v1/teams"),  # 401
        await client.post("/api/v1/teams", content=b"x", headers={"Content-Type": "text/plain"}),  # 415
        await client.get("/api/v1/definitely/not/a/route"),  # 404 from the router
        await client.delete("/api/v1/teams", headers=staff.headers),  # 405
    ]
    ids = []
    for r in responses:
        rid = r.headers.get("x-request-id")
        assert rid, (r.status_code, r.headers)
        assert SANE_RID.match(rid)
        assert len(r.headers.get_list("x-request-id")) == 1
        ids.append(rid)
    assert len(set(ids)) == len(ids), "each request gets its own id"


async def test_sane_incoming_request_id_is_echoed(client):
    r = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/api/v1/teams", headers={"X-Request-ID": "abc-123"})
    err = assert_error(r, 401, "unauthenticated")
    assert err["meta"]["request_id"] == "abc-123"
    r = await client.get("/nope/nothing/here", headers={"X-Request-ID": "abc-123"})
    err = assert_error(r, 404, "not_found")
    assert err["meta"]["request_id"] == "abc-123"


@pytest.mark.parametrize("incoming", ["a" * 129, "has spaces in it", "semi;colon", "<script>", "ümlaut".encode()])
async def test_insane_incoming_request_id_is_replaced(client, incoming):
    r = await client.get("/api/v1/teams", headers={"X-Request-ID": incoming})
    err = assert_error(r, 401, "unauthenticated")
    rid = r.headers["x-request-id"]
    assert rid.encode() != (incoming if isinstance(incoming, bytes) else incoming.encode())
    assert SANE_RID.match(rid)
    assert err["meta"]["request_id"] == rid
    r = await client.get("/health", headers={"X-Request-ID": incoming})
    assert r.headers["x-request-id"] not in {rid, incoming}
    assert SANE_RID.match(r.headers["x-request-id"])


async def test_request_id_at_max_length_is_kept(client):
    rid = "r" * 128
    r = await client.get("/health", headers={"X-Request-ID": rid})
    assert r.headers["x-request-id"] == rid


# ---- uniform errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nothing", "/api/v1/teams/x/y/z/w", "/api/v2/teams"])
async def test_unknown_route_is_404_jsonapi(client, path):
    r = await client.get(path)
    assert_error(r, 404, "not_found")
    assert "Traceback" not in r.text


@pytest.mark.parametrize("method, path", [
    ("DELETE", "/api/v1/teams"),
    ("PUT", "/api/v1/teams"),
    ("POST", "/health"),
    ("PUT", "/api/v1/auth/login"),
    ("GET", "/api/v1/auth/login"),
])
async def test_wrong_method_is_405(client, method, path):
    staff = await register(client)
    r = await client.request(method, path, headers=staff.headers)
    assert_error(r, 405, "method_not_allowed")
    allow = r.headers.get("allow", "")
    assert allow, "a 405 says which methods are allowed"
    assert method not in {m.strip() for m in allow.split(",")}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_unexpected_exception_is_bare_500(tmp_root: Path, database_url: str, redis_prefix: str):
    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail xyz")

    app = create_app(make_settings(tmp_root / "boom", database_url, redis_prefix))
    app.register(boom)
    records = _Records()
    errors_log = logging.getLogger("hubwire.errors")
    async with AsyncTestClient(app) as c:
        errors_log.addHandler(records)  # after start-up, which (re)configures logging
        try:
            r = await c.get("/boom", headers={"X-Request-ID": "boom-1"})
        finally:
            errors_log.removeHandler(records)
        assert "secret detail xyz" not in r.text
        assert "Traceback" not in r.text
        assert "RuntimeError" not in r.text
        err = assert_error(r, 500, "internal_error")
        assert err["meta"]["request_id"] == "boom-1"
        assert set(err) <= {"status", "code", "title", "detail", "meta"}
        # ... but the server's log has it, with the request id, for whoever investigates
        logged = [rec for rec in records.records if "boom-1" in rec.getMessage()]
        assert logged and logged[0].levelname == "ERROR"
        assert logged[0].exc_info and "secret detail xyz" in str(logged[0].exc_info[1])
        # the app keeps working afterwards
        ok = await c.get("/health")
        assert ok.status_code == 200


# ---- document shapes --------------------------------------------------------------------------


async def test_jsonapi_documents_and_content_type(client):
    staff = await register(client)
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=staff.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(JSONAPI)
    body = r.json()
    assert set(body) == {"data"}
    data = body["data"]
    assert data["type"] == "teams"
    assert data["id"] == staff.team_id
    assert isinstance(data["attributes"], dict)
    assert "id" not in data["attributes"] and "type" not in data["attributes"]
    assert {"name", "slug", "created_at"} <= set(data["attributes"])

    r = await client.get("/api/v1/teams", headers=staff.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(JSONAPI)
    body = r.json()
    assert {"data", "links", "meta"} <= set(body)
    assert isinstance(body["data"], list) and body["data"]
    assert all(item["type"] == "teams" for item in body["data"])
    assert body["links"]["self"]
    assert "/api/v1/teams" in body["links"]["self"]
    assert body["meta"]["has_more"] is False
    assert "next" not in body["links"] or body["links"]["next"] is None

    r = await client.get(f"/api/v1/teams/{staff.team_id}/members", headers=staff.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(JSONAPI)
    body = r.json()
    assert body["links"]["self"] and body["meta"]["has_more"] is False
    assert body["data"][0]["type"] == "team_members"


async def test_plain_routes_answer_plain_json(client):
    staff = await register(client)
    r = await client.get("/api/v1/auth/me", headers=staff.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    r = await client.get(f"/api/v1/teams/{staff.team_id}/api-keys", headers=staff.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["links"]["self"] and body["meta"]["has_more"] is False


async def test_cursor_pagination_follows_links_next(client):
    staff = await register(client)
    made = {await create_team(client, staff, f"Page {i}") for i in range(3)}
    seen: list[str] = []
    url: str | None = "/api/v1/teams?page[size]=2"
    pages = 0
    while url:
        r = await client.get(url, headers=staff.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= 2
        seen.extend(t["id"] for t in body["data"])
        pages += 1
        if body["meta"]["has_more"]:
            url = body["links"]["next"]
            assert url and ("page%5Bafter%5D" in url or "page[after]" in url)
        else:
            assert not body["links"].get("next")
            url = None
        assert pages < 10
    assert pages == 2  # personal team + 3 = 4 teams, two pages of two
    assert len(seen) == len(set(seen)) == 4
    assert made <= set(seen) and staff.team_id in seen


@pytest.mark.parametrize("query, code, parameter", [
    ({"page[size]": "0"}, "invalid_page_size", "page[size]"),
    ({"page[size]": "101"}, "invalid_page_size", "page[size]"),
    ({"page[size]": "ten"}, "invalid_page_size", "page[size]"),
    ({"page[after]": "!!!"}, "invalid_cursor", "page[after]"),
    ({"sort": "name"}, "unknown_parameter", "sort"),
    ({"filter[name]": "x"}, "unknown_filter", "filter[name]"),
])
async def test_bad_list_queries_are_422(client, query, code, parameter):
    staff = await register(client)
    r = await client.get("/api/v1/teams", params=query, headers=staff.headers)
    err = assert_error(r, 422, code)
    assert err["source"]["parameter"] == parameter


# ---- start-up check for team routes -----------------------------------------------------------


def test_team_route_without_scope_is_refused():
    @get("/api/v1/teams/{team_id:str}/oops")
    async def oops(team: TeamCtx) -> None:
        return None

    app = Litestar(route_handlers=[oops], dependencies=DEPENDENCIES)
    with pytest.raises(RuntimeError, match="declares no scope"):
        check_team_routes(app)


def test_team_route_without_team_dependency_is_refused():
    @get("/api/v1/teams/{team_id:str}/oops", opt={"scope": "teams:read"})
    async def oops(team_id: FromPath[str]) -> None:
        return None

    app = Litestar(route_handlers=[oops], dependencies=DEPENDENCIES)
    with pytest.raises(RuntimeError, match="team"):
        check_team_routes(app)


def test_team_route_with_scope_and_team_passes():
    @get("/api/v1/teams/{team_id:str}/fine", opt={"scope": "teams:read"})
    async def fine(team: TeamCtx) -> None:
        return None

    check_team_routes(Litestar(route_handlers=[fine], dependencies=DEPENDENCIES))


def test_create_app_refuses_to_start_with_an_unchecked_team_route(monkeypatch, tmp_root, database_url, redis_prefix):
    @get("/api/v1/teams/{team_id:str}/oops")
    async def oops(team_id: FromPath[str]) -> None:
        return None

    monkeypatch.setattr(server_app, "ROUTE_HANDLERS", [*server_app.ROUTE_HANDLERS, oops])
    with pytest.raises(RuntimeError):
        create_app(make_settings(tmp_root / "refuse", database_url, redis_prefix))


def test_real_app_passes_team_route_check(app):
    check_team_routes(app)
    team_routes = [r for r in app.routes if r.path.startswith("/api/v1/teams/{team_id")]
    assert team_routes, "the real app has team routes to check"


# ---- fuzz-ish: bad bodies never give a 500 ----------------------------------------------------

HUGE = "x" * 200_000
BAD_VALUES: list[Any] = [
    None, 0, -1, 1.5, 10**40, True, "", "string", HUGE, "💥" * 1000, "\u0000", "\ud7ff\ue000",
    [], [None], [[[[[]]]]], {}, {"": ""}, {"data": None}, {"data": []}, {"data": "teams"},
    {"data": {"type": "teams"}}, {"data": {"type": "teams", "attributes": None}},
    {"data": {"type": "teams", "attributes": []}},
    {"data": {"type": "teams", "attributes": {"name": None}}},
    {"data": {"type": "teams", "attributes": {"name": ""}}},
    {"data": {"type": "teams", "attributes": {"name": "   "}}},
    {"data": {"type": "teams", "attributes": {"name": HUGE}}},
    {"data": {"type": "teams", "attributes": {"name": {"nested": {"deep": [1, 2, {"x": None}]}}}}},
    {"data": {"type": "teams", "attributes": {"name": "ok", "slug": "Not A Slug!"}}},
    {"data": {"type": "teams", "attributes": {"name": "ok", "slug": "ü" * 300}}},
    {"data": {"type": "teams", "attributes": {"name": "ok", "slug": HUGE}}},
    {"data": {"type": "teams", "attributes": {"name": "ok", "slug": 7}}},
    {"data": {"type": ["teams"], "attributes": {"name": "ok"}}},
    {"data": {"type": "teams", "id": 5, "attributes": {"name": "ok"}}},
    {"email": HUGE, "password": HUGE},
    {"email": "💥@💥", "password": "💥" * 10},
    {"email": "", "password": ""},
    {"email": None, "password": None},
    {"email": ["a@b.test"], "password": {"p": 1}},
    {"email": "a@b.test", "password": "x" * 100_000},
    {"email": "\u0000@example.test", "password": "\u0000" * 12},
    {"email": "a" * 400 + "@example.test", "password": PASSWORD},
]
RAW_BODIES = [b"", b"\xff\xfe\x00garbage", b"\x00", b"{" * 5000, b"[" * 5000 + b"]" * 5000, b'"\\ud800"',
              b"NaN", b"Infinity", b'{"data": 1e999999}']


def _body_cases() -> list[tuple[str, bytes]]:
    cases = [(f"json{i}", json.dumps(v).encode()) for i, v in enumerate(BAD_VALUES)]
    cases += [(f"raw{i}", b) for i, b in enumerate(RAW_BODIES)]
    return cases


BODY_CASES = _body_cases()


def assert_4xx_error_document(r: Any) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith(JSONAPI), r.headers
    body = r.json()
    assert set(body) == {"errors"}, body
    for err in body["errors"]:
        assert err["status"] == str(r.status_code)
        assert err["code"] and err["code"] != "internal_error"
        assert err["meta"]["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text


@pytest.mark.parametrize("label, raw", BODY_CASES, ids=[c[0] for c in BODY_CASES])
async def test_bad_bodies_never_500(client, label, raw):
    staff = await register(client, "fuzz")
    before = await team_ids(client, staff)
    targets = [
        ("POST", "/api/v1/teams", {**staff.headers, **JSONAPI_HEADERS}),
        ("POST", "/api/v1/auth/register", {"Content-Type": "application/json"}),
        ("POST", "/api/v1/auth/login", {"Content-Type": "application/json"}),
        ("PATCH", f"/api/v1/teams/{staff.team_id}", {**staff.headers, **JSONAPI_HEADERS}),
        ("POST", f"/api/v1/teams/{staff.team_id}/api-keys", {**staff.headers, "Content-Type": "application/json"}),
    ]
    for method, path, headers in targets:
        r = await client.request(method, path, content=raw, headers=headers)
        assert_4xx_error_document(r)
    # nothing was created or changed by any of them
    assert await team_ids(client, staff) == before
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=staff.headers)
    assert r.status_code == 200
    assert r.json()["data"]["attributes"]["name"].endswith("'s team")


async def test_bad_register_bodies_create_no_account(client):
    email = unique_email("fuzzacct")
    for body in [{"email": email, "password": "short"}, {"email": email, "password": PASSWORD, "first_name": 5},
                 {"email": email, "password": PASSWORD, "extra": True}]:
        r = await client.post("/api/v1/auth/register", json=body)
        assert_4xx_error_document(r)
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_error(r, 401, "invalid_credentials")


@pytest.mark.parametrize("field, value", [
    ("first_name", "f" * 5000),
    ("last_name", "l" * 5000),
    ("first_name", "💥" * 150),
])
async def test_register_with_oversized_or_odd_names_is_not_500(client, field, value):
    r = await client.post("/api/v1/auth/register",
                          json={"email": unique_email("odd"), "password": PASSWORD, field: value})
    assert r.status_code != 500, r.text
    if r.status_code >= 400:
        assert_4xx_error_document(r)
    else:
        assert r.status_code == 201
        assert r.json()["user"][field] == value


async def test_nul_characters_are_refused_with_a_pointer(client):
    staff = await register(client)
    before = await team_ids(client, staff)
    h = {**staff.headers, **JSONAPI_HEADERS}
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "nul\u0000byte"}), headers=h)
    assert_error(r, 422, "invalid_value", pointer="/data/attributes/name")
    r = await client.patch(f"/api/v1/teams/{staff.team_id}", json=doc("teams", {"slug": "\u0000"}, id=staff.team_id),
                           headers=h)
    assert_error(r, 422, "invalid_value", pointer="/data/attributes/slug")
    assert await team_ids(client, staff) == before
    email = unique_email("nul")
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "first_name": "a\u0000"})
    assert_error(r, 422, "invalid_value", pointer="/first_name")
    r = await client.post("/api/v1/auth/register", json={"email": "\u0000" + email, "password": PASSWORD})
    assert_error(r, 422, "invalid_value", pointer="/email")
    r = await client.post(f"/api/v1/teams/{staff.team_id}/api-keys", json={"name": "k", "scopes": ["teams:read", "\u0000"]},
                          headers=staff.headers)
    assert_error(r, 422, "invalid_value", pointer="/scopes/1")
    # a literal backslash-u text (an escaped backslash) is ordinary text, not a NUL
    r = await client.post("/api/v1/teams", content=b'{"data": {"type": "teams", "attributes": {"name": "a\\\\u0000b"}}}',
                          headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["name"] == "a\\u0000b"


@pytest.mark.parametrize("name", ["💥" * 200, "é" * 200, "\u202eevil", "a\nb"])
async def test_team_names_with_odd_unicode_are_not_500(client, name):
    staff = await register(client)
    h = {**staff.headers, **JSONAPI_HEADERS}
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": name}), headers=h)
    assert r.status_code != 500, r.text
    if r.status_code >= 400:
        assert_4xx_error_document(r)
    else:
        assert r.status_code == 201
        assert r.json()["data"]["attributes"]["name"] == name.strip()
    r = await client.patch(f"/api/v1/teams/{staff.team_id}", json=doc("teams", {"name": name}, id=staff.team_id),
                           headers=h)
    assert r.status_code != 500, r.text
    if r.status_code >= 400:
        assert_4xx_error_document(r)


async def test_oversized_body_is_refused_not_500(client):
    staff = await register(client)
    big = json.dumps(doc("teams", {"name": "n" * 20_000_000})).encode()
    r = await client.post("/api/v1/teams", content=big, headers={**staff.headers, **JSONAPI_HEADERS})
    assert_4xx_error_document(r)


# ---- PATCH: a data.id must name the resource being changed --------------------------------------


@dataclass
class Patchable:
    """One existing resource behind a PATCH route: where to PATCH it and read it back, as whom,
    its id, and attributes that visibly change it (made from a fresh word each time)."""

    url: str
    type: str
    id: str
    headers: dict[str, str]
    change: Callable[[str], dict[str, Any]]
    # how the word shows in the resource read back (a resource with no text field shows a number)
    shows: Callable[[str], str] = lambda word: word


async def created_id(r: Any) -> str:
    assert r.status_code in (200, 201), r.text
    return str(r.json()["data"]["id"])


@pytest.fixture(scope="module")
async def patchables(client: Any) -> dict[str, Patchable]:
    """Every PATCH route of the app, keyed by its path format, with a resource of one team to change
    (which GET on the same URL reads back)."""
    staff = await register(client, "patcher")
    sh = {**staff.headers, **JSONAPI_HEADERS}
    t = f"/api/v1/teams/{staff.team_id}"

    async def post(url: str, type_name: str, attrs: dict[str, Any], headers: dict[str, str] = sh) -> str:
        return await created_id(await client.post(url, json=doc(type_name, attrs), headers=headers))

    hub_id = await post(f"{t}/hubs", "hubs", {"name": "Patch hub"})
    hub = f"{t}/hubs/{hub_id}"
    email = unique_email("member")
    membership_id = await post(f"{hub}/memberships", "hub_memberships", {"email": email})
    membership = (await client.get(f"{hub}/memberships", headers=sh)).json()["data"][0]
    assert membership["id"] == membership_id
    contact_id = membership["attributes"]["contact_id"]
    r = await client.post(f"{hub}/member-tokens", json=doc("member_tokens", {"contact_id": contact_id}), headers=sh)
    assert r.status_code == 201, r.text
    mh = {"Authorization": f"Bearer {r.json()['data']['attributes']['access_token']}", **JSONAPI_HEADERS}
    team_contact_id = (await client.get(f"{t}/contacts", params={"filter[email]": email}, headers=sh)).json()["data"][0]["id"]
    r = await client.post(f"{t}/contact-attributes", json=doc("contact_attributes", {
        "key": "nickname", "name": "Nickname", "data_type": "text"}), headers=sh)
    attribute_id = await created_id(r)
    r = await client.patch(f"{hub}/policies", json=doc("policies", {"policy_type": "tos", "content": "Be kind."}),
                           headers=sh)
    policy_id = await created_id(r)
    segment_id = await post(f"{t}/segments", "segments", {"name": "Everyone", "conditions": {
        "version": 1, "logic": "all", "groups": [{"logic": "all", "conditions": [
            {"type": "email", "operator": "contains", "value": "@"}]}]}})
    rule_id = await post(f"{hub}/access-rules", "access_rules", {
        "target_type": "hub", "target_id": hub_id,
        "conditions": [{"condition_type": "days_since_join", "condition_data": {"days": 0}}]})
    override_id = await post(f"{hub}/access-overrides", "access_overrides", {"contact_id": contact_id, "scope": "full"})
    space_id = await post(f"{hub}/spaces", "spaces", {"name": "Patch space"})
    tag_id = await post(f"{t}/tags", "tags", {"name": "Patch tag"})
    h = f"/api/v1/hub/{hub_id}"
    discussion_id = await post(f"{h}/spaces/{space_id}/discussions", "discussions", {"title": "T", "body": "B"}, mh)
    comment_id = await post(f"{h}/discussions/{discussion_id}/comments", "comments", {"body": "C"}, mh)
    product_id = await post(f"{t}/products", "products", {"name": "Patch product"})
    price_id = await post(f"{t}/products/{product_id}/prices", "prices", {"amount": 100, "currency": "usd"})
    display_id = await post(f"{hub}/products", "hub_product_displays", {"product_id": product_id})
    coupon_id = await post(f"{t}/coupons", "coupons", {"code": "PATCH", "percent_off": 10})
    node_id = await post(f"{hub}/content", "content_nodes", {"title": "Patch lesson"})
    page_id = await post(f"{hub}/pages", "pages", {"title": "Patch page"})
    section_id = await post(f"{hub}/pages/{page_id}/sections", "page_sections", {"title": "Patch section"},
                            {**sh, "If-Match": "*"})
    folder_id = await post(f"{t}/folders", "folders", {"name": "Patch folder"})
    file_id = await created_id(await client.post(f"{t}/files", files={"file": ("patch.txt", b"patch me")},
                                                 headers=staff.headers))

    cases = [
        Patchable(t, "teams", staff.team_id, sh, lambda x: {"name": f"Team {x}"}),
        Patchable(f"{t}/contacts/{team_contact_id}", "team_contacts", team_contact_id, sh,
                  lambda x: {"first_name": x}),
        Patchable(f"{t}/contacts/{team_contact_id}/attributes", "contact_attribute_values", team_contact_id, sh,
                  lambda x: {"values": {"nickname": x}}),
        Patchable(f"{t}/tags/{tag_id}", "tags", tag_id, sh, lambda x: {"name": f"Tag {x}"}),
        Patchable(f"{t}/contact-attributes/{attribute_id}", "contact_attributes", attribute_id, sh,
                  lambda x: {"name": f"Attribute {x}"}),
        Patchable(f"{t}/segments/{segment_id}", "segments", segment_id, sh, lambda x: {"name": f"Segment {x}"}),
        Patchable(hub, "hubs", hub_id, sh, lambda x: {"name": f"Hub {x}"}),
        Patchable(f"{hub}/email-settings", "hub_email_senders", hub_id, sh, lambda x: {"from_name": f"Sender {x}"}),
        Patchable(f"{hub}/policies", "policies", policy_id, sh,
                  lambda x: {"policy_type": "tos", "content": f"Terms {x}"}),
        Patchable(f"{hub}/memberships/{contact_id}", "hub_memberships", membership_id, sh,
                  lambda x: {"onboarding": {"step": x}}),
        Patchable(f"{h}/me", "members", contact_id, mh, lambda x: {"profile": {"display_name": f"Me {x}"}}),
        Patchable(f"{hub}/access-rules/{rule_id}", "access_rules", rule_id, sh, lambda x: {"name": f"Rule {x}"}),
        Patchable(f"{hub}/access-overrides/{override_id}", "access_overrides", override_id, sh,
                  lambda x: {"reason": f"Reason {x}"}),
        Patchable(f"{hub}/spaces/{space_id}", "spaces", space_id, sh, lambda x: {"name": f"Space {x}"}),
        Patchable(f"{h}/discussions/{discussion_id}", "discussions", discussion_id, mh,
                  lambda x: {"title": f"Title {x}"}),
        Patchable(f"{h}/comments/{comment_id}", "comments", comment_id, mh, lambda x: {"body": f"Comment {x}"}),
        Patchable(f"{t}/products/{product_id}", "products", product_id, sh, lambda x: {"name": f"Product {x}"}),
        Patchable(f"{t}/products/{product_id}/prices/{price_id}", "prices", price_id, sh,
                  lambda x: {"nickname": f"Price {x}"}),
        Patchable(f"{hub}/products/{display_id}", "hub_product_displays", display_id, sh,
                  lambda x: {"position": int(x, 16) % 1_000_000},
                  shows=lambda x: f'"position": {int(x, 16) % 1_000_000},'),
        Patchable(f"{t}/coupons/{coupon_id}", "coupons", coupon_id, sh, lambda x: {"name": f"Coupon {x}"}),
        Patchable(f"{hub}/content/{node_id}", "content_nodes", node_id, sh, lambda x: {"title": f"Lesson {x}"}),
        Patchable(f"{hub}/pages/{page_id}", "pages", page_id, {**sh, "If-Match": "*"},
                  lambda x: {"title": f"Page {x}"}),
        Patchable(f"{hub}/pages/{page_id}/sections/{section_id}", "page_sections", section_id,
                  {**sh, "If-Match": "*"}, lambda x: {"title": f"Section {x}"}),
        Patchable(f"{t}/folders/{folder_id}", "folders", folder_id, sh, lambda x: {"name": f"Folder {x}"}),
        Patchable(f"{t}/files/{file_id}", "files", file_id, sh, lambda x: {"filename": f"file-{x}.txt"}),
    ]
    # keyed by the route's path format: ids in the URL replaced by their parameter names
    names = {staff.team_id: "team_id", hub_id: "hub_id", team_contact_id: "team_contact_id",
             tag_id: "tag_id", attribute_id: "attribute_id", segment_id: "segment_id", contact_id: "contact_id",
             rule_id: "rule_id", override_id: "override_id", space_id: "space_id", discussion_id: "discussion_id",
             comment_id: "comment_id", product_id: "product_id", price_id: "price_id", display_id: "display_id",
             coupon_id: "coupon_id", node_id: "node_id", page_id: "page_id", section_id: "section_id",
             folder_id: "folder_id", file_id: "file_id"}
    return {"/".join("{" + names[p] + "}" if p in names else p for p in case.url.split("/")): case
            for case in cases}


PATCH_ROUTES = sorted([
    "/api/v1/teams/{team_id}",
    "/api/v1/teams/{team_id}/contacts/{team_contact_id}",
    "/api/v1/teams/{team_id}/contacts/{team_contact_id}/attributes",
    "/api/v1/teams/{team_id}/tags/{tag_id}",
    "/api/v1/teams/{team_id}/contact-attributes/{attribute_id}",
    "/api/v1/teams/{team_id}/segments/{segment_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/email-settings",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/policies",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/memberships/{contact_id}",
    "/api/v1/hub/{hub_id}/me",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/access-rules/{rule_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/access-overrides/{override_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/spaces/{space_id}",
    "/api/v1/hub/{hub_id}/discussions/{discussion_id}",
    "/api/v1/hub/{hub_id}/comments/{comment_id}",
    "/api/v1/teams/{team_id}/products/{product_id}",
    "/api/v1/teams/{team_id}/products/{product_id}/prices/{price_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/products/{display_id}",
    "/api/v1/teams/{team_id}/coupons/{coupon_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/content/{node_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/pages/{page_id}",
    "/api/v1/teams/{team_id}/hubs/{hub_id}/pages/{page_id}/sections/{section_id}",
    "/api/v1/teams/{team_id}/folders/{folder_id}",
    "/api/v1/teams/{team_id}/files/{file_id}",
])


def test_every_patch_route_is_checked_for_a_mismatched_id(app):
    # A new PATCH route joins PATCH_ROUTES (and the fixture above) so the test below covers it.
    assert {r.path_format for r in app.routes if "PATCH" in getattr(r, "methods", ())} == set(PATCH_ROUTES)


@pytest.mark.parametrize("route", PATCH_ROUTES)
async def test_patch_with_another_data_id_is_409_and_changes_nothing(client, patchables, route):
    case = patchables[route]

    async def current() -> Any:
        r = await client.get(case.url, headers=case.headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    before = await current()
    for other in (str(uuid.uuid4()), "not-an-id", ""):
        word = uuid.uuid4().hex[:8]
        r = await client.patch(case.url, json=doc(case.type, case.change(word), id=other), headers=case.headers)
        assert_error(r, 409, "id_mismatch", "/data/id")
        assert await current() == before

    # the same id (in any case), or none at all, is an ordinary update
    for same in (case.id, case.id.upper(), None):
        word = uuid.uuid4().hex[:8]
        r = await client.patch(case.url, json=doc(case.type, case.change(word), id=same), headers=case.headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["id"] == case.id
        after = await current()
        assert after != before and case.shows(word) in json.dumps(after), after
        before = after
