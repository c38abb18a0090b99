"""The web app's pages and static files, without a browser: every page carries the strict
Content-Security-Policy and friends, pages are never cached, static files are immutable under
their versioned URL and revalidated otherwise, unknown hubs and files are 404s, the app refuses to
start with a page that does not declare its kind, and one-time tokens stay out of the access log."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from litestar import Litestar, get

from server.app import check_page_routes
from server.deps import DEPENDENCIES
from server.web.logs import RedactTokens
from server.web.routes import CONTENT_SECURITY_POLICY, WEB
from tests.support.api import register
from tests.support.hubs import new_hub

STRICT = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


def assert_strict(r: Any) -> None:
    for name, value in STRICT.items():
        assert r.headers.get(name) == value, (name, r.headers.get(name))
    csp = r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "default-src 'none'" in csp


def no_inline_code(html: str) -> None:
    """No inline script or style: every <script> has a src, no style attribute or <style>."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), html
    assert "<style" not in html and " style=" not in html and "javascript:" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


async def hub_slug(client: Any) -> str:
    staff = await register(client, "web")
    hub = await new_hub(client, staff)
    r = await client.get(f"/api/v1/teams/{staff.team_id}/hubs/{hub.id}", headers=staff.headers)
    return str(r.json()["data"]["attributes"]["slug"])


async def test_the_staff_page_is_a_strict_uncached_shell(client):
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert_strict(r)
    no_inline_code(r.text)
    assert re.search(r'<script type="module" src="/static/v/[0-9a-f]{12}/staff.js">', r.text)
    assert re.search(r'<link rel="stylesheet" href="/static/v/[0-9a-f]{12}/app.css">', r.text)


async def test_a_hub_page_and_its_login_page(client):
    slug = await hub_slug(client)
    for path in (f"/hubs/{slug}", f"/hubs/{slug}/login?token=hw_ml_whatever"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store"
        assert_strict(r)
        no_inline_code(r.text)
        assert f'data-slug="{slug}"' in r.text
        assert "member.js" in r.text
        assert "hw_ml_whatever" not in r.text  # the token is never echoed into the page


@pytest.mark.parametrize("path", ["/hubs/no-such-hub", "/hubs/NOT_A_SLUG", "/hubs/no-such-hub/login?token=x"])
async def test_a_hub_that_does_not_exist_is_a_404_page(client, path):
    r = await client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert_strict(r)
    assert "No hub here" in r.text


async def test_a_deleted_hub_is_a_404_page(client):
    staff = await register(client, "web")
    hub = await new_hub(client, staff)
    slug = (await client.get(f"/api/v1/teams/{staff.team_id}/hubs/{hub.id}", headers=staff.headers)).json()["data"]["attributes"]["slug"]
    assert (await client.delete(f"/api/v1/teams/{staff.team_id}/hubs/{hub.id}", headers=staff.headers)).status_code == 204
    assert (await client.get(f"/hubs/{slug}")).status_code == 404


async def test_static_files_are_immutable_under_their_version(client):
    page = (await client.get("/")).text
    url = re.search(r'src="(/static/v/[0-9a-f]{12}/staff.js)"', page).group(1)  # type: ignore[union-attr]
    r = await client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["x-content-type-options"] == "nosniff"
    etag = r.headers["etag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    css = await client.get(url.replace("staff.js", "app.css"))
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_unversioned_and_stale_static_urls_are_revalidated(client):
    for url in ("/static/hubwire-realtime.js", "/static/v/000000000000/hubwire-realtime.js"):
        r = await client.get(url)
        assert r.status_code == 200, url
        assert r.headers["cache-control"] == "no-cache", url
        assert "export class HubwireRealtime" in r.text


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/v/abc/nope.js", "/static/../server/app.py",
                                  "/static/%2e%2e/server/app.py", "/static/v/x/y/app.css", "/static/"])
async def test_unknown_static_files_are_404(client, path):
    r = await client.get(path)
    assert r.status_code == 404, path


async def test_pages_stay_out_of_the_openapi_document(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/") and p not in ("/health", "/ready", "/metrics")]  # the ops routes


def test_the_app_refuses_a_page_without_a_kind():
    @get("/somewhere", include_in_schema=False)
    async def page() -> str:
        return "hi"

    with pytest.raises(RuntimeError, match="declares no kind"):
        check_page_routes(Litestar(route_handlers=[page]))


def test_the_app_refuses_a_page_outside_the_web_router():
    @get("/somewhere", opt={"page": "staff"}, include_in_schema=False)
    async def page() -> str:
        return "hi"

    with pytest.raises(RuntimeError, match="lacks the web app's headers"):
        check_page_routes(Litestar(route_handlers=[page]))


def test_the_app_refuses_a_page_in_the_openapi_document():
    @get("/somewhere", opt={"page": "staff"})
    async def page() -> str:
        return "hi"

    with pytest.raises(RuntimeError, match="OpenAPI"):
        check_page_routes(Litestar(route_handlers=[page]))


def test_the_web_router_passes_the_check():
    check_page_routes(Litestar(route_handlers=[WEB], dependencies=DEPENDENCIES))


def test_magic_link_tokens_never_reach_the_access_log():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/hubs/demo/login?token=hw_ml_secret&x=1", "1.1", 200), None)
    assert RedactTokens().filter(record)
    assert "hw_ml_secret" not in record.getMessage()
    assert "/hubs/demo/login?token=[redacted]&x=1" in record.getMessage()
