"""What the realtime transports reach for below ASGI, in uvicorn, when (and only when) it is there.

Two things ASGI cannot express, each feature-detected on the server's own ``send`` (kept in the
scope by ``server.errors.edge``), each falling back to plain ASGI behaviour with any other server:

* ``direct_writer`` — pre-built WebSocket frames written straight to the transport (its ``many``
  attribute writes several queued frames in one write: coalescing for a socket that was behind).
* ``aborter`` — dropping an HTTP connection at once (an SSE stream whose client stopped reading).

Pre-built frames. The fan-out sends one event to many sockets. Through ASGI, every send frames the
same text again for each socket (str → UTF-8, a frame header, a list of chunks, a join) in
uvicorn's websockets-sansio protocol before it writes. Frames from server to client are not masked
(RFC 6455 §5.1), so without extensions a text frame's bytes are the same for every socket: the
frame is built once per event (``_wire``, which remembers the last text it framed — the fan-out
hands the same ``str`` object to every subscriber) and written to each socket's transport.

``direct_writer`` is used only with uvicorn's websockets-sansio protocol (``ws="auto"`` with the
``websockets`` package installed, what ``hubwire serve`` runs) and only for sockets without
extensions (``hubwire serve`` declines permessage-deflate). Each write checks what uvicorn's own
send checks before writing a frame — the transport is writable (not paused: no waiting), the
socket is open and no close frame was sent — and otherwise returns False, so the caller falls back
to the ASGI send, which waits, raises or closes as usual. Any other server or protocol (wsproto,
uvicorn's legacy websockets implementation, the test client) gets no direct writer and everything
goes through ASGI. tests/realtime/test_uvicorn_io.py checks it against a real uvicorn server, and
the drain test in tests/realtime/test_realtime_gateway.py that ``hubwire serve`` uses it; a uvicorn
upgrade that changes these attributes falls back to ASGI (``direct_writer`` returns None) rather
than failing.

Lighter idle sockets. ``release_handshake`` drops, once a socket is authenticated, what uvicorn and
websockets keep for the connection's life without needing it again: the upgrade's request and
response, the request still referenced by websockets' parser coroutine (its first stage parsed the
handshake; it is replaced by a fresh frame parser when it sits between frames), uvicorn's receive
queue (an ``asyncio.Queue``: four deques and an Event, ~3 KB, for the few messages a socket
receives) and its ``writable`` Event (a deque of waiters) — each replaced by an object with the same
methods, the ones uvicorn calls (``_Inbox``, ``_Writable``). The libraries themselves are not
changed; a uvicorn or websockets whose attributes differ is left as it is (nothing released).
bench/README.md ("Memory per idle socket") has the figures.

Aborting. An SSE response whose client stopped reading leaves its stream blocked in an ASGI send
that only the client can complete; ASGI has no way for the app to end such a response. When the
gateway gives up on the stream (the send watchdog, close 4008), ``aborter``'s function drops the
TCP connection (``transport.abort()``: what is buffered is discarded, not flushed), uvicorn sees
the connection lost, the blocked send returns and the stream ends. Without it (another server),
the stream ends whenever the client reads again or the connection times out; the gateway has
released the socket's channels and presence either way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover  (another uvicorn layout: everything goes through ASGI)
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

_HTTP_CYCLES: tuple[type, ...] = ()
for _module in ("uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.http.h11_impl"):
    try:
        _HTTP_CYCLES += (__import__(_module, fromlist=["RequestResponseCycle"]).RequestResponseCycle,)
    except (ImportError, AttributeError):  # pragma: no cover  (httptools not installed, another layout)
        pass

_ATTRIBUTES = ("conn", "transport", "writable", "close_sent", "disconnected")

# The last text framed and its frame. One tuple, replaced whole: reading it never sees a text
# paired with another text's frame. Holding the text keeps it alive, so `is` cannot be fooled by
# a new str at a reused address.
_last: tuple[str, bytes] = ("", Frame(Opcode.TEXT, b"").serialize(mask=False))


def _wire(text: str) -> bytes:
    last = _last
    if last[0] is text:
        return last[1]
    return _frame(text)


def _frame(text: str) -> bytes:
    global _last
    wire = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
    _last = (text, wire)
    return wire


def direct_writer(send: Any) -> Callable[[str], bool] | None:
    """For the server's own ASGI ``send`` of an accepted WebSocket: a function writing a text
    frame straight to the transport when that cannot wait (True), else False. None when ``send``
    is not uvicorn's websockets-sansio protocol or the socket negotiated extensions."""
    proto = getattr(send, "__self__", None)
    if WebSocketsSansIOProtocol is None or not isinstance(proto, WebSocketsSansIOProtocol):
        return None
    if not all(hasattr(proto, name) for name in _ATTRIBUTES):
        return None
    conn = proto.conn
    if conn.extensions or not getattr(proto, "handshake_complete", False):
        return None
    transport, open_ = proto.transport, State.OPEN

    # (``proto.writable`` is read at each write: release_handshake may replace it, before or after)
    def write(text: str) -> bool:
        if (not proto.writable.is_set() or proto.close_sent or proto.disconnected or conn.state is not open_
                or transport.is_closing()):
            return False
        transport.write(_wire(text))
        return True

    def write_many(texts: list[str]) -> bool:
        """Several frames in one transport write (what queued while the socket was behind)."""
        if (not proto.writable.is_set() or proto.close_sent or proto.disconnected or conn.state is not open_
                or transport.is_closing()):
            return False
        last_text, last_wire = _last
        transport.write(b"".join([last_wire if text is last_text else
                                  Frame(Opcode.TEXT, text.encode()).serialize(mask=False) for text in texts]))
        return True

    write.many = write_many  # type: ignore[attr-defined]
    return write


