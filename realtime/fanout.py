"""The registry and the fan-out: one broker subscription per channel per instance, and delivery to
the local subscribers.

A ``Feed`` is this instance's subscription to one channel, reference-counted by its subscribers
(and internal watchers: the ban watch on a member's contact channel); when the last one leaves,
the broker subscription and every trace of the channel go away. Every event that arrives is
checked against the feed's last seq (a duplicate after a reconnect is dropped, a gap is filled
from history), decoded to ``str`` once, and handed to each subscriber's ``Connection.enqueue`` —
which sends it in place to a socket that keeps up. ``deliver`` → ``fan_out`` → ``enqueue`` is the
per-delivery path: keep it free of extra awaits, calls and lookups (bench/README.md).

A subscriber in the middle of subscribing (``realtime.resume.join``) gets its live frames in
``conn.buffers[name]`` instead, counted in ``Feed.buffering``, until history has been replayed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.events.channels import parse_channel
from realtime import protocol as p
from realtime.broker import Broker, is_outage
from realtime.connection import Born, Connection
from realtime.history import History, dedup_key, frame_parts
from realtime.stats import STATS

log = logging.getLogger("hubwire.realtime")

# An event whose ``at`` is older than this was published late on purpose (kept in the realtime
# outbox while Redis was away, a scheduled publication): its age says nothing about this instance.
LATE_PUBLISH = 60.0

# A ban is announced on the team's and the contact's channel (domain/hubs/memberships.py): the
# feeds of these kinds are watched for ``member.banned``.
BAN_CHANNEL_KINDS = frozenset({"contact", "team"})


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
    watches_bans: bool = False  # a team or contact channel: its events may carry a ban

    @property
    def refs(self) -> int:
        """Subscribers and watchers: the feed goes away at zero."""
        return len(self.subscribers) + self.watchers


class FanOut:
    """The feeds of this instance (``feeds``: channel name → ``Feed``) and the delivery of what the
    broker brings on them. ``on_ban`` is called with every event frame carrying ``member.banned``
    on a team or contact channel (the gateway re-checks that member's sockets)."""

    def __init__(self, broker: Broker, history: History, *, stamp_dedup: bool,
                 on_ban: Callable[[bytes], None]) -> None:
        self.broker = broker
        self.history = history
        self._stamp_dedup = stamp_dedup  # several instances may stamp the same raw event
        self._on_ban = on_ban
        self.feeds: dict[str, Feed] = {}
        self.shed_signals = False  # overloaded: typing and presence are not delivered (realtime/overload.py)
        self.clock: Callable[[], float] = time.monotonic  # the gateway's
        # the age of the last event fanned out (seconds from its ``at`` to its fan-out) and when
        # (``clock``): how late this instance's reader is handing events over (realtime/overload.py)
        self.age = 0.0
        self.age_at = -1e9

    async def acquire(self, name: str, *, conn: Connection | None = None, watcher: bool = False) -> None:
        """Add ``conn`` (or a watcher) to the feed of channel ``name``, subscribing to the broker
        when the feed is new."""
        feed = self.feeds.get(name)
        created = feed is None
        if feed is None:  # registered before the first await, so concurrent subscribers share it
            ch = parse_channel(name)
            feed = self.feeds[name] = Feed(name, watches_bans=ch is not None and ch.kind in BAN_CHANNEL_KINDS)

            async def handler(channel: str, payload: bytes, feed: Feed = feed) -> None:
                await self.deliver(feed, payload)

            feed.handler = handler
        if watcher:
            feed.watchers += 1
        if conn is not None and conn not in feed.subscribers:
            feed.subscribers.add(conn)
            if name in conn.buffers:
                feed.buffering += 1
        if created:
            await self.broker.subscribe(name, feed.handler)

    async def release(self, name: str, *, conn: Connection | None = None, watcher: bool = False) -> None:
        """Take ``conn`` (or a watcher) off the feed of ``name``; the last one out unsubscribes
        from the broker and drops the feed."""
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

    async def leave(self, conn: Connection, name: str) -> None:
        """Unsubscribe ``conn`` from ``name``, whether subscribed or still subscribing."""
        present = conn.channels.pop(name, None) is not None
        present = self.unbuffer(conn, name) is not None or present
        if present:
            await self.release(name, conn=conn)

    def unbuffer(self, conn: Connection, name: str) -> list[tuple[int, str]] | None:
        """Take ``conn``'s subscribe buffer for ``name`` (None if it has none), keeping the feed's
        ``buffering`` count in step."""
        buffer = conn.buffers.pop(name, None)
        if buffer is not None:
            feed = self.feeds.get(name)
            if feed is not None and conn in feed.subscribers:
                feed.buffering -= 1
        return buffer

    async def catch_up(self, name: str) -> None:
        """Fan out what history holds on ``name`` beyond what this instance has delivered: events its
        reader has not brought yet. Each sharded node is read on a connection of its own, so an
        event on one node and a message published after it on another (the access invalidation
        that closes a banned member's socket) can reach this instance in either order; the history
        of the event's node already holds it. Nothing when the feed's position is not known yet or
        its epoch changed (``resume.resync`` tells those subscribers to refetch)."""
        feed = self.feeds.get(name)
        if feed is None or feed.last_seq is None or feed.epoch is None:
            return
        state = await self.history.replay(name, feed.last_seq, feed.epoch)
        if self.feeds.get(name) is feed and state.epoch == feed.epoch and state.frames is not None:
            self.fan_out_newer(feed, state.frames)

    def fan_out_newer(self, feed: Feed, frames: list[tuple[int, bytes]]) -> None:
        """Fan out the frames of ``frames`` (read from history, in seq order) that are newer than
        the feed's last seq; the live copies that arrive later are dropped as duplicates."""
        for seq, frame in frames:
            if seq > (feed.last_seq or 0):
                feed.last_seq = seq
                self.fan_out(feed, seq, frame, catch_up=True)

    async def stop(self) -> None:
        """Unsubscribe every feed from the broker."""
        for name, feed in list(self.feeds.items()):
            self.feeds.pop(name, None)
            await self.broker.unsubscribe(name, feed.handler)

    async def deliver(self, feed: Feed, payload: bytes) -> None:
        """What the broker brought on ``feed``: an ephemeral frame goes to every subscriber as is;
        an event is stamped if it came raw, checked against the feed's seq, and fanned out."""
        if payload.startswith(p.EPHEMERAL_PREFIXES):
            if self.shed_signals:
                return
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
                    missed = await self.history.between(feed.name, feed.last_seq, seq - 1)
                except Exception as exc:
                    log.warning("could not fill a gap on %s (%s: %s)", feed.name,
                                type(exc).__name__, exc, exc_info=not is_outage(exc))
                else:
                    # a catch-up or resync may have read the same history during that await:
                    # fan_out_newer skips what they sent, and this event if it was among it
                    self.fan_out_newer(feed, [(s, f) for s, f in missed if s < seq])
                if seq <= (feed.last_seq or 0):
                    return
        feed.last_seq = seq
        self.fan_out(feed, seq, frame)
        if feed.watches_bans and b'"member.banned"' in frame:
            self._on_ban(frame)

    def fan_out(self, feed: Feed, seq: int, frame: bytes, *, catch_up: bool = False) -> None:
        """Event ``seq`` (its frame, encoded once) to every subscriber of ``feed``: sent or queued,
        or kept in the buffer of a subscriber still replaying history. ``catch_up``: read from
        history after a gap or a reconnect — old by nature, so its age is not taken as a lag."""
        text = frame.decode()  # once per event; the same str goes to every subscriber
        STATS.deliveries += len(feed.subscribers)
        # read by the subscribers' queues only if a frame has to wait
        Born.t = None if catch_up else self._born(frame)
        try:
            self._fan_out(feed, seq, text)
        finally:
            Born.t = None

    def reader_age(self, now: float) -> float:
        """How late the last event was when this instance fanned it out (0.0 once that is over a
        second ago: the reader has been idle since, so nothing is waiting in front of it)."""
        return self.age if now - self.age_at < 1.0 else 0.0

    def _born(self, frame: bytes) -> float:
        """When ``frame`` was published, in ``clock`` time, from its ``at`` (the wall clock of the
        instance that emitted it); now when that is unknown or a deliberately late publish."""
        now = self.clock()
        age = 0.0
        start = frame.rfind(b',"at":"')
        if start > 0:
            try:
                age = time.time() - datetime.fromisoformat(frame[start + 7:-2].decode()).timestamp()
            except ValueError:
                age = 0.0
            if not 0.0 < age < LATE_PUBLISH:  # clocks a little apart, or published late on purpose
                age = 0.0
        self.age, self.age_at = age, now
        return now - age

    def _fan_out(self, feed: Feed, seq: int, text: str) -> None:
        # Iterating the set itself is safe: enqueue/close/buffer.append are synchronous and never
        # add or remove subscribers (close only sets flags and resolves futures, whose callbacks
        # run later); every mutation of feed.subscribers is in acquire/release.
        if not feed.buffering:  # nobody mid-subscribe: no buffer lookup per subscriber
            for conn in feed.subscribers:
                conn.enqueue(text)
            return
        name = feed.name
        for conn in feed.subscribers:
            buffer = conn.buffers.get(name)
            if buffer is not None:
                if len(buffer) >= conn.max_queue:  # bounded like the send queue: resume later
                    buffer.clear()
                    conn.close(p.CLOSE_SLOW_CONSUMER, "slow consumer")
                else:
                    buffer.append((seq, text))
            else:
                conn.enqueue(text)


def _seq_of(frame: bytes) -> int:
    start = frame.index(b',"seq":') + 7
    end = frame.index(b",", start)
    return int(frame[start:end])
