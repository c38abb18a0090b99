"""Resume: a subscription answered from history, and feeds caught up after the broker reconnects.

Every event has a per-channel ``seq`` and the channel an ``epoch`` (the stores are in
``realtime.history``). A client that subscribes with ``since`` (and the epoch it knew) gets what it
missed, or ``recovered: false`` when history no longer covers it: refetch, then continue. Joining
buffers live frames while history is read, then drains the buffer skipping what the replay already
sent: no gap, no duplicate.
"""

from __future__ import annotations

import logging

import msgspec

from realtime import protocol as p
from realtime.broker import is_outage
from realtime.connection import Connection
from realtime.fanout import FanOut
from realtime.stats import STATS

log = logging.getLogger("hubwire.realtime")


async def join(fanout: FanOut, conn: Connection, name: str, since: int | None, epoch: str | None,
               max_replay: int) -> bool:
    """Subscribe ``conn`` to channel ``name`` (canonical, already authorized): ``subscribed`` with
    the channel's seq and epoch, then the events after ``since`` (at most ``max_replay`` frames a
    socket may have pending beyond its queue; more is ``recovered: false``), then live events. False
    when history could not be read (the client is told to try again) or the socket went away."""
    # Live first (buffered), then history, then the buffer minus what history already gave.
    conn.buffers[name] = []
    await fanout.acquire(name, conn=conn)
    try:
        state = await fanout.history.replay(name, since, epoch)
    except Exception as exc:
        log.warning("history unavailable for %s (%s: %s)", name, type(exc).__name__, exc, exc_info=not is_outage(exc))
        await fanout.leave(conn, name)
        conn.enqueue(p.error("unavailable", "Try again shortly.", name))
        return False
    if conn.closing is not None or name not in conn.buffers:
        return False
    feed = fanout.feeds.get(name)
    if feed is not None and feed.last_seq is None:
        feed.last_seq = state.seq  # a later live frame beyond this is a gap to fill from history
        feed.epoch = state.epoch
    elif feed is not None and feed.last_seq is not None and feed.last_seq < state.seq:
        # This instance's reader is behind the history just read: Redis stamps, stores and
        # PUBLISHes in one step, but the replay came back on another connection before the reader
        # got to the PUBLISH. Those events would reach this socket live after the replay gave them
        # (seen: a resumed client got an event twice). Catch the feed up from history now: its
        # other subscribers get them as usual, this socket's buffer drops what the replay gave,
        # and the live copies are dropped by seq when the reader gets to them.
        try:
            await fanout.catch_up(name)
        except Exception as exc:
            log.warning("could not catch %s up (%s: %s)", name, type(exc).__name__, exc,
                        exc_info=not is_outage(exc))
        if conn.closing is not None or name not in conn.buffers:
            return False
    recovered: bool | msgspec.UnsetType = msgspec.UNSET
    last = state.seq
    replay: list[tuple[int, bytes]] = []
    if since is not None:
        recovered = state.frames is not None
        replay = state.frames or []
        # A replay may exceed the send queue (the client is catching up, e.g. after a 4008),
        # up to max_replay frames per socket at a time; beyond that: refetch.
        if len(replay) + conn.allowance > max_replay:
            recovered, replay = False, []
        conn.allowance += len(replay)
        if recovered:
            STATS.resumes_recovered += 1
        else:
            STATS.resumes_not_recovered += 1
    conn.enqueue(p.encode(p.Subscribed(channel=name, seq=state.seq, epoch=state.epoch, recovered=recovered)))
    for seq, frame in replay:
        conn.enqueue(frame.decode())
    for seq, text in fanout.unbuffer(conn, name) or ():
        if seq > last:
            conn.enqueue(text)
            last = seq
    conn.channels[name] = state.epoch
    return True


async def resync(fanout: FanOut) -> None:
    """After the broker lost its connection (``on_reconnect``): catch every feed up with history.

    Events published while the connection was away are sent from history in order (duplicates
    are dropped by seq as usual). When the channel's epoch changed (Redis restarted and lost
    its counters and history) or history no longer covers the gap, every subscriber is told
    with a ``subscribed`` frame carrying ``recovered: false`` and the new seq/epoch: refetch,
    then continue from there."""
    for feed in list(fanout.feeds.values()):
        if feed.last_seq is None or feed.epoch is None:
            continue
        try:
            state = await fanout.history.replay(feed.name, feed.last_seq, feed.epoch)
        except Exception as exc:
            log.warning("could not resync %s (%s)", feed.name, exc)
            raise
        if fanout.feeds.get(feed.name) is not feed:
            continue
        if state.epoch == feed.epoch and state.frames is not None:
            fanout.fan_out_newer(feed, state.frames)
            continue
        log.warning("history of %s was lost (epoch %s -> %s); subscribers are told to refetch",
                    feed.name, feed.epoch, state.epoch)
        # What the new epoch already holds (events published since Redis came back, the realtime
        # outbox's among them) follows the notice when history still has all of it.
        since, frames = state.seq, []
        if state.epoch != feed.epoch and state.seq > 0:
            fresh = await fanout.history.replay(feed.name, 0, state.epoch)
            if fresh.epoch == state.epoch and fresh.frames is not None:
                since, frames = 0, fresh.frames
        feed.epoch, feed.last_seq = state.epoch, since
        notice = p.encode(p.Subscribed(channel=feed.name, seq=since, epoch=state.epoch, recovered=False))
        for conn in list(feed.subscribers):
            buffer = conn.buffers.get(feed.name)
            if buffer is not None:
                buffer.clear()  # that subscribe is answering from the same history right now
            elif feed.name in conn.channels:
                conn.channels[feed.name] = state.epoch
                conn.enqueue(notice)
        fanout.fan_out_newer(feed, frames)
