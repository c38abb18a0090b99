"""The gateway: sockets come and go, read their frames, subscribe, are re-checked and drained.

Built on ``realtime.broker`` rather than Litestar's channels plugin, because the plugin keeps
per-channel bookkeeping for every dynamic channel name it ever saw, its Redis subscriber loop does
not reconnect, and subscribe/unsubscribe can race with delivery. The parts, one module each:

* ``realtime.connection`` — ``Connection``: one socket, its bounded send queue, its writer, the
  send in place to a socket that keeps up (4008 for a slow consumer);
* ``realtime.fanout`` — ``FanOut``: one broker subscription per channel per instance,
  reference-counted (``Feed``), and the delivery of each event, encoded once, to every local
  subscriber;
* ``realtime.resume`` — subscribing with ``since``/``epoch`` (history replayed, then live, no gap
  and no duplicate) and catching every feed up after the broker reconnects (``resync``);
* ``realtime.signals`` — presence and typing;
* ``realtime.access`` — who may subscribe to what (the access evaluator), and the re-check after a
  ban or an access change;
* ``realtime.overload`` — the lag monitor and the shedding order when the instance falls behind;
* this module — ``Gateway``, which admits sockets (limits, presence, the ban watch), serves their
  frames, and runs the heartbeat, the send watchdog, live revocation and the drain.

The gateway knows nothing of HTTP: the transports (``server/api/realtime/``) authenticate the
socket, build a ``Connection`` around its send/close functions and call ``open`` and ``serve``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from domain.access.invalidation import INVALIDATE_CHANNEL
from domain.access.invalidation import decoder as facts_changed_decoder
from domain.events.channels import contact_channel, parse_channel
from realtime import protocol as p
from realtime import resume
from realtime.broker import Broker, is_outage
from realtime.channels import FORBIDDEN, INVALID, Authorizer
from realtime.config import GatewayConfig
from realtime.connection import Connection
from realtime.fanout import FanOut, Feed
from realtime.history import History
from realtime.overload import Overload
from realtime.presence import Presence
from realtime.signals import Signals

log = logging.getLogger("hubwire.realtime")

# How long a banned member's socket waits for its contact channel's history before it is closed
# anyway (``Gateway.catch_up``).
CATCH_UP_TIMEOUT = 1.0

# After a ban or an access change: re-check these sockets (``realtime.access.ChannelAccess.recheck``).
Rechecker = Callable[[list[Connection]], Awaitable[None]]


class _Ban(msgspec.Struct):
    hub_id: str
    contact_id: str


class _BanEvent(msgspec.Struct):
    event: str
    data: msgspec.Raw


_ban_event = msgspec.json.Decoder(_BanEvent)
_ban_data = msgspec.json.Decoder(_Ban)


class Gateway:
    """Every socket of this instance and what it is subscribed to. ``authorize`` answers whether a
    socket may subscribe to a channel; ``recheck`` re-asks for sockets whose access may have
    changed. ``stamp_dedup``: several instances share the broker and may stamp the same raw event."""

    def __init__(self, broker: Broker, history: History, presence: Presence, config: GatewayConfig | None = None,
                 *, authorize: Authorizer, recheck: Rechecker, stamp_dedup: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.broker = broker
        self.history = history
        self.presence = presence
        self.config = config or GatewayConfig()
        self._authorize = authorize
        self._recheck = recheck
        self.fanout = FanOut(broker, history, stamp_dedup=stamp_dedup, on_ban=self._on_ban_event)
        self.signals = Signals(broker, presence, self.fanout, self.config, authorize)
        self.connections: set[Connection] = set()
        self._per_member: dict[tuple[uuid.UUID, uuid.UUID], set[Connection]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # subscribes to a contact channel still answering from history, by (socket id, channel):
        # done when they end (catch_up waits for them)
        self._joining: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self.clock = clock  # what sockets stamp queued frames with (the overload's queue ages)
        self.fanout.clock = clock
        self.overload = Overload(self.config, self.fanout, lambda: self.connections, clock=clock)
        self._overload_task: asyncio.Task[None] | None = None
        self.draining = False

    @property
    def feeds(self) -> dict[str, Feed]:
        """This instance's feeds by channel name (``FanOut.feeds``)."""
        return self.fanout.feeds

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for access changes and broker reconnects; start the heartbeat and the watchdog."""
        await self.broker.subscribe(INVALIDATE_CHANNEL, self._on_invalidate)
        self.broker.on_reconnect(self.resync)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="hubwire-realtime-heartbeat")
        self._overload_task = asyncio.create_task(self.overload.run(), name="hubwire-realtime-overload")
        if self.config.send_timeout > 0:
            self._watchdog_task = asyncio.create_task(self._watchdog(), name="hubwire-realtime-watchdog")

    async def stop(self) -> None:
        """Drain, then stop the background tasks and drop every broker subscription."""
        await self.drain()
        for task in (self._heartbeat, self._watchdog_task, self._overload_task):
            if task is not None:
                task.cancel()
        await self.broker.unsubscribe(INVALIDATE_CHANNEL, self._on_invalidate)
        await self.fanout.stop()

    async def drain(self) -> None:
        """Every socket gets a ``closing`` frame, then close 1012; waits (bounded) for the sends."""
        self.draining = True
        frame = p.encode(p.Closing(code=p.CLOSE_SERVER_RESTART, reason="server restarting"))
        for conn in list(self.connections):
            conn.close(p.CLOSE_SERVER_RESTART, "server restarting", frame)
        writers = [c.writer for c in self.connections if c.writer is not None and not c.writer.done()]
        if writers:
            await asyncio.wait(writers, timeout=self.config.drain_timeout)

    async def resync(self) -> None:
        """After the broker reconnected, before any further event is delivered (the broker waits
        for this): re-check every member socket against the access evaluator — bans and access
        changes made meanwhile were not heard (their invalidations are in the realtime outbox, or
        lost to this instance) — then catch every feed up with history (``realtime.resume``). A
        failure (the database away too) is retried by the broker before the next message."""
        members = [c for c in self.connections if c.kind == "member" and c.closing is None]
        if members:
            await self._recheck(members)
        await resume.resync(self.fanout)

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
        """Register ``conn``; the refusal code when it may not connect (``server_restarting``,
        ``overloaded``, ``too_many_sockets``)."""
        if self.draining:
            return "server_restarting"
        if self.overload.shedding_sockets:  # closing sockets over the latency bound: no new ones
            return "overloaded"
        conn.max_queue = self.config.send_queue
        conn.clock = self.clock
        conn.coalesce_bytes = self.config.coalesce_bytes
        if conn.kind == "member":
            assert conn.hub_id is not None and conn.contact_id is not None
            mine = self._per_member.setdefault((conn.hub_id, conn.contact_id), set())
            if len(mine) >= self.config.max_sockets_per_member:
                if not mine:
                    del self._per_member[(conn.hub_id, conn.contact_id)]
                return "too_many_sockets"
            mine.add(conn)
        self.connections.add(conn)  # (no writer task until the socket falls behind: Connection)
        return None

    async def attach(self, conn: Connection) -> str | None:
        """After ``admit``: presence and the ban watch on the member's contact channel. The refusal
        code when the member already has ``max_sockets_per_member`` sockets in the hub counting
        every instance (presence keeps them); the caller then detaches and closes the socket."""
        if conn.kind != "member":
            return None
        assert conn.hub_id is not None and conn.contact_id is not None
        await self.fanout.acquire(contact_channel(conn.contact_id), watcher=True)
        try:
            joined = await self.presence.join(str(conn.hub_id), str(conn.contact_id), conn.id,
                                              limit=self.config.max_sockets_per_member)
        except Exception as exc:  # Redis away: the heartbeat re-registers the socket once it is back
            log.warning("presence join failed for %s (%s: %s)", conn.id,
                        type(exc).__name__, exc, exc_info=not is_outage(exc))
            conn.present = True
            return None
        if joined is None:
            return "too_many_sockets"
        conn.present = True
        if joined:
            await self.signals.announce(conn.hub_id, joined=str(conn.contact_id))
        return None

    async def detach(self, conn: Connection, *, keep_writer: bool = False) -> None:
        """Release everything ``conn`` holds here (channels, member slot, presence). With
        ``keep_writer`` its writer may still get its last frames and the close out."""
        if not keep_writer:
            if conn.closing is None:  # nothing more is sent to it (no writer started after this)
                conn.closing = (p.CLOSE_NORMAL, "gone")
            if conn.writer is not None and not conn.writer.done():
                conn.writer.cancel()
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        for channel in list(conn.channels) + list(conn.buffers):
            await self.fanout.leave(conn, channel)
        if conn.kind == "member":
            assert conn.hub_id is not None and conn.contact_id is not None
            key = (conn.hub_id, conn.contact_id)
            mine = self._per_member.get(key)
            if mine is not None:
                mine.discard(conn)
                if not mine:
                    del self._per_member[key]
            await self.fanout.release(contact_channel(conn.contact_id), watcher=True)
            try:
                if conn.present and await self.presence.leave(str(conn.hub_id), str(conn.contact_id), conn.id):
                    await self.signals.announce(conn.hub_id, left=str(conn.contact_id))
            except Exception as exc:
                log.warning("presence leave failed for %s (%s: %s)", conn.id,
                            type(exc).__name__, exc, exc_info=not is_outage(exc))

    def member_of(self, hub_id: uuid.UUID, contact_id: uuid.UUID) -> list[Connection]:
        """The member's sockets on this instance."""
        return list(self._per_member.get((hub_id, contact_id), ()))

    # ---- client frames ----------------------------------------------------------------------------

    async def serve(self, conn: Connection, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Read client frames until the socket closes."""
        cfg = self.config
        message: dict[str, Any] | None
        raw: str | None
        frame: Any
        while conn.closing is None:
            message = raw = frame = None  # the last frame is not kept while the socket idles
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
            except Exception as exc:  # e.g. Redis away: this op fails, the socket lives on
                log.warning("op %s failed on %s (%s: %s)", type(frame).__name__, conn.id,
                            type(exc).__name__, exc, exc_info=not is_outage(exc))
                conn.enqueue(p.error("unavailable", "Try again shortly.", getattr(frame, "channel", None)))

    async def handle(self, conn: Connection, frame: Any) -> None:
        """Act on one decoded client frame."""
        if isinstance(frame, p.Subscribe):
            await self.subscribe(conn, frame.channel, frame.since, frame.epoch)
        elif isinstance(frame, p.Unsubscribe):
            if frame.channel in conn.channels:
                await self.fanout.leave(conn, frame.channel)
            conn.enqueue(p.encode(p.Unsubscribed(channel=frame.channel)))
        elif isinstance(frame, p.Ping):
            conn.enqueue(p.encode(p.Pong()))
            if conn.kind == "member":
                await self.presence.refresh([(str(conn.hub_id), str(conn.contact_id), conn.id)])
        elif isinstance(frame, p.PresenceQuery):
            await self.signals.snapshot(conn, frame.channel)
        elif isinstance(frame, p.Typing):
            await self.signals.typing(conn, frame.channel)
        elif isinstance(frame, p.Auth):
            conn.enqueue(p.error("already_authenticated", "This socket is already authenticated."))

    async def subscribe(self, conn: Connection, name: str, since: int | None = None,
                        epoch: str | None = None) -> bool:
        """Subscribe ``conn`` to the channel ``name`` if it may (a valid name, not yet subscribed,
        under ``max_subscriptions``, allowed by ``authorize``), resuming after ``since``; else an
        ``error`` frame says why. True once subscribed."""
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
        if ch.kind != "contact":
            return await resume.join(self.fanout, conn, name, since, epoch, self.config.max_replay)
        key = (conn.id, name)
        if key in self._joining:  # the same subscribe sent twice before the first was answered
            conn.enqueue(p.error("already_subscribed", "Already subscribed to this channel.", name))
            return False
        done = self._joining[key] = asyncio.get_running_loop().create_future()
        try:
            return await resume.join(self.fanout, conn, name, since, epoch, self.config.max_replay)
        finally:
            done.set_result(None)
            if self._joining.get(key) is done:
                del self._joining[key]

    async def revoke(self, conn: Connection, channels: list[str], code: str, message: str) -> None:
        """Unsubscribe ``conn`` from ``channels``, telling it why."""
        for name in channels:
            if name in conn.channels or name in conn.buffers:
                await self.fanout.leave(conn, name)
                conn.enqueue(p.error(code, message, name))

    async def catch_up(self, conn: Connection) -> None:
        """Before ``conn`` is closed for what an event announced (a ban): send it the events of its
        contact channel that history holds and this instance's reader has not brought yet, so the
        member hears the announcement before the close (``FanOut.catch_up``; with sharded Redis the
        event and the access invalidation travel on different nodes). History away: closed as is.

        A subscribe to the contact channel still answering from history holds the event (live in
        its buffer, or in its replay for a resume), which a close would discard: it is let finish
        first, so the event reaches the member after its ``subscribed``, in order, as any other.
        (An event older than a fresh subscribe's history read is before its ``subscribed`` seq,
        and not sent, as ever.) All of it within one ``CATCH_UP_TIMEOUT``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_TIMEOUT
        joining = [done for name in conn.buffers if (done := self._joining.get((conn.id, name))) is not None]
        if joining:
            await asyncio.wait(joining, timeout=CATCH_UP_TIMEOUT)
        for name in list(conn.channels):
            ch = parse_channel(name)
            if ch is None or ch.kind != "contact":
                continue
            try:
                # bounded: a node that does not answer must not hold the close (nor the re-check of
                # the other sockets behind it)
                await asyncio.wait_for(self.fanout.catch_up(name), max(0.0, deadline - loop.time()))
            except Exception as exc:
                log.warning("could not catch %s up before closing %s (%s: %s)", name, conn.id,
                            type(exc).__name__, exc,
                            exc_info=not (is_outage(exc) or isinstance(exc, TimeoutError)))

    # ---- heartbeat and watchdog -------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Keep this instance's members present (the presence TTL), trim history, forget old typing."""
        while True:
            await asyncio.sleep(self.config.heartbeat)
            try:
                await self.presence.refresh([(str(c.hub_id), str(c.contact_id), c.id)
                                             for c in self.connections if c.kind == "member" and c.present])
                self.history.sweep()
                self.signals.sweep(time.monotonic())
            except Exception as exc:
                log.warning("realtime heartbeat failed (%s: %s)", type(exc).__name__, exc, exc_info=not is_outage(exc))

    async def _watchdog(self) -> None:
        """Close sockets whose writer has been stuck in one send for ``send_timeout`` seconds, and
        release what they hold at once (memory stays bounded; the close frame follows if the peer
        ever reads again within ``close_timeout``)."""
        period = max(0.05, min(1.0, self.config.send_timeout / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.connections):
                blocked = conn.send_blocked(now)
                if blocked >= self.config.send_timeout:
                    log.info("slow consumer %s: a send blocked for %.1fs; closing 4008", conn.id, blocked)
                    conn.stall()
                    self._spawn(self.detach(conn, keep_writer=True))

    # ---- live revocation ----------------------------------------------------------------------------

    def _on_ban_event(self, frame: bytes) -> None:
        """A ``member.banned`` event went by on a team or contact channel: re-check that member's
        sockets on this instance (they are closed with 4403)."""
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
        """Access facts changed (``domain.access.invalidation``): re-check the member sockets in
        the scope of the change."""
        try:
            change = facts_changed_decoder.decode(payload)
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


__all__ = ["Connection", "Gateway", "GatewayConfig"]
