"""The browser tests' pieces: the system's Chromium driven by Playwright, real `hubwire serve`
processes (two sharing Redis when HUBWIRE_TEST_REDIS_URL is set, one otherwise: see
tests/support/realtime.py), a hub set up over HTTP with members who have display names, browser
contexts signed in as a member or as staff, a TCP proxy whose connections a test can cut, and the
folder screenshots are saved in."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.api import PASSWORD, unique_email
from tests.support.servers import ServerProcess

CHROMIUM = os.environ.get("HUBWIRE_TEST_CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium, headless, with nothing that reaches the internet.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1000, "height": 720}
PHONE = {"width": 390, "height": 780}
JSONAPI = {"Content-Type": "application/vnd.api+json"}


def chromium_path() -> str:
    path = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(path).exists():
        raise AssertionError(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set HUBWIRE_TEST_CHROMIUM)")
    return path


def doc(type_name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": type_name, "attributes": attributes}}


@dataclass
class WebCluster:
    """Instance ``a``, and ``b``: a second process on Redis, else ``a`` again (the embedded
    default); the database, Redis prefix and data folder (with the outbox) they share."""

    a: ServerProcess
    b: ServerProcess
    database_url: str
    redis_prefix: str
    data_dir: Path

    @property
    def two(self) -> bool:
        return self.a is not self.b


# ---- a hub with members, set up over HTTP ------------------------------------------------------------


@dataclass
class WebMember:
    name: str
    contact_id: str
    token: str
    email: str


@dataclass
class WebWorld:
    base: str
    staff_email: str
    staff_token: str
    team_id: str
    hub_id: str
    slug: str
    space_id: str
    members: dict[str, WebMember] = field(default_factory=dict)

    @property
    def staff(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff_token}"}

    def hub_url(self, suffix: str = "") -> str:
        return f"/api/v1/teams/{self.team_id}/hubs/{self.hub_id}{suffix}"

    async def add_member(self, name: str, *, join: bool = True) -> WebMember:
        email = unique_email(name.lower())
        async with httpx.AsyncClient(base_url=self.base, timeout=10.0) as http:
            r = await http.post(self.hub_url("/memberships"), headers={**self.staff, **JSONAPI},
                                json=doc("hub_memberships", {"email": email}))
            assert r.status_code == 201, r.text
            contact_id = r.json()["data"]["attributes"]["contact_id"]
            r = await http.post(self.hub_url("/member-tokens"), headers={**self.staff, **JSONAPI},
                                json=doc("member_tokens", {"contact_id": contact_id}))
            assert r.status_code == 201, r.text
            token = r.json()["data"]["attributes"]["access_token"]
            me = {"Authorization": f"Bearer {token}", **JSONAPI}
            r = await http.patch(f"/api/v1/hub/{self.hub_id}/me", headers=me,
                                 json=doc("members", {"profile": {"display_name": name}}))
            assert r.status_code == 200, r.text
            if join:
                r = await http.post(f"/api/v1/hub/{self.hub_id}/spaces/{self.space_id}/join", headers=me)
                assert r.status_code == 200, r.text
        member = WebMember(name, contact_id, token, email)
        self.members[name] = member
        return member

    async def member_api(self, member: WebMember, method: str, path: str, body: Any = None, *,
                         base: str | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base or self.base, timeout=10.0) as http:
            r = await http.request(method, f"/api/v1/hub/{self.hub_id}{path}", json=body,
                                   headers={"Authorization": f"Bearer {member.token}", **JSONAPI})
            assert r.status_code < 300, r.text
            return dict(r.json()) if r.content else {}


async def make_web_world(base: str, *names: str) -> WebWorld:
    """A staff user (owner of their personal team), a branded hub with an open "General" space, and
    members called ``names`` who joined it."""
    email = unique_email("webstaff")
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
        r = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
        staff = {"Authorization": f"Bearer {token}"}
        team_id = (await http.get("/api/v1/teams", headers=staff)).json()["data"][0]["id"]
        r = await http.patch(f"/api/v1/teams/{team_id}", headers={**staff, **JSONAPI},
                             json=doc("teams", {"name": "Pottery Studio"}))
        assert r.status_code == 200, r.text
        slug = f"hub-{uuid.uuid4().hex[:8]}"
        r = await http.post(f"/api/v1/teams/{team_id}/hubs", headers={**staff, **JSONAPI}, json=doc("hubs", {
            "name": "Pottery Circle", "slug": slug, "branding": {"colors": {"primary": "#0f766e", "accent": "#c2410c"}}}))
        assert r.status_code == 201, r.text
        hub_id = r.json()["data"]["id"]
        r = await http.post(f"/api/v1/teams/{team_id}/hubs/{hub_id}/spaces", headers={**staff, **JSONAPI},
                            json=doc("spaces", {"name": "General", "description": "Say hello", "is_default": True}))
        assert r.status_code == 201, r.text
        space_id = r.json()["data"]["id"]
    world = WebWorld(base, email, token, team_id, hub_id, slug, space_id)
    for name in names:
        await world.add_member(name)
    return world


# ---- browser contexts ---------------------------------------------------------------------------------


async def member_page(browser: Any, base: str, world: WebWorld, member: WebMember, *, path: str = "",
                      init_script: str = "", viewport: dict[str, int] | None = None) -> Any:
    """A page of a new browser context, signed in as ``member`` (the token the member app keeps in
    its tab's sessionStorage, put there once before the app's scripts run), at the member app."""
    context = await browser.new_context(viewport=viewport or VIEWPORT)
    key = f"hubwire.member.{world.hub_id}"
    await context.add_init_script(
        f"if (!sessionStorage.getItem('test.seeded')) {{ sessionStorage.setItem('test.seeded', '1');"
        f" sessionStorage.setItem('{key}', '{member.token}'); }}\n{init_script}")
    page = await context.new_page()
    watch(page)
    await page.goto(f"{base}/hubs/{world.slug}{path}")
    await page.locator("body[data-realtime='open']").wait_for()
    return page


async def staff_page(browser: Any, base: str, world: WebWorld, *, viewport: dict[str, int] | None = None) -> Any:
    """A page of a new browser context where the world's staff user signed in through the form."""
    context = await browser.new_context(viewport=viewport or VIEWPORT)
    page = await context.new_page()
    watch(page)
    await page.goto(base + "/")
    await page.get_by_label("Email").fill(world.staff_email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("body[data-realtime='open']").wait_for()
    return page


def watch(page: Any) -> None:
    """Fail on a script error in the page (kept on the page, checked by :func:`no_page_errors`)."""
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))


def no_page_errors(*pages: Any) -> None:
    errors = [e for p in pages for e in getattr(p, "errors", [])]
    assert not errors, errors


async def wait_for_file(folder: Path, needle: str, timeout: float = 10.0) -> str:
    """The text of the first file in ``folder`` that contains ``needle`` (an email in the outbox)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            text = path.read_text(errors="replace")
            if needle in text:
                return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"no file in {folder} mentions {needle} within {timeout}s")


# ---- a proxy whose connections can be cut ----------------------------------------------------------------


class CuttableProxy:
    """A TCP proxy from a local port to a server: ``cut()`` drops every connection through it and
    refuses new ones (a network gone), ``restore(upstream)`` lets connections through again, to the
    same server or another instance."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.down = False
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort() if self.down else dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._open -= {writer, up_writer}

    def cut(self) -> None:
        self.down = True
        for w in list(self._open):
            w.transport.abort()
        self._open.clear()

    def restore(self, upstream_port: int | None = None) -> None:
        if upstream_port is not None:
            self.upstream_port = upstream_port
        self.down = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