def release_handshake(send: Any) -> bool:
    """Drop what uvicorn keeps of an accepted WebSocket's handshake for the socket's life — the
    request and the response with their parsed headers (a few KB per idle socket) — once it can no
    longer use them (after the accept: it reads them only to answer the upgrade); and replace its
    receive queue, its ``writable`` Event and websockets' parser by lighter equivalents (see the
    module's docstring; each only where the attributes are as expected). True when the handshake
    was dropped."""
    proto = getattr(send, "__self__", None)
    if WebSocketsSansIOProtocol is None or not isinstance(proto, WebSocketsSansIOProtocol):
        return False
    if not getattr(proto, "handshake_complete", False) or not hasattr(proto, "request"):
        return False
    proto.request = None
    proto.response = None
    _fresh_parser(proto.conn)
    # Each replaced only while nobody waits on it (a reader or a send waiting would be left behind).
    queue = getattr(proto, "queue", None)
    if type(queue) is asyncio.Queue and queue.maxsize <= 0 and getattr(queue, "_getters", None) == deque():
        inbox = _Inbox()
        while not queue.empty():  # (what arrived already, in order)
            inbox.put_nowait(queue.get_nowait())
        proto.queue = inbox
    writable = getattr(proto, "writable", None)
    if type(writable) is asyncio.Event and getattr(writable, "_waiters", None) == deque():
        proto.writable = _Writable(writable.is_set())
    return True


_SERVER_PARSE = getattr(ServerProtocol.parse, "__code__", None)
_PARSE = getattr(Protocol.parse, "__code__", None)
_AT_EOF = getattr(StreamReader.at_eof, "__code__", None)


def _fresh_parser(conn: Any) -> bool:
    """websockets' ``ServerProtocol.parse`` parses the handshake, then runs ``Protocol.parse`` (the
    frames) for the connection's life — keeping the parsed ``Request`` (and its headers) in its
    frame all along. Between two frames (the frame parser waiting for data, nothing buffered) the
    same frame parser is started afresh on its own, and the request is let go. True when done."""
    parser = getattr(conn, "parser", None)
    inner = getattr(parser, "gi_yieldfrom", None)
    innermost = getattr(inner, "gi_yieldfrom", None)
    if (getattr(parser, "gi_code", None) is not _SERVER_PARSE or getattr(inner, "gi_code", None) is not _PARSE
            or getattr(innermost, "gi_code", None) is not _AT_EOF or conn.reader.buffer or conn.reader.eof
            or conn.state is not State.OPEN):
        return False
    fresh = Protocol.parse(conn)
    next(fresh)  # runs to the same place: waiting for the next frame's first bytes
    conn.parser = fresh
    parser.close()
    return True


class _Inbox:
    """In place of uvicorn's receive ``asyncio.Queue`` (unbounded; one reader: the app's task):
    ``put_nowait``, ``get`` (awaitable), ``get_nowait``, ``empty`` and ``qsize``, in order. A list
    only while messages wait, a future only while the reader waits."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._waiter: asyncio.Future[Any] | None = None

    def put_nowait(self, item: Any) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # (cancelled: the reader gave up; the item waits for the next get)
                waiter.set_result(item)
                return
        if self._items is None:
            self._items = []
        self._items.append(item)

    def get(self) -> asyncio.Future[Any]:
        """A future of the next item (``await inbox.get()``, as with a queue)."""
        fut = asyncio.get_running_loop().create_future()
        if self._items:
            fut.set_result(self.get_nowait())
        elif self._waiter is not None and not self._waiter.done():
            raise RuntimeError("a second reader of one WebSocket's messages")
        else:
            self._waiter = fut
        return fut

    def get_nowait(self) -> Any:
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.pop(0)
        if not items:
            self._items = None
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items or ())


class _Ready:
    """Awaiting it completes at once (``_Writable.wait`` while writable: no coroutine, no future)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, bool]:
        return True
        yield  # (a generator: awaiting it returns True without suspending)


_READY = _Ready()


class _Writable:
    """In place of uvicorn's ``writable`` ``asyncio.Event`` (set while the transport accepts data):
    ``is_set``, ``set``, ``clear`` and ``wait``. A list of waiters only while sends wait."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, is_set: bool) -> None:
        self._set = is_set
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(True)

    def clear(self) -> None:
        self._set = False

    def wait(self) -> Any:
        """Awaitable: at once while set, else once ``set`` is called."""
        if self._set:
            return _READY
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiters = [w for w in self._waiters or () if not w.done()]  # (drop the cancelled ones)
        waiters.append(fut)
        self._waiters = waiters
        return fut


def bound_send_buffer(send: Any, size: int) -> bool:
    """Cap the kernel's send buffer of an accepted WebSocket's TCP socket at ``size`` bytes (Linux
    doubles it for bookkeeping), instead of letting it grow with autotuning to megabytes: what a
    client has not read then backs up into the gateway's bounded queue (4008 when full) within a
    bounded time, not in the kernel. True when set (uvicorn's protocols; False elsewhere)."""
    import socket

    proto = getattr(send, "__self__", None)
    transport = getattr(proto, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or size <= 0:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    except OSError:
        return False
    return True


def aborter(send: Any) -> Callable[[], None] | None:
    """For the server's own ASGI ``send`` of an HTTP request: a function dropping the connection at
    once. None unless ``send`` is uvicorn's (httptools or h11) request cycle with a transport."""
    cycle = getattr(send, "__self__", None)
    if not _HTTP_CYCLES or not isinstance(cycle, _HTTP_CYCLES):
        return None
    transport = getattr(cycle, "transport", None)
    abort = getattr(transport, "abort", None)
    return abort if callable(abort) else None


__all__ = ["aborter", "bound_send_buffer", "direct_writer", "release_handshake"]
