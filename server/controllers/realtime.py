"""Routes: the realtime gateway's transports (see shared/DESIGN.md, "Realtime contract").

``H/ws`` (members), ``T/ws`` (staff and API keys with ``dashboard:read``), ``H/events`` (SSE),
``H/presence`` and ``T/hubs/{hub_id}/announcements``. The connection logic lives in
``realtime.gateway``; this module authenticates sockets and wires the gateway into the app.

Authentication of the WebSocket routes is done HERE, by hand: ``check_member_routes`` and
``check_team_routes`` in server/app.py only inspect HTTP handlers, so they cannot catch a socket
route that forgot to authenticate. Every socket is authenticated (token from the
``Sec-WebSocket-Protocol`` header or a first ``auth`` frame) before the gateway sees it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, WebSocket, get, post, websocket
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from domain.errors import DomainError, Forbidden, Unauthenticated
from domain.events.channels import hub_channel
from domain.hubs.announcements import announce
from domain.identity import api_keys, sessions
from domain.identity.api_keys import KEY_PREFIX
from domain.identity.members import authenticate_member
from domain.teams.service import resolve_team
from realtime import protocol as p
from realtime.access import ChannelAccess
from realtime.config import config_from_env
from realtime.gateway import Connection, Gateway
from realtime.wiring import build_gateway, drain_on_signals
from server.controllers.teams import TEAM_PATH
from server.deps import Member, TeamCtx, TeamHub, Uow, services_of
from server.errors import RAW_SEND
from server.jsonapi import jsonapi, resource_types
from server.paths import HUB_PATH, TEAM_HUB_PATH
from server.uvicorn_io import aborter, direct_writer

log = logging.getLogger("hubwire.realtime")


DASHBOARD_SCOPE = "dashboard:read"

def gateway_of(app_or_state: Any) -> Gateway:
    state = getattr(app_or_state, "state", app_or_state)
    return state.realtime  # type: ignore[no-any-return]


# ---- wiring ---------------------------------------------------------------------------------------


@asynccontextmanager
async def realtime_lifespan(app: Litestar) -> AsyncIterator[None]:
    svc = services_of(app.state)
    access = ChannelAccess(svc.uow, svc.access_cache, svc.clock)
    gateway, publisher = build_gateway(svc.broker, svc.redis, svc.settings.redis_prefix, access,
                                       config_from_env(svc.settings.realtime))
    app.state.realtime = gateway
    app.state.realtime_publisher = publisher
    svc.realtime_publish = publisher.publish  # Services.uow() now numbers and stores every event
    await gateway.start()
    restore = drain_on_signals(gateway)
    try:
        yield
    finally:
        restore()
        await gateway.stop()


LIFESPANS: list[Any] = [realtime_lifespan]


# ---- authentication ----------------------------------------------------------------------------------

_CLOSE_FOR = {"unauthenticated": p.CLOSE_UNAUTHENTICATED, "forbidden": p.CLOSE_FORBIDDEN,
              "not_found": p.CLOSE_NOT_FOUND}


def _offered(socket: WebSocket) -> tuple[bool, str | None]:
    """Whether the client speaks ``hubwire.v1``, and the token it put in the subprotocol list."""
    values = [v.strip() for v in socket.headers.get("sec-websocket-protocol", "").split(",") if v.strip()]
    token = next((v[len(p.BEARER_PREFIX):] for v in values if v.startswith(p.BEARER_PREFIX)), None)
    return p.SUBPROTOCOL in values, token or None


async def _open(socket: WebSocket, timeout: float) -> str | None:
    """Accept the socket and get its token: from the subprotocol header, or a first ``auth``
    frame within ``timeout`` seconds. None after closing it with 4401."""
    speaks, token = _offered(socket)
    await socket.accept(subprotocols=p.SUBPROTOCOL if speaks else None)
    if token is not None:
        return token
    try:
        message = await asyncio.wait_for(socket.receive(), timeout)
    except asyncio.TimeoutError:
        await _refuse(socket, p.CLOSE_UNAUTHENTICATED, "auth_timeout", "Send an auth frame first.")
        return None
    if message["type"] != "websocket.receive":
        return None
    try:
        frame = p.client_decoder.decode(message.get("text") or message.get("bytes") or b"")
    except msgspec.DecodeError:
        frame = None
    if not isinstance(frame, p.Auth):
        await _refuse(socket, p.CLOSE_UNAUTHENTICATED, "unauthenticated", "The first frame must be an auth frame.")
        return None
    return frame.token


async def _refuse(socket: WebSocket, code: int, error_code: str, message: str) -> None:
    try:
        await socket.send({"type": "websocket.send", "text": p.error(error_code, message)})
        await socket.close(code, error_code)
    except Exception:
        pass


def _connection(socket: WebSocket, kind: str) -> Connection:
    # The server's own send (kept by server.errors.edge), not the socket's wrapped one: frames on
    # an accepted socket need none of the wrappers, and this is called per frame per subscriber.
    asgi_send = socket.scope.get(RAW_SEND) or socket.send  # type: ignore[attr-defined]

    def send(text: str) -> Coroutine[Any, Any, None]:  # the ASGI send's coroutine: the gateway drives it
        return asgi_send({"type": "websocket.send", "text": text})  # type: ignore[return-value]

    async def close(code: int, reason: str) -> None:
        await socket.close(code, reason)

    write = direct_writer(asgi_send)
    global _write_path_logged
    if not _write_path_logged:  # once per process: which path the fan-out takes here
        _write_path_logged = True
        log.info("realtime: event frames are %s", "built once and written directly to each socket's transport"
                 if write is not None else "sent through the ASGI send")
    return Connection(kind=kind, send=send, close_transport=close, write=write)


_write_path_logged = False


async def _run(socket: WebSocket, gateway: Gateway, conn: Connection) -> None:
    serve: asyncio.Future[None] | None = None
    ended = conn.ended_future()  # a bare future: no third task per socket waiting on an Event
    try:
        refused = await gateway.open(conn)
        if refused is not None:  # draining, or the member's limit (their sockets on every instance)
            code = p.CLOSE_SERVER_RESTART if refused == "server_restarting" else p.CLOSE_RATE_LIMITED
            await _refuse(socket, code, refused, "Too many sockets for this member."
                          if code == p.CLOSE_RATE_LIMITED else "The server is restarting.")
            return
        serve = asyncio.ensure_future(gateway.serve(conn, socket.receive))
        # Until the peer goes away (serve returns) or the server decides to close (slow consumer,
        # ban, drain, bad frame...): a stalled peer never sends the frame that would end `serve`.
        await asyncio.wait([serve, ended], return_when=asyncio.FIRST_COMPLETED)
        if serve.done():
            serve.result()
        if conn.closing is not None and conn.writer is not None and not conn.writer.done():
            # Release channels, presence and the member's slot now; the writer gets the last
            # frames and the close out, within close_timeout (a peer that never reads again is
            # given up on, its memory bounded by the transport's own buffer).
            await gateway.detach(conn, keep_writer=True)
            await asyncio.wait([conn.writer], timeout=gateway.config.close_timeout)
    except Exception as exc:  # the peer vanished mid-frame, or the server is going away
        if not _is_disconnect(exc):
            log.exception("socket %s failed", conn.id)
    finally:
        ended.cancel()
        if serve is not None and not serve.done():
            serve.cancel()
        await gateway.detach(conn)


def _is_disconnect(exc: Exception) -> bool:
    return type(exc).__name__ in {"WebSocketDisconnect", "ClientDisconnected", "ConnectionClosed"}


@websocket(HUB_PATH + "/ws", name="hub_socket")
async def hub_socket(socket: WebSocket, hub_id: FromPath[str]) -> None:
    """A member's socket in one hub. Authenticated here, not by a dependency (see module doc)."""
    svc = services_of(socket.app.state)
    gateway = gateway_of(socket.app)
    token = await _open(socket, gateway.config.auth_timeout)
    if token is None:
        return
    try:
        if token.startswith(KEY_PREFIX):
            raise Unauthenticated("API keys cannot act as a member.", code="member_token_required")
        async with svc.uow() as uow:
            member = await authenticate_member(uow, svc.auth.tokens, token, _uuid(hub_id), svc.clock.now())
    except DomainError as exc:
        await _refuse(socket, _CLOSE_FOR.get(exc.kind, p.CLOSE_UNAUTHENTICATED), exc.code, str(exc))
        return
    conn = _connection(socket, "member")
    conn.hub_id, conn.contact_id, conn.team_id = member.hub_id, member.contact_id, member.team_id
    await _run(socket, gateway, conn)


