"""The gateway: sockets, their channel subscriptions, fan-out, resume, limits, revocation, drain.

Built on ``realtime.broker`` rather than Litestar's channels plugin, because the plugin keeps
per-channel bookkeeping for every dynamic channel name it ever saw, its Redis subscriber loop does
not reconnect, and subscribe/unsubscribe can race with delivery. Here:

* one broker subscription per channel per instance, reference-counted (``Feed``); when the last
  local socket leaves, the broker subscription and every trace of the channel go away;
* the broker reader reconnects and resubscribes (``RedisBroker``) and then calls ``resync``: every
  feed is caught up from history before the next message (duplicates dropped by seq), or, when
  the channel's epoch changed (Redis restarted), its subscribers get ``subscribed`` with
  ``recovered: false``; a feed that still sees a seq gap fills it from history;
* subscribing buffers live frames while history is read, then drains the buffer skipping what the
  replay already sent: no gap, no duplicate.

Each event frame is encoded once (by ``RealtimePublisher``, or here for raw events as a fallback)
and the same ``str`` goes to every subscriber. A socket that is keeping up is sent to directly, in
the fan-out loop: its send is driven in place (``Connection.enqueue``), which completes at once
while the transport accepts data — no queue, no task switch per subscriber. Only a socket that is
behind (its transport paused writing, or frames already waiting) goes through its bounded send
queue, drained by its writer task. A full queue, or a send blocked for ``send_timeout`` (the
watchdog), disconnects the socket with 4008 and releases what it holds at once — a slow consumer
never grows memory.

The gateway knows nothing of HTTP: the transport (``server/controllers/realtime.py``) authenticates
the socket, builds a ``Connection`` around its send/close functions and calls ``serve``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import types
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from realtime import protocol as p
from realtime.channels import (
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    TYPING_KINDS,
    Channel,
    Refusal,
    member_static_rule,
    parse_channel,
)
from realtime.history import History, dedup_key, frame_parts
from realtime.presence import Presence

log = logging.getLogger("hubwire.realtime")

INVALIDATE_CHANNEL = "access:invalidate"


@dataclass
class GatewayConfig:
    """Limits; every one is documented in docs/realtime.md."""

    auth_timeout: float = 5.0
    max_sockets_per_member: int = 5
    max_subscriptions: int = 100
    max_frame_bytes: int = 16 * 1024
    ops_per_second: int = 20
    send_queue: int = 256
    typing_interval: float = 3.0
    typing_max_subscribers: int = 1000
    heartbeat: float = 20.0
    drain_timeout: float = 3.0
    max_replay: int = 500  # missed events a resume may send at once, beyond the send queue
    send_timeout: float = 10.0  # a send blocked this long (the peer stopped reading): close 4008
    close_timeout: float = 5.0  # how long a closing socket may take to get its last frames out


@dataclass(eq=False, slots=True)
class Connection:
    """One client socket (WebSocket or SSE) with its bounded send queue."""

    kind: str  # "member" | "staff"
    send: Callable[[str], Coroutine[Any, Any, None]]  # a coroutine: enqueue drives it in place
    close_transport: Callable[[int, str], Awaitable[None]]
    # optional: write a frame now if that cannot wait (True), else False and ``send`` is used —
    # the transport's shortcut (server/uvicorn_io.py writes one pre-built frame to every socket)
    write: Callable[[str], bool] | None = None
    hub_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    channels: dict[str, str] = field(default_factory=dict)  # channel -> epoch
    buffers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    queue: deque[str] = field(default_factory=deque)
    max_queue: int = 256
    allowance: int = 0  # replayed frames accepted beyond max_queue, not yet sent
    closing: tuple[int, str] | None = None
    revoked: bool = False
    present: bool = False  # counted in presence (attach joined it, or will once Redis is back)
    # the idle writer's wake-up (a bare future, only while it waits: no Event, no waiter deque);
    # not None also means "idle with nothing queued": enqueue may then send directly
    _waiter: asyncio.Future[None] | None = None
    # a direct send that had to wait (transport paused): the writer finishes it before the queue
    _inflight: tuple[Coroutine[Any, Any, None], Any] | None = None
    _ops_window: float = 0.0
    _ops: int = 0
    writer: asyncio.Task[None] | None = None
    ended: bool = False  # closing decided, or the peer is gone (see ended_future)
    _ended: asyncio.Future[None] | None = None
    # stall detection (see Gateway._watchdog): a counter rather than a timer per send keeps the hot
    # path free of timer handles
    busy: bool = False
    sent: int = 0
    stalled: bool = False
    _seen: tuple[int, float] = (-1, 0.0)

    def enqueue(self, text: str, *, ephemeral: bool = False) -> None:
        if self.closing is not None:
            return
        if self._waiter is not None:  # the writer is idle and nothing is queued: send right here
            self._send_now(text)
            return
        n = len(self.queue)
        if n >= self.max_queue + self.allowance:
            self.queue.clear()  # the client cannot keep up: cut it off; it resumes with `since`
            self.close(p.CLOSE_SLOW_CONSUMER, "slow consumer")
            return
        if ephemeral and n >= self.max_queue // 2 + self.allowance:
            return  # presence and typing go first when the queue is half full
        self.queue.append(text)
        self._wake()

    def _send_now(self, text: str) -> None:
        """Drive the transport's send coroutine in place. While the transport accepts data (the
        usual case: uvicorn's send writes to the socket buffer and returns without suspending)
        it completes in this call. If it must wait (the peer is slow: the transport paused
        writing), the suspended send is handed to the writer, which finishes it before anything
        queued after it — order is kept, and the socket is then "behind" until the writer catches
        up, so later frames queue (bounded) as usual."""
        try:
            write = self.write
            if write is not None and write(text):
                self.sent += 1
                if self.allowance:
                    self.allowance -= 1
                return
            coro = self.send(text)
            try:
                blocked_on = coro.send(None)
            except StopIteration:
                self.sent += 1
                if self.allowance:  # as the writer counts it: a replayed frame went out
                    self.allowance -= 1
                return
        except Exception:  # the peer is gone: the reader notices and detaches
            self.closing = (p.CLOSE_NORMAL, "gone")
            self._end()
            self._wake()
            return
        self._inflight = (coro, blocked_on)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter  # None while the writer is sending: it drains the queue before waiting
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            if self._ended is not None and not self._ended.done():
                self._ended.set_result(None)

    def ended_future(self) -> asyncio.Future[None]:
        """A future done once ``ended`` (a bare future: no task waiting on an Event per socket)."""
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
            if self.ended:
                self._ended.set_result(None)
        return self._ended

    def close(self, code: int, reason: str, *frames: str) -> None:
        """Send ``frames`` (after what is queued), then close with ``code``."""
        if self.closing is not None:
            return
        self.queue.extend(frames)
        self.closing = (code, reason)
        self._end()
        self._wake()

    def stall(self) -> None:
        """The writer has been stuck in one send for too long (the peer stopped reading and every
        buffer on the way is full): drop what is queued, abandon that send and close with 4008."""
        if self.stalled or self.writer is None or self.writer.done():
            return
        self.stalled = True
        self.close(p.CLOSE_SLOW_CONSUMER, "slow consumer")
        self.queue.clear()
        self.writer.cancel()

    async def run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self.queue and self.closing is None and self._inflight is None:
                    waiter = self._waiter = loop.create_future()
                    try:
                        await waiter
                    finally:
                        self._waiter = None
                self.busy = True
                try:
                    inflight = self._inflight
                    if inflight is not None:
                        self._inflight = None
                        await _resume(*inflight)
                        self.sent += 1
                        if self.allowance:
                            self.allowance -= 1
                    while self.queue:
                        await self.send(self.queue.popleft())
                        self.sent += 1
                        if self.allowance:
                            self.allowance -= 1
                except asyncio.CancelledError:
                    if not self.stalled:
                        raise
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                    self.queue.clear()
                self.busy = False
                if self.closing is not None:
                    await self.close_transport(*self.closing)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-send: the reader notices and detaches
            self.closing = self.closing or (p.CLOSE_NORMAL, "gone")
            self._end()
        finally:
            if self._inflight is not None:  # cancelled before finishing a handed-over send
                self._inflight[0].close()
                self._inflight = None

    def count_op(self, now: float) -> int:
        if now - self._ops_window >= 1.0:
            self._ops_window, self._ops = now, 0
        self._ops += 1
        return self._ops


@dataclass(eq=False)
class Feed:
    """This instance's subscription to one broker channel."""

    name: str
    subscribers: set[Connection] = field(default_factory=set)
    watchers: int = 0  # internal interest (ban watch on contact channels)
    buffering: int = 0  # subscribers mid-subscribe (their live frames go to conn.buffers[name])
    last_seq: int | None = None
    epoch: str | None = None  # the epoch last_seq belongs to
    handler: Any = None

    @property
    def refs(self) -> int:
        return len(self.subscribers) + self.watchers


