"""Graceful overload (realtime/overload.py, realtime/connection.py): queued frames to one socket go
out in one write, in order; when the instance falls behind it sheds typing and presence first,
then closes its slowest sockets with 4008 and refuses new ones until it has caught up; the Redis
reader knows when it is behind. Lags are fed to the monitor directly: no timing in these tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec
import pytest

from realtime import protocol as p
from realtime.broker import InProcessBroker, RedisBroker
from realtime.gateway import Connection, Gateway, GatewayConfig
from realtime.history import InProcessHistory, RealtimePublisher, frame_parts
from realtime.presence import InProcessPresence
from tests.support.backends import REDIS_URL


async def _allow(conn: Any, ch: Any) -> None:
    return None


async def _noop(conns: Any) -> None:
    return None


async def _until(pred: Any, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not pred():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout)


class _Socket:
    """A transport like uvicorn's: ``send`` waits while paused; ``write``/``write_many`` (the
    direct writers) refuse while paused and record each write as one list of frames."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.closed: list[int] = []
        self.writable = asyncio.Event()
        self.writable.set()

    async def send(self, text: str) -> None:
        await self.writable.wait()
        self.writes.append([text])

    def write(self, text: str) -> bool:
        if not self.writable.is_set():
            return False
        self.writes.append([text])
        return True

    def write_many(self, texts: list[str]) -> bool:
        if not self.writable.is_set():
            return False
        self.writes.append(list(texts))
        return True

    async def close(self, code: int, reason: str) -> None:
        self.closed.append(code)

    def conn(self) -> Connection:
        return Connection(kind="staff", send=self.send, close_transport=self.close, write=self.write,
                          write_many=self.write_many, team_id=uuid.uuid4())

    @property
    def frames(self) -> list[str]:
        return [f for w in self.writes for f in w]


def _gateway(**cfg: Any) -> tuple[Gateway, RealtimePublisher]:
    broker, history = InProcessBroker(), InProcessHistory()
    gw = Gateway(broker, history, InProcessPresence(), GatewayConfig(**cfg), authorize=_allow, recheck=_noop)
    return gw, RealtimePublisher(broker, history)


def _event(channel: str, n: int) -> bytes:
    return msgspec.json.encode({"channel": channel, "event": "announcement.created",
                                "data": {"n": n}, "at": "2026-01-01T00:00:00Z"})


def _typing(channel: str) -> bytes:
    return p.encoder.encode(p.TypingFrame(channel=channel, contact_id=str(uuid.uuid4())))


# ---- coalescing --------------------------------------------------------------------------------------

async def test_frames_queued_while_behind_go_out_in_one_write_in_order() -> None:
    gw, _ = _gateway(send_queue=64)
    s = _Socket()
    conn = s.conn()
    gw.admit(conn)
    await _until(lambda: conn._waiter is not None)
    conn.enqueue("a")  # keeping up: one write, in place
    s.writable.clear()  # the peer fell behind: the transport paused
    for n in range(10):
        conn.enqueue(f"q{n}")
    assert s.writes == [["a"]] and conn.closing is None
    s.writable.set()
    await _until(lambda: conn._waiter is not None and not conn.queue)
    assert s.frames == ["a"] + [f"q{n}" for n in range(10)]  # nothing lost, nothing reordered
    assert len(s.writes) < 11  # the backlog left in fewer writes than frames
    assert any(len(w) > 1 for w in s.writes)
    assert conn.sent == 11
    await gw.detach(conn)


async def test_a_coalesced_write_stays_under_the_byte_budget() -> None:
    gw, _ = _gateway(send_queue=64, coalesce_bytes=100)
    s = _Socket()
    conn = s.conn()
    gw.admit(conn)
    await _until(lambda: conn._waiter is not None)
    s.writable.clear()
    conn.enqueue("first")  # in flight (the ASGI send waits)
    texts = ["x" * 40 + str(n) for n in range(9)]
    for text in texts:
        conn.enqueue(text)
    s.writable.set()
    await _until(lambda: not conn.queue and conn._waiter is not None)
    assert s.frames == ["first", *texts]
    assert all(sum(map(len, w)) <= 100 or len(w) == 1 for w in s.writes)
    assert max(len(w) for w in s.writes) == 2
    await gw.detach(conn)