@websocket(TEAM_PATH + "/ws", name="team_socket")
async def team_socket(socket: WebSocket, team_id: FromPath[str]) -> None:
    """A staff dashboard's socket (a staff token or an API key with ``dashboard:read``).
    Authenticated here, not by a dependency (see module doc)."""
    svc = services_of(socket.app.state)
    gateway = gateway_of(socket.app)
    token = await _open(socket, gateway.config.auth_timeout)
    if token is None:
        return
    try:
        async with svc.uow() as uow:
            if token.startswith(KEY_PREFIX):
                principal: Any = await api_keys.authenticate_api_key(uow, svc.clock, token)
            else:
                principal = await sessions.authenticate_access_token(uow, svc.auth, token)
            team = await resolve_team(uow, principal, _uuid(team_id), DASHBOARD_SCOPE)
    except DomainError as exc:
        await _refuse(socket, _CLOSE_FOR.get(exc.kind, p.CLOSE_UNAUTHENTICATED), exc.code, str(exc))
        return
    conn = _connection(socket, "staff")
    conn.team_id = team.team_id
    await _run(socket, gateway, conn)


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


# ---- Server-Sent Events ------------------------------------------------------------------------------


def parse_last_event_id(header: str | None) -> dict[str, tuple[str, int]]:
    """``<channel>:<epoch>:<seq>`` positions, comma-separated → {channel: (epoch, seq)}."""
    out: dict[str, tuple[str, int]] = {}
    for item in (header or "").split(","):
        parts = item.strip().rsplit(":", 2)
        if len(parts) == 3 and parts[2].isdigit():
            out[parts[0]] = (parts[1], int(parts[2]))
    return out