class _Ban(msgspec.Struct):
    hub_id: str
    contact_id: str


class _BanEvent(msgspec.Struct):
    event: str
    data: msgspec.Raw


class _FactsChanged(msgspec.Struct):
    hub_id: str | None = None
    team_id: str | None = None
    contact_id: str | None = None


_ban_event = msgspec.json.Decoder(_BanEvent)
_ban_data = msgspec.json.Decoder(_Ban)
_facts = msgspec.json.Decoder(_FactsChanged)

Authorizer = Callable[[Connection, Channel], Awaitable[Refusal | None]]
Rechecker = Callable[[list[Connection]], Awaitable[None]]


class Gateway:
    def __init__(self, broker: Any, history: History, presence: Presence, config: GatewayConfig | None = None,
                 *, authorize: Authorizer, recheck: Rechecker, stamp_dedup: bool = False) -> None:
        self.broker = broker
        self.history = history
        self.presence = presence
        self.config = config or GatewayConfig()
        self._authorize = authorize
        self._recheck = recheck
        self._stamp_dedup = stamp_dedup  # several instances may stamp the same raw event
        self.feeds: dict[str, Feed] = {}
        self.connections: set[Connection] = set()
        self._per_member: dict[tuple[uuid.UUID, uuid.UUID], set[Connection]] = {}
        self._typing: dict[tuple[str, uuid.UUID], float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self.draining = False

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.subscribe(INVALIDATE_CHANNEL, self._on_invalidate)
        self.broker.on_reconnect(self.resync)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="hubwire-realtime-heartbeat")
        if self.config.send_timeout > 0:
            self._watchdog_task = asyncio.create_task(self._watchdog(), name="hubwire-realtime-watchdog")

    async def stop(self) -> None:
        await self.drain()
        for task in (self._heartbeat, self._watchdog_task):
            if task is not None:
                task.cancel()
        await self.broker.unsubscribe(INVALIDATE_CHANNEL, self._on_invalidate)
        for name, feed in list(self.feeds.items()):
            self.feeds.pop(name, None)
            await self.broker.unsubscribe(name, feed.handler)

    async def drain(self) -> None:
        """Every socket gets a ``closing`` frame, then close 1012; waits (bounded) for the sends."""
        self.draining = True
        frame = p.encode(p.Closing(code=p.CLOSE_SERVER_RESTART, reason="server restarting"))
        for conn in list(self.connections):
            conn.close(p.CLOSE_SERVER_RESTART, "server restarting", frame)
        writers = [c.writer for c in self.connections if c.writer is not None and not c.writer.done()]
        if writers:
            await asyncio.wait(writers, timeout=self.config.drain_timeout)

    # ---- connections ------------------------------------------------------------------------------

    async def open(self, conn: Connection) -> str | None:
        """``admit`` then ``attach``: what a transport calls for a new socket. The refusal code
        (``server_restarting``, ``too_many_sockets``) when it may not connect; then nothing of it
        is held here. If ``attach`` raises, the caller's ``detach`` releases what was taken."""
        refused = self.admit(conn)
        if refused is None:
            refused = await self.attach(conn)
            if refused is not None:
                await self.detach(conn)
        return refused

    def admit(self, conn: Connection) -> str | None:
        """Register ``conn``; the refusal code when it may not connect."""
        if self.draining:
            return "server_restarting"
        conn.max_queue = self.config.send_queue
        if conn.kind == "member":
            assert conn.hub_id is not None and conn.contact_id is not None
            mine = self._per_member.setdefault((conn.hub_id, conn.contact_id), set())
            if len(mine) >= self.config.max_sockets_per_member:
                if not mine:
                    del self._per_member[(conn.hub_id, conn.contact_id)]
                return "too_many_sockets"
            mine.add(conn)
        self.connections.add(conn)
        conn.writer = asyncio.create_task(conn.run_writer())
        return None

    async def attach(self, conn: Connection) -> str | None:
        """After ``admit``: presence and the ban watch on the member's contact channel. The refusal
        code when the member already has ``max_sockets_per_member`` sockets in the hub counting
        every instance (presence keeps them); the caller then detaches and closes the socket."""
        if conn.kind != "member":
            return None
        assert conn.hub_id is not None and conn.contact_id is not None
        await self._acquire(f"contact:{conn.contact_id}", watcher=True)
        try:
            joined = await self.presence.join(str(conn.hub_id), str(conn.contact_id), conn.id,
                                              limit=self.config.max_sockets_per_member)
        except Exception:  # Redis away: the heartbeat re-registers the socket once it is back
            log.warning("presence join failed for %s", conn.id, exc_info=True)
            conn.present = True
            return None
        if joined is None:
            return "too_many_sockets"
        conn.present = True
        if joined:
            await self._publish_presence(conn.hub_id, joined=str(conn.contact_id))
        return None

    async def detach(self, conn: Connection, *, keep_writer: bool = False) -> None:
        """Release everything ``conn`` holds here (channels, member slot, presence). With
        ``keep_writer`` its writer may still get its last frames and the close out."""
        if not keep_writer and conn.writer is not None and not conn.writer.done():
            conn.writer.cancel()
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        for channel in list(conn.channels) + list(conn.buffers):
            await self._leave(conn, channel)
        if conn.kind == "member":
            assert conn.hub_id is not None and conn.contact_id is not None
            key = (conn.hub_id, conn.contact_id)
            mine = self._per_member.get(key)
            if mine is not None:
                mine.discard(conn)
                if not mine:
                    del self._per_member[key]
                    self._typing.pop((str(conn.hub_id), conn.contact_id), None)
            await self._release(f"contact:{conn.contact_id}", watcher=True)
            try:
                if conn.present and await self.presence.leave(str(conn.hub_id), str(conn.contact_id), conn.id):
                    await self._publish_presence(conn.hub_id, left=str(conn.contact_id))
            except Exception:
                log.warning("presence leave failed for %s", conn.id, exc_info=True)

    async def serve(self, conn: Connection, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Read client frames until the socket closes."""
        cfg = self.config
        while conn.closing is None:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(raw) > cfg.max_frame_bytes:
                conn.close(p.CLOSE_BAD_FRAME, "frame too large",
                           p.error("frame_too_large", f"Frames are at most {cfg.max_frame_bytes} bytes."))
                return
            ops = conn.count_op(time.monotonic())
            if ops > cfg.ops_per_second:
                if ops > 2 * cfg.ops_per_second:
                    conn.close(p.CLOSE_RATE_LIMITED, "rate limited",
                               p.error("rate_limited", "Too many frames; closing."))
                    return
                conn.enqueue(p.error("rate_limited", f"At most {cfg.ops_per_second} frames per second."))
                continue
            try:
                frame = p.client_decoder.decode(raw)
            except msgspec.DecodeError as exc:
                conn.close(p.CLOSE_BAD_FRAME, "bad frame", p.error("bad_frame", f"Not a client frame: {exc}"))
                return
            try:
                await self.handle(conn, frame)
            except Exception:  # e.g. Redis away: this op fails, the socket lives on
                log.warning("op %s failed on %s", type(frame).__name__, conn.id, exc_info=True)
                conn.enqueue(p.error("unavailable", "Try again shortly.", getattr(frame, "channel", None)))

    async def handle(self, conn: Connection, frame: Any) -> None:
        if isinstance(frame, p.Subscribe):
            await self.subscribe(conn, frame.channel, frame.since, frame.epoch)
        elif isinstance(frame, p.Unsubscribe):
            if frame.channel in conn.channels:
                await self._leave(conn, frame.channel)
            conn.enqueue(p.encode(p.Unsubscribed(channel=frame.channel)))
        elif isinstance(frame, p.Ping):
            conn.enqueue(p.encode(p.Pong()))
            if conn.kind == "member":
                await self.presence.refresh([(str(conn.hub_id), str(conn.contact_id), conn.id)])
        elif isinstance(frame, p.PresenceQuery):
            await self._presence_snapshot(conn, frame.channel)
        elif isinstance(frame, p.Typing):
            await self._typing_signal(conn, frame.channel)
        elif isinstance(frame, p.Auth):
            conn.enqueue(p.error("already_authenticated", "This socket is already authenticated."))

    # ---- subscribe / resume --------------------------------------------------------------------

    async def subscribe(self, conn: Connection, name: str, since: int | None = None,
                        epoch: str | None = None) -> bool:
        ch = parse_channel(name)
        if ch is None:
            conn.enqueue(p.error(INVALID.code, INVALID.message, name))
            return False
        name = ch.name
        if name in conn.channels or name in conn.buffers:
            conn.enqueue(p.error("already_subscribed", "Already subscribed to this channel.", name))
            return False
        if len(conn.channels) + len(conn.buffers) >= self.config.max_subscriptions:
            conn.enqueue(p.error("too_many_subscriptions",
                                 f"At most {self.config.max_subscriptions} channels per socket.", name))
            return False
        refusal = FORBIDDEN if conn.revoked else await self._authorize(conn, ch)
        if refusal is not None:
            conn.enqueue(p.error(refusal.code, refusal.message, name))
            return False
        # Live first (buffered), then history, then the buffer minus what history already gave.
        conn.buffers[name] = []
        await self._acquire(name, conn=conn)
        try:
            state = await self.history.replay(name, since, epoch)
        except Exception:
            log.warning("history unavailable for %s", name, exc_info=True)
            await self._leave(conn, name)
            conn.enqueue(p.error("unavailable", "Try again shortly.", name))
            return False
        if conn.closing is not None or name not in conn.buffers:
            return False
        feed = self.feeds.get(name)
        if feed is not None and feed.last_seq is None:
            feed.last_seq = state.seq  # a later live frame beyond this is a gap to fill from history
            feed.epoch = state.epoch
        recovered: bool | msgspec.UnsetType = msgspec.UNSET
        last = state.seq
        replay: list[tuple[int, bytes]] = []
        if since is not None:
            recovered = state.frames is not None
            replay = state.frames or []
            # A replay may exceed the send queue (the client is catching up, e.g. after a 4008),
            # up to max_replay frames per socket at a time; beyond that: refetch.
            if len(replay) + conn.allowance > self.config.max_replay:
                recovered, replay = False, []
            conn.allowance += len(replay)
        conn.enqueue(p.encode(p.Subscribed(channel=name, seq=state.seq, epoch=state.epoch, recovered=recovered)))
        for seq, frame in replay:
            conn.enqueue(frame.decode())
        for seq, text in self._unbuffer(conn, name) or ():
            if seq > last:
                conn.enqueue(text)
                last = seq
        conn.channels[name] = state.epoch
        return True

    async def _leave(self, conn: Connection, name: str) -> None:
        present = conn.channels.pop(name, None) is not None
        present = self._unbuffer(conn, name) is not None or present
        if present:
            await self._release(name, conn=conn)

    def _unbuffer(self, conn: Connection, name: str) -> list[tuple[int, str]] | None:
        """Take ``conn``'s subscribe buffer for ``name`` (None if it has none), keeping the feed's
        ``buffering`` count in step."""
        buffer = conn.buffers.pop(name, None)
        if buffer is not None:
            feed = self.feeds.get(name)
            if feed is not None and conn in feed.subscribers:
                feed.buffering -= 1
        return buffer

    async def revoke(self, conn: Connection, channels: list[str], code: str, message: str) -> None:
        """Unsubscribe ``conn`` from ``channels``, telling it why."""
        for name in channels:
            if name in conn.channels or name in conn.buffers:
                await self._leave(conn, name)
                conn.enqueue(p.error(code, message, name))

    # ---- feeds (one broker subscription per channel per instance) ---------------------------------

    async def _acquire(self, name: str, *, conn: Connection | None = None, watcher: bool = False) -> None:
        feed = self.feeds.get(name)
        created = feed is None
        if feed is None:  # registered before the first await, so concurrent subscribers share it
            feed = self.feeds[name] = Feed(name)

            async def handler(channel: str, payload: bytes, feed: Feed = feed) -> None:
                await self._deliver(feed, payload)

            feed.handler = handler
        if watcher:
            feed.watchers += 1
        if conn is not None and conn not in feed.subscribers:
            feed.subscribers.add(conn)
            if name in conn.buffers:
                feed.buffering += 1
        if created:
            await self.broker.subscribe(name, feed.handler)

    async def _release(self, name: str, *, conn: Connection | None = None, watcher: bool = False) -> None:
        feed = self.feeds.get(name)
        if feed is None:
            return
        if conn is not None:
            feed.subscribers.discard(conn)
        if watcher:
            feed.watchers -= 1
        if feed.refs <= 0:
            del self.feeds[name]  # no bookkeeping left behind for dynamic channel names
            await self.broker.unsubscribe(name, feed.handler)

    async def _deliver(self, feed: Feed, payload: bytes) -> None:
        if payload.startswith(p.EPHEMERAL_PREFIXES):
            text = payload.decode()
            # enqueue/close never touch feed.subscribers (nor run callbacks synchronously): no copy
            for conn in feed.subscribers:
                if not feed.buffering or feed.name not in conn.buffers:
                    conn.enqueue(text, ephemeral=True)
            return
        if payload.startswith(p.EVENT_PREFIX):
            frame = payload
            seq = _seq_of(frame)
        else:  # a raw Event (the unit of work publishing straight to the broker): stamp it here
            parts = frame_parts(payload)
            if parts is None:
                log.warning("dropping an undecodable payload on %s", feed.name)
                return
            _, prefix, suffix = parts
            seq, frame = await self.history.stamp(
                feed.name, prefix, suffix, dedup=dedup_key(payload) if self._stamp_dedup else None)
        if feed.last_seq is not None:
            if seq <= feed.last_seq:
                return  # a duplicate (history already delivered it after a reconnect)
            if seq > feed.last_seq + 1:  # missed while the broker reconnected: fill from history
                try:
                    for s, f in await self.history.between(feed.name, feed.last_seq, seq - 1):
                        self._fan_out(feed, s, f)
                except Exception:
                    log.warning("could not fill a gap on %s", feed.name, exc_info=True)
        feed.last_seq = seq
        self._fan_out(feed, seq, frame)
        if feed.name.startswith(("contact:", "team:")) and b'"member.banned"' in frame:
            self._on_ban_event(frame)

    def _fan_out(self, feed: Feed, seq: int, frame: bytes) -> None:
        text = frame.decode()  # once per event; the same str goes to every subscriber
        # Iterating the set itself is safe: enqueue/close/buffer.append are synchronous and never
        # add or remove subscribers (close only sets flags and resolves futures, whose callbacks
        # run later); every mutation of feed.subscribers is in _acquire/_release.
        if not feed.buffering:  # nobody mid-subscribe: no buffer lookup per subscriber
            for conn in feed.subscribers:
                conn.enqueue(text)
            return
        name = feed.name
        for conn in feed.subscribers:
            buffer = conn.buffers.get(name)
            if buffer is not None:
                buffer.append((seq, text))
            else:
                conn.enqueue(text)

    async def resync(self) -> None:
        """After the broker lost its connection (``on_reconnect``): catch every feed up with history.

        Events published while the connection was away are sent from history in order (duplicates
        are dropped by seq as usual). When the channel's epoch changed (Redis restarted and lost
        its counters and history) or history no longer covers the gap, every subscriber is told
        with a ``subscribed`` frame carrying ``recovered: false`` and the new seq/epoch: refetch,
        then continue from there."""
        for feed in list(self.feeds.values()):
            if feed.last_seq is None or feed.epoch is None:
                continue
            try:
                state = await self.history.replay(feed.name, feed.last_seq, feed.epoch)
            except Exception as exc:
                log.warning("could not resync %s (%s)", feed.name, exc)
                raise
            if self.feeds.get(feed.name) is not feed:
                continue
            if state.epoch == feed.epoch and state.frames is not None:
                for seq, frame in state.frames:
                    if seq > (feed.last_seq or 0):
                        feed.last_seq = seq
                        self._fan_out(feed, seq, frame)
                continue
            log.warning("history of %s was lost (epoch %s -> %s); subscribers are told to refetch",
                        feed.name, feed.epoch, state.epoch)
            feed.epoch, feed.last_seq = state.epoch, state.seq
            notice = p.encode(p.Subscribed(channel=feed.name, seq=state.seq, epoch=state.epoch, recovered=False))
            for conn in list(feed.subscribers):
                buffer = conn.buffers.get(feed.name)
                if buffer is not None:
                    buffer.clear()  # that subscribe is answering from the same history right now
                elif feed.name in conn.channels:
                    conn.channels[feed.name] = state.epoch
                    conn.enqueue(notice)

    async def _watchdog(self) -> None:
        """Close sockets whose writer has been stuck in one send for ``send_timeout`` seconds, and
        release what they hold at once (memory stays bounded; the close frame follows if the peer
        ever reads again within ``close_timeout``)."""
        period = max(0.05, min(1.0, self.config.send_timeout / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.connections):
                if not conn.busy or conn.sent != conn._seen[0]:
                    conn._seen = (conn.sent, now)
                elif now - conn._seen[1] >= self.config.send_timeout:
                    log.info("slow consumer %s: a send blocked for %.1fs; closing 4008", conn.id,
                             now - conn._seen[1])
                    conn.stall()
                    self._spawn(self.detach(conn, keep_writer=True))

    # ---- live revocation ----------------------------------------------------------------------------

    def _on_ban_event(self, frame: bytes) -> None:
        try:
            ev = _ban_event.decode(frame)
            if ev.event != "member.banned":
                return
            ban = _ban_data.decode(ev.data)
            hub_id, contact_id = uuid.UUID(ban.hub_id), uuid.UUID(ban.contact_id)
        except (msgspec.DecodeError, ValueError):
            return
        conns = list(self._per_member.get((hub_id, contact_id), ()))
        if conns:
            self._spawn(self._recheck(conns))

    async def _on_invalidate(self, channel: str, payload: bytes) -> None:
        try:
            change = _facts.decode(payload)
        except msgspec.DecodeError:
            return
        affected = [
            c for c in self.connections if c.kind == "member"
            and (change.hub_id is None or str(c.hub_id) == change.hub_id)
            and (change.team_id is None or str(c.team_id) == change.team_id)
            and (change.contact_id is None or str(c.contact_id) == change.contact_id)
        ]
        if affected:
            self._spawn(self._recheck(affected))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("realtime background task failed", exc_info=task.exception())

    # ---- presence and typing -----------------------------------------------------------------------

    async def _publish_presence(self, hub_id: uuid.UUID, **change: str) -> None:
        channel = f"hub:{hub_id}"
        await self.broker.publish(channel, p.encoder.encode(p.PresenceFrame(channel=channel, **change)))

    async def _presence_snapshot(self, conn: Connection, channel: str | None) -> None:
        own = f"hub:{conn.hub_id}" if conn.hub_id else None
        target = channel or own
        ch = parse_channel(target) if target else None
        if ch is None or ch.kind != "hub" or (conn.kind == "member" and ch.name != own):
            conn.enqueue(p.error(NOT_FOUND.code, "Presence is available for your hub only.", target))
            return
        if conn.kind == "staff" and await self._authorize(conn, ch) is not None:
            conn.enqueue(p.error(NOT_FOUND.code, NOT_FOUND.message, target))
            return
        online = await self.presence.online(str(ch.id))
        conn.enqueue(p.encode(p.PresenceFrame(channel=ch.name, online=online)))

    async def _typing_signal(self, conn: Connection, channel: str) -> None:
        ch = parse_channel(channel)
        if ch is None or ch.kind not in TYPING_KINDS or ch.name not in conn.channels or conn.contact_id is None:
            conn.enqueue(p.error("typing_not_allowed", "Typing goes to a discussion or conversation you "
                                                       "are subscribed to.", channel))
            return
        feed = self.feeds.get(ch.name)
        if feed is not None and len(feed.subscribers) > self.config.typing_max_subscribers:
            return  # suppressed in very large channels
        key = (ch.name, conn.contact_id)
        now = time.monotonic()
        if now - self._typing.get(key, -1e9) < self.config.typing_interval:
            return  # one signal per member per interval; clients expire typing on their own
        self._typing[key] = now
        await self.broker.publish(ch.name, p.encoder.encode(p.TypingFrame(channel=ch.name,
                                                                          contact_id=str(conn.contact_id))))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat)
            try:
                await self.presence.refresh([(str(c.hub_id), str(c.contact_id), c.id)
                                             for c in self.connections if c.kind == "member" and c.present])
                self.history.sweep()
                horizon = time.monotonic() - self.config.typing_interval
                for key in [k for k, t in self._typing.items() if t < horizon]:
                    del self._typing[key]
            except Exception:
                log.warning("realtime heartbeat failed", exc_info=True)

    def member_of(self, hub_id: uuid.UUID, contact_id: uuid.UUID) -> list[Connection]:
        return list(self._per_member.get((hub_id, contact_id), ()))


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], blocked_on: Any) -> Generator[Any, Any, None]:
    """Await the rest of ``coro``, which was started elsewhere (``Connection._send_now``) and is
    suspended on ``blocked_on``: hand that to the running task as if ``coro`` had yielded it here,
    then pass every resumption (or exception, e.g. a cancellation) on to ``coro`` — what a task
    does for the coroutine it runs."""
    value = blocked_on
    while True:
        try:
            sent = yield value
        except BaseException as exc:  # noqa: BLE001  (thrown in by the task: forwarded)
            try:
                value = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                value = coro.send(sent)
            except StopIteration:
                return


def _seq_of(frame: bytes) -> int:
    start = frame.index(b',"seq":') + 7
    end = frame.index(b",", start)
    return int(frame[start:end])


__all__ = ["Connection", "Gateway", "GatewayConfig", "member_static_rule"]