# ---- shedding order ----------------------------------------------------------------------------------

async def test_overload_sheds_typing_first_then_the_slowest_sockets_then_recovers() -> None:
    gw, publisher = _gateway(send_queue=200, shed_fraction=0.34, shed_signals_after=0.25, shed_sockets_after=1.0)
    channel = f"team:{uuid.uuid4()}"
    fast, slow, slowest = _Socket(), _Socket(), _Socket()
    conns = {}
    for name, s in (("fast", fast), ("slow", slow), ("slowest", slowest)):
        conns[name] = c = s.conn()
        assert gw.admit(c) is None
        assert await gw.subscribe(c, channel)
        await _until(lambda c=c: c._waiter is not None)
    slow.writable.clear()
    slowest.writable.clear()
    for n in range(3):
        await publisher.publish(channel, _event(channel, n))
    for n in range(3, 8):  # only the slowest one falls further behind
        slow.writable.set()
        await _until(lambda: not conns["slow"].queue and conns["slow"]._waiter is not None)
        slow.writable.clear()
        await publisher.publish(channel, _event(channel, n))
    assert conns["slowest"].backlog() > conns["slow"].backlog() > conns["fast"].backlog() == 0

    ov = gw.overload
    now = 100.0
    await publisher.publish(channel, _typing(channel))
    assert sum(f.startswith('{"type":"typing"') for f in fast.frames) == 1  # not overloaded: delivered
    # 1. a quarter second behind: typing (and presence) no longer delivered; events still are
    ov.observe(0.3, now - 0.1)
    assert not gw.fanout.shed_signals  # one late observation is not an overload
    ov.observe(0.3, now)
    assert gw.fanout.shed_signals and not ov.shedding_sockets
    await publisher.publish(channel, _typing(channel))
    await publisher.publish(channel, _event(channel, 8))
    assert sum(f.startswith('{"type":"typing"') for f in fast.frames) == 1
    assert msgspec.json.decode(fast.frames[-1])["seq"] == 9
    # 2. a second behind, once: nobody is closed for one late observation
    ov.observe(1.5, now + 0.1)
    assert all(c.closing is None for c in conns.values())
    # ... twice in a row: the slowest socket goes first (4008), new sockets are refused
    ov.observe(1.5, now + 0.2)
    assert conns["slowest"].closing == (p.CLOSE_SLOW_CONSUMER, "overloaded") and not conns["slowest"].queue
    assert conns["slow"].closing is None and conns["fast"].closing is None
    assert gw.admit(_Socket().conn()) == "overloaded"
    ov.observe(1.5, now + 0.5)  # at most a shed_fraction per second
    assert conns["slow"].closing is None
    ov.observe(1.5, now + 1.3)  # still behind a second later: the next slowest
    assert conns["slow"].closing == (p.CLOSE_SLOW_CONSUMER, "overloaded") and conns["fast"].closing is None
    assert ov.sockets_shed == 2
    ov.observe(1.5, now + 2.4)  # still behind, but the socket left keeps up: closing it saves nothing
    assert conns["fast"].closing is None and ov.shedding_sockets and ov.sockets_shed == 2
    # caught up: sockets admitted again; typing back once the lag is under half the threshold
    ov.observe(0.2, now + 3.0)
    assert not ov.shedding_sockets and gw.fanout.shed_signals
    late = _Socket().conn()
    assert gw.admit(late) is None
    ov.observe(0.05, now + 3.1)
    assert not gw.fanout.shed_signals
    await publisher.publish(channel, _typing(channel))
    assert sum(f.startswith('{"type":"typing"') for f in fast.frames) == 2
    seqs = [msgspec.json.decode(f)["seq"] for f in fast.frames if f.startswith('{"type":"event"')]
    assert seqs == list(range(1, 10))  # the socket kept got every event, in order
    for c in (*conns.values(), late):
        await gw.detach(c)