_stamped = msgspec.json.Decoder(p.StampedEvent)


@get(HUB_PATH + "/events", opt={"access": "view"}, media_type="text/event-stream",
     summary="Server-Sent Events: `?channels=hub:ID,contact:ID`, resume with `Last-Event-ID`")
async def hub_events(request: Request[Any, Any, Any], member: Member, state: State,
                     channels: FromQuery[str | None] = None) -> Stream:
    gateway = gateway_of(state)
    out: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue(maxsize=1)
    positions: dict[str, tuple[str, int]] = {}

    async def send(text: str) -> None:
        await out.put((text, None))

    abort = aborter(request.scope.get(RAW_SEND))

    async def close(code: int, reason: str) -> None:
        while not out.empty():  # a stalled stream: what is still waiting is dropped (resume with the id)
            out.get_nowait()
        out.put_nowait(("", f"{code}"))
        if conn.stalled and abort is not None:
            # The stream is stuck in a send only the client could complete (it stopped reading):
            # drop the connection, so that send returns and the stream ends now (server/uvicorn_io.py).
            abort()

    conn = Connection(kind="member", send=send, close_transport=close, hub_id=member.hub_id,
                      contact_id=member.contact_id, team_id=member.team_id)
    resume = parse_last_event_id(request.headers.get("last-event-id"))
    wanted = [c.strip() for c in (channels or hub_channel(member.hub_id)).split(",") if c.strip()]

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            refused = await gateway.open(conn)
            if refused is not None:
                yield f"event: error\ndata: {p.error(refused, 'Too many connections.')}\n\n".encode()
                return
            for name in wanted:
                since = resume.get(name)
                await gateway.subscribe(conn, name, since[1] if since else None, since[0] if since else None)
            yield b"retry: 2000\n\n"
            while True:
                text, closed = await out.get()
                if closed is not None:
                    return
                if text.startswith('{"type":"event"'):
                    ev = _stamped.decode(text)
                    positions[ev.channel] = (conn.channels.get(ev.channel, ""), ev.seq)
                    ids = ",".join(f"{c}:{e}:{s}" for c, (e, s) in positions.items())
                    yield f"id: {ids}\nevent: event\ndata: {text}\n\n".encode()
                else:
                    kind = msgspec.json.decode(text).get("type", "message")
                    if kind == "subscribed":  # carries an id too: resume works before any event
                        sub = msgspec.json.decode(text)
                        positions[sub["channel"]] = (sub["epoch"], sub["seq"])
                        ids = ",".join(f"{c}:{e}:{s}" for c, (e, s) in positions.items())
                        yield f"id: {ids}\nevent: subscribed\ndata: {text}\n\n".encode()
                        continue
                    yield f"event: {kind}\ndata: {text}\n\n".encode()
        finally:
            await gateway.detach(conn)

    return Stream(events(), media_type="text/event-stream",
                  headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ---- presence and announcements -----------------------------------------------------------------------


class PresenceAttributes(msgspec.Struct):
    hub_id: str
    online: list[str]
    count: int


PRESENCE = resource_types("hub_presence", PresenceAttributes)


@get(HUB_PATH + "/presence", opt={"access": "view"}, summary="Who is online in the hub now (contact ids)")
async def hub_presence(member: Member, state: State) -> Response[PRESENCE.Document]:  # type: ignore[name-defined]
    online = await gateway_of(state).presence.online(str(member.hub_id))
    return jsonapi(PRESENCE.document(member.hub_id, PresenceAttributes(str(member.hub_id), online, len(online))))


class AnnouncementAttributes(msgspec.Struct):
    hub_id: str
    title: str
    body: str
    created_at: datetime


class AnnouncementCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    body: str


ANNOUNCEMENTS = resource_types("announcements", AnnouncementAttributes, AnnouncementCreate)


@post(TEAM_HUB_PATH + "/announcements", opt={"scope": "hubs:write"}, tags=["realtime"],
      summary="Announce to a hub: `announcement.created` on `hub:{hub_id}` (after commit)")
async def create_announcement(data: JSONBody[ANNOUNCEMENTS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                              hub: TeamHub, state: State,
                              uow: Uow) -> Response[ANNOUNCEMENTS.Document]:  # type: ignore[name-defined]
    a = data.data.attributes
    ev = announce(uow, services_of(state).clock, hub, title=a.title, body=a.body)
    return jsonapi(ANNOUNCEMENTS.document(ev.id, AnnouncementAttributes(ev.hub_id, ev.title, ev.body, ev.created_at)),
                   201)


ROUTES: list[Any] = [hub_socket, team_socket, hub_events, hub_presence, create_announcement]

__all__ = ["LIFESPANS", "ROUTES", "Forbidden"]
