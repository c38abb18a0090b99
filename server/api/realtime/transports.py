"""How the realtime routes speak WebSocket and Server-Sent Events to the gateway.

WebSocket: the token comes from the ``Sec-WebSocket-Protocol`` header (``hubwire.v1,
bearer.<token>``) or a first ``auth`` frame, never the URL; the ``Connection`` sends through the
server's own ASGI send (and, under uvicorn, writes pre-built frames straight to the transport:
server/uvicorn_io.py); ``run_socket`` serves the socket until the peer or the server ends it.
SSE: the same gateway, its frames written as ``event:`` blocks whose ``id:`` lists every channel's
``<channel>:<epoch>:<seq>``, so a reconnect with ``Last-Event-ID`` resumes each channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Coroutine
from typing import Any

import msgspec
from litestar import Request, WebSocket
from litestar.response import Stream
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from domain.events.channels import hub_channel
from domain.identity.members import MemberPrincipal
from realtime import protocol as p
from realtime.connection import Connection
from realtime.gateway import Gateway
from server.errors import RAW_SEND
from server.metrics import SSE_STREAMS
from server.uvicorn_io import aborter, bound_send_buffer, direct_writer, release_handshake

log = logging.getLogger("hubwire.realtime")

# The close code for a socket whose authentication failed, by the error's kind.
CLOSE_FOR = {"unauthenticated": p.CLOSE_UNAUTHENTICATED, "forbidden": p.CLOSE_FORBIDDEN,
             "not_found": p.CLOSE_NOT_FOUND}


def gateway_of(app_or_state: Any) -> Gateway:
    """The app's gateway (set by the realtime lifespan)."""
    state = getattr(app_or_state, "state", app_or_state)
    return state.realtime  # type: ignore[no-any-return]


# ---- WebSocket ----------------------------------------------------------------------------------------


def _offered(socket: WebSocket) -> tuple[bool, str | None]:
    """Whether the client speaks ``hubwire.v1``, and the token it put in the subprotocol list.
    Read from the scope's ``subprotocols`` (ASGI): some servers (uvicorn's wsproto) leave the
    ``Sec-WebSocket-Protocol`` header out of the scope's headers."""
    values = [v.strip() for v in socket.scope.get("subprotocols") or () if v.strip()]
    if not values:
        values = [v.strip() for v in socket.headers.get("sec-websocket-protocol", "").split(",") if v.strip()]
    token = next((v[len(p.BEARER_PREFIX):] for v in values if v.startswith(p.BEARER_PREFIX)), None)
    return p.SUBPROTOCOL in values, token or None


async def open_socket(socket: WebSocket, timeout: float) -> str | None:
    """Accept the socket and get its token: from the subprotocol header, or a first ``auth``
    frame within ``timeout`` seconds. None after closing it with 4401."""
    speaks, token = _offered(socket)
    await socket.accept(subprotocols=p.SUBPROTOCOL if speaks else None)
    if token is not None:
        return token
    try:
        message = await asyncio.wait_for(socket.receive(), timeout)
    except asyncio.TimeoutError:
        await refuse(socket, p.CLOSE_UNAUTHENTICATED, "auth_timeout", "Send an auth frame first.")
        return None
    if message["type"] != "websocket.receive":
        return None
    try:
        frame = p.client_decoder.decode(message.get("text") or message.get("bytes") or b"")
    except msgspec.DecodeError:
        frame = None
    if not isinstance(frame, p.Auth):
        await refuse(socket, p.CLOSE_UNAUTHENTICATED, "unauthenticated", "The first frame must be an auth frame.")
        return None
    return frame.token


async def refuse(socket: WebSocket, code: int, error_code: str, message: str) -> None:
    """An ``error`` frame, then close with ``code`` (a peer already gone is no error)."""
    try:
        await socket.send({"type": "websocket.send", "text": p.error(error_code, message)})
        await socket.close(code, error_code)
    except Exception:
        pass


async def refuse_unavailable(socket: WebSocket, exc: Exception) -> None:
    """The database could not check the socket's token (it is down or restarting): ``error
    service_unavailable`` and close 1013, "try again later" (docs/realtime.md); one log line."""
    log.warning("socket refused, database unavailable: %s: %s", type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "")
    await refuse(socket, p.CLOSE_TRY_AGAIN, "service_unavailable", "Try again shortly.")