async def test_a_subscribe_buffer_is_bounded_like_the_send_queue() -> None:
    gw, publisher = _gateway(send_queue=4)
    channel = f"team:{uuid.uuid4()}"
    s = _Socket()
    conn = s.conn()
    gw.admit(conn)
    conn.buffers[channel] = []  # mid-subscribe: history being read, live frames buffered
    await gw.fanout.acquire(channel, conn=conn)
    for n in range(4):
        await publisher.publish(channel, _event(channel, n))
    assert len(conn.buffers[channel]) == 4 and conn.closing is None
    await publisher.publish(channel, _event(channel, 4))
    assert conn.closing == (p.CLOSE_SLOW_CONSUMER, "slow consumer") and conn.buffers[channel] == []
    await gw.detach(conn)
    assert gw.feeds == {}


@pytest.mark.parametrize("kind", ["inprocess", "redis"] if REDIS_URL else ["inprocess"])
async def test_the_broker_knows_when_its_reader_is_behind(kind: str, redis_prefix: str) -> None:
    broker: Any = RedisBroker(REDIS_URL, redis_prefix) if kind == "redis" else InProcessBroker()  # type: ignore[arg-type]
    await broker.start()
    seen: list[float] = []

    async def slow_handler(channel: str, payload: bytes) -> None:
        seen.append(broker.behind(time.monotonic()))
        await asyncio.sleep(0.002)  # slower than the burst arrives

    _, pre, suf = frame_parts(_event("team:x", 0))  # type: ignore[misc]
    try:
        await broker.subscribe("team:x", slow_handler)
        if kind == "inprocess":  # publishing delivers in place: nothing ever waits in front of it
            for _ in range(50):
                await broker.publish("team:x", pre + b"1" + suf)
            assert seen == [0.0] * 50
            return
        await _until(lambda: broker._pubsub is not None
                     and (redis_prefix + "ch:team:x").encode() in broker._pubsub.channels)
        pipe = broker.client.pipeline()
        for _ in range(300):  # a burst, all at once
            pipe.publish(redis_prefix + "ch:team:x", pre + b"1" + suf)
        await pipe.execute()
        await _until(lambda: len(seen) == 300, timeout=30)
        assert max(seen) > 0  # during the burst it had input waiting
        await _until(lambda: broker.behind(time.monotonic()) == 0.0)  # caught up
        await broker.publish("team:x", pre + b"2" + suf)
        await _until(lambda: len(seen) == 301)
        assert seen[-1] == 0.0  # one message after a pause: nothing was waiting
    finally:
        await broker.stop()


@pytest.mark.parametrize("kind", ["redis"] if REDIS_URL else ["inprocess"])
async def test_a_reader_that_is_behind_still_lets_the_event_loop_run(kind: str, redis_prefix: str) -> None:
    """Reading input that is already buffered never yields by itself: a backlog would hold the
    event loop (every socket's writes, the overload monitor) until it is drained."""
    broker: Any = RedisBroker(REDIS_URL, redis_prefix) if kind == "redis" else InProcessBroker()  # type: ignore[arg-type]
    await broker.start()
    ticks = 0
    runs: list[int] = []  # messages handled in a row while the other task could not run
    last_tick = -1

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    async def busy_handler(channel: str, payload: bytes) -> None:
        nonlocal last_tick
        time.sleep(0.001)  # noqa: ASYNC251  (CPU-bound work per message, no await: a large fan-out)
        if ticks == last_tick:
            runs[-1] += 1
        else:
            runs.append(1)
            last_tick = ticks

    _, pre, suf = frame_parts(_event("team:y", 0))  # type: ignore[misc]
    task = asyncio.create_task(ticker())
    try:
        await broker.subscribe("team:y", busy_handler)
        if kind == "inprocess":  # publishing delivers in the publisher's own task: nothing to hold
            await _until(lambda: ticks > 0)
            for _ in range(50):
                await broker.publish("team:y", pre + b"1" + suf)
                await asyncio.sleep(0)
            assert max(runs) == 1
            return
        await _until(lambda: broker._pubsub is not None
                     and (redis_prefix + "ch:team:y").encode() in broker._pubsub.channels)
        pipe = broker.client.pipeline()
        for _ in range(600):
            pipe.publish(redis_prefix + "ch:team:y", pre + b"1" + suf)
        await pipe.execute()
        await _until(lambda: sum(runs) == 600, timeout=60)
        print(f"longest run of messages without the loop turning: {max(runs)} of 600")
        assert max(runs) < 100  # every ~5 ms the loop turns (without the yield: whole 64 KB reads)
    finally:
        task.cancel()
        await broker.stop()
