"""Pre-built WebSocket frames, written straight to uvicorn's transport.

The fan-out sends one event to many sockets. Through ASGI, every send frames the same text again
for each socket (str → UTF-8, a frame header, a list of chunks, a join) in uvicorn's
websockets-sansio protocol before it writes. Frames from server to client are not masked
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
goes through ASGI. tests/test_realtime_gateway.py checks that a served socket gets one and that its
frames are what clients read; a uvicorn upgrade that changes these attributes falls back to ASGI
(``direct_writer`` returns None) rather than failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover  (another uvicorn layout: everything goes through ASGI)
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

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
    transport, writable, open_ = proto.transport, proto.writable, State.OPEN

    def write(text: str) -> bool:
        if (not writable.is_set() or proto.close_sent or proto.disconnected or conn.state is not open_
                or transport.is_closing()):
            return False
        transport.write(_wire(text))
        return True

    return write


__all__ = ["direct_writer"]