def socket_connection(socket: WebSocket, kind: str, send_buffer: int = 0) -> Connection:
    """The gateway's ``Connection`` for an accepted, authenticated socket; ``send_buffer``: cap
    the kernel's send buffer of its TCP socket (bytes; 0 leaves it to the OS)."""
    # The server's own send (kept by server.errors.edge), not the socket's wrapped one: frames on
    # an accepted socket need none of the wrappers, and this is called per frame per subscriber.
    asgi_send = socket.scope.get(RAW_SEND) or socket.send  # type: ignore[attr-defined]

    def send(text: str) -> Coroutine[Any, Any, None]:  # the ASGI send's coroutine: the gateway drives it
        return asgi_send({"type": "websocket.send", "text": text})  # type: ignore[return-value]

    async def close(code: int, reason: str) -> None:
        await socket.close(code, reason)

    write = direct_writer(asgi_send)
    if send_buffer:
        bound_send_buffer(asgi_send, send_buffer)
    # Authenticated: the handshake's headers and offered subprotocols (the token among them) are
    # not read again (uvicorn's copies, the scope's lists and Litestar's parsed Headers) — a few KB
    # per idle socket (bench/README.md, memory).
    release_handshake(asgi_send)
    socket.scope["headers"] = []
    socket.scope["subprotocols"] = []
    state = ScopeState.from_scope(socket.scope)
    state.headers = Empty
    if isinstance(state.exception_handlers, dict):
        state.exception_handlers = _shared_handlers(state.exception_handlers)
    global _write_path_logged
    if not _write_path_logged:  # once per process: which path the fan-out takes here
        _write_path_logged = True
        log.info("realtime: event frames are %s", "built once and written directly to each socket's transport"
                 if write is not None else "sent through the ASGI send")
    return Connection(kind=kind, send=send, close_transport=close, write=write,
                      write_many=getattr(write, "many", None))


_write_path_logged = False
_HANDLERS: dict[tuple[Any, ...], dict[Any, Any]] = {}


def _shared_handlers(handlers: dict[Any, Any]) -> dict[Any, Any]:
    """One dict for every socket with the same exception handlers: Litestar resolves the route's
    handlers into a new dict per connection (~0.6 KB, kept in the scope for the socket's life)."""
    try:
        return _HANDLERS.setdefault(tuple(handlers.items()), handlers)
    except TypeError:  # an unhashable handler: this socket keeps its own
        return handlers

# gateway.open's refusals other than too_many_sockets: the close code and the error frame's message
_REFUSALS = {
    "server_restarting": (p.CLOSE_SERVER_RESTART, "The server is restarting."),
    "overloaded": (p.CLOSE_TRY_AGAIN, "This server is overloaded; try again shortly (another one)."),
}


async def run_socket(socket: WebSocket, gateway: Gateway, conn: Connection) -> None:
    """Open ``conn`` in the gateway and serve it until the peer goes away or the server closes
    it; then release everything it held. The client's frames are read in this task (uvicorn's
    handler task: no second task per socket); a server-side close (slow consumer, ban, drain, bad
    frame...) interrupts that read, since a stalled peer never sends the frame that would end it."""
    task = asyncio.current_task()
    assert task is not None
    ended = conn.ended_future()  # a bare future: no task per socket waiting on an Event
    reading = interrupted = False

    def interrupt(_: asyncio.Future[None]) -> None:
        nonlocal interrupted
        if reading and not ended.cancelled():
            interrupted = True
            task.cancel()

    ended.add_done_callback(interrupt)
    try:
        refused = await gateway.open(conn)
        if refused is not None:  # draining, or the member's limit (their sockets on every instance)
            code, message = _REFUSALS.get(refused, (p.CLOSE_RATE_LIMITED, "Too many sockets for this member."))
            await refuse(socket, code, refused, message)
            return
        reading = True
        try:
            if not conn.ended:
                await gateway.serve(conn, socket.receive)
        except asyncio.CancelledError:
            if not interrupted:  # the server is going away: not ours to swallow
                raise
            task.uncancel()
        finally:
            reading = False
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
        ended.remove_done_callback(interrupt)
        ended.cancel()
        await gateway.detach(conn)


def _is_disconnect(exc: Exception) -> bool:
    return type(exc).__name__ in {"WebSocketDisconnect", "ClientDisconnected", "ConnectionClosed"}


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


def event_stream(request: Request[Any, Any, Any], gateway: Gateway, member: MemberPrincipal,
                 channels: str | None) -> Stream:
    """The member's SSE stream of ``channels`` (comma-separated; their hub's channel by default),
    resumed from the request's ``Last-Event-ID``."""
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
        SSE_STREAMS["open"] += 1  # the metrics' count of open streams (server/metrics.py)
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
            SSE_STREAMS["open"] -= 1
            await gateway.detach(conn)

    return Stream(events(), media_type="text/event-stream",
                  headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
