"""Routes: the built-in web app's pages and static files (docs/api.md#web-app).

| path | kind | what |
| --- | --- | --- |
| ``/`` | ``staff`` | staff sign-in, then the team dashboard and the moderator console |
| ``/hubs/{slug}`` | ``member`` | the hub's member app (sign-in by magic link, then the community) |
| ``/hubs/{slug}/login?token=…`` | ``member`` | where a magic link lands; the page trades the token and drops it from the address bar |
| ``/static/…`` | ``asset`` | the app's ES modules and CSS (``assets.py``: versioned URLs, long cache) |

Every page is a shell: the ES modules do the rest over the public REST API and the realtime
protocol, with the caller's bearer token in headers (never a cookie, so no request the browser
sends on its own carries a credential: nothing to forge). Each route declares its ``kind``
(``opt={"page": ...}``) and lives in ``WEB``, the router that adds the security headers; the app
refuses to start otherwise (``check_page_routes`` in server/app.py). Pages are left out of the
OpenAPI document, which describes the API.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader, State
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from domain.hubs.directory import find_public_hubs
from server.deps import Context
from server.web.assets import Assets

PAGE_KINDS = frozenset({"staff", "member", "asset"})

# No inline script or style anywhere (the modules set CSS custom properties through the CSSOM,
# which a policy does not govern); connections only to this origin ('self' covers ws:/wss: of it).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: https:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
    # A magic link's token is in the login page's URL until the page replaces it: never send it on.
    ResponseHeader(name="Referrer-Policy", value="no-referrer"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="Cross-Origin-Opener-Policy", value="same-origin"),
    ResponseHeader(name="Permissions-Policy", value="camera=(), microphone=(), geolocation=(), payment=()"),
]
PAGE_CACHE = "no-store"  # shells are tiny, and the login page's URL holds a one-time token
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")

TEMPLATES = TemplateConfig(directory=Path(__file__).parent / "templates", engine=JinjaTemplateEngine)


def assets_of(state: State) -> Assets:
    return state.assets  # type: ignore[no-any-return]


def _page(state: State, template: str, status: int = 200, **context: Any) -> Template:
    return Template(template_name=template, status_code=status, headers={"Cache-Control": PAGE_CACHE},
                    context={"static": assets_of(state).base, **context})


@get("/", opt={"page": "staff"}, name="web_staff")
async def staff_app(state: State) -> Template:
    """The staff app: sign-in, dashboard, hubs and members, moderator console."""
    return _page(state, "staff.html", title="Hubwire")


async def _member_page(state: State, ctx: Any, slug: str) -> Template:
    hubs = await find_public_hubs(ctx, slug=slug) if _SLUG.match(slug) else []
    if not hubs:
        return _page(state, "not_found.html", 404, title="No hub here")
    title = hubs[0].name if len(hubs) == 1 else "Sign in"
    return _page(state, "member.html", title=title, slug=slug)


@get("/hubs/{slug:str}", opt={"page": "member"}, name="web_member")
async def member_app(slug: FromPath[str], state: State, ctx: Context) -> Template:
    """A hub's member app (404 page for a slug no live hub has)."""
    return await _member_page(state, ctx, slug)


@get("/hubs/{slug:str}/login", opt={"page": "member"}, name="web_member_login")
async def member_login(slug: FromPath[str], state: State, ctx: Context) -> Template:
    """Where a magic link lands: the member app, which trades ``?token=`` for a member token and
    replaces the address with ``/hubs/{slug}`` before anything else."""
    return await _member_page(state, ctx, slug)


@get("/static/{name:path}", opt={"page": "asset"}, name="web_static")
async def static_file(name: FromPath[str], request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """``/static/v/<version>/<file>`` (immutable) or ``/static/<file>`` (revalidated). A version
    that is not the current one is served the current file, revalidated: a page from an instance
    still on the previous release keeps working, and nothing stale is cached for a year."""
    assets = assets_of(state)
    parts = name.lstrip("/").split("/")
    cache = REVALIDATE
    if len(parts) == 3 and parts[0] == "v":
        cache = IMMUTABLE if parts[1] == assets.version else REVALIDATE
        parts = parts[2:]
    asset = assets.files.get(parts[0]) if len(parts) == 1 else None
    if asset is None:
        return Response(b"Not found\n", status_code=404, media_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": REVALIDATE})
    headers = {"Cache-Control": cache, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


WEB = Router(path="/", route_handlers=[staff_app, member_app, member_login, static_file],
             response_headers=SECURITY_HEADERS, include_in_schema=False)
ROUTES: list[Any] = [WEB]
