"""The wire protocol of the realtime gateway: every client and server frame as a msgspec Struct.

Client frames are a tagged union on ``op``; server frames on ``type``. Event frames are built
once per published event (see ``realtime.history``) and the same bytes go to every subscriber, so
nothing on the hot path re-encodes a frame per socket. Documented in ``docs/realtime.md``.
"""

from __future__ import annotations

from typing import Any

import msgspec

# ---- close codes ---------------------------------------------------------------------------------

CLOSE_NORMAL = 1000
CLOSE_SERVER_RESTART = 1012  # the server is draining: reconnect (elsewhere) and resume
CLOSE_TRY_AGAIN = 1013  # a backing service (the database) cannot answer now: reconnect after a pause
CLOSE_BAD_FRAME = 4400  # undecodable, unknown or oversized frame
CLOSE_UNAUTHENTICATED = 4401  # no/invalid token, or no auth frame in time
CLOSE_FORBIDDEN = 4403  # forbidden or banned
CLOSE_NOT_FOUND = 4404  # the hub or team of the URL does not exist for this token
CLOSE_SLOW_CONSUMER = 4008  # the send queue filled up: reconnect and resume with `since`
CLOSE_RATE_LIMITED = 4029  # too many sockets for this member, or too many ops per second

SUBPROTOCOL = "hubwire.v1"
BEARER_PREFIX = "bearer."


# ---- client → server -------------------------------------------------------------------------------


class _ClientFrame(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, kw_only=True):
    pass


class Subscribe(_ClientFrame, tag="subscribe"):
    channel: str
    since: int | None = None  # the last seq the client saw on this channel
    epoch: str | None = None  # the epoch that seq belongs to


class Unsubscribe(_ClientFrame, tag="unsubscribe"):
    channel: str


class Typing(_ClientFrame, tag="typing"):
    channel: str


class PresenceQuery(_ClientFrame, tag="presence"):
    channel: str | None = None  # defaults to the socket's hub


class Ping(_ClientFrame, tag="ping"):
    pass


class Auth(_ClientFrame, tag="auth"):
    token: str


ClientFrame = Subscribe | Unsubscribe | Typing | PresenceQuery | Ping | Auth
client_decoder = msgspec.json.Decoder(ClientFrame)


# ---- server → client -------------------------------------------------------------------------------


class _ServerFrame(msgspec.Struct, tag_field="type", omit_defaults=True, kw_only=True):
    pass


class Subscribed(_ServerFrame, tag="subscribed"):
    channel: str
    seq: int  # the channel's current seq: the next event carries seq + 1
    epoch: str
    recovered: bool | msgspec.UnsetType = msgspec.UNSET  # present only when `since` was sent


class EventFrame(_ServerFrame, tag="event"):
    channel: str
    seq: int
    event: str
    data: Any
    at: str


class PresenceFrame(_ServerFrame, tag="presence"):
    channel: str
    online: list[str] | msgspec.UnsetType = msgspec.UNSET  # a snapshot (answer to the `presence` op)
    joined: str | msgspec.UnsetType = msgspec.UNSET  # a contact id that came online
    left: str | msgspec.UnsetType = msgspec.UNSET  # a contact id that went offline


class TypingFrame(_ServerFrame, tag="typing"):
    channel: str
    contact_id: str


class ErrorFrame(_ServerFrame, tag="error"):
    code: str
    message: str
    channel: str | None = None


class Pong(_ServerFrame, tag="pong"):
    pass


class Closing(_ServerFrame, tag="closing"):
    code: int
    reason: str


class Unsubscribed(_ServerFrame, tag="unsubscribed"):
    channel: str


ServerFrame = Subscribed | EventFrame | PresenceFrame | TypingFrame | ErrorFrame | Pong | Closing | Unsubscribed
server_decoder = msgspec.json.Decoder(ServerFrame)
encoder = msgspec.json.Encoder()


def encode(frame: _ServerFrame) -> str:
    """One server frame as the text sent on the socket."""
    return encoder.encode(frame).decode()


def error(code: str, message: str, channel: str | None = None) -> str:
    return encode(ErrorFrame(code=code, message=message, channel=channel))


# Ephemeral frames (presence, typing) carry no seq and are never stored; a send queue that is half
# full drops them first. They are recognised by their first bytes, without decoding.
EPHEMERAL_PREFIXES = (b'{"type":"presence"', b'{"type":"typing"')
EVENT_PREFIX = b'{"type":"event"'


class StampedEvent(msgspec.Struct, kw_only=True):
    """Decoding view of an event frame (``data`` stays raw bytes)."""

    channel: str
    seq: int
    event: str
    data: msgspec.Raw
    at: str


stamped_decoder = msgspec.json.Decoder(StampedEvent)
