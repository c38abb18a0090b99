"""Graceful overload (realtime/overload.py, realtime/connection.py): queued frames to one socket go
out in one write, in order; when the instance falls behind it sheds typing and presence first,
then closes its slowest sockets with 4008 and refuses new ones until it has caught up; the Redis
reader knows when it is behind. Lags are fed to the monitor directly: no timing in these tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
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


class _Clock:
    """The gateway's clock, moved by the test (frames are stamped with it when they queue)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _gateway(clock: Any = time.monotonic, **cfg: Any) -> tuple[Gateway, RealtimePublisher]:
    broker, history = InProcessBroker(), InProcessHistory()
    gw = Gateway(broker, history, InProcessPresence(), GatewayConfig(**cfg), authorize=_allow, recheck=_noop,
                 clock=clock)
    return gw, RealtimePublisher(broker, history)


def _event(channel: str, n: int, at: str = "2026-01-01T00:00:00Z") -> bytes:
    return msgspec.json.encode({"channel": channel, "event": "announcement.created", "data": {"n": n}, "at": at})


def _ago(seconds: float) -> str:
    """An event's ``at``, ``seconds`` before now by the wall clock (how the emitting instance
    stamps it)."""
    return datetime.fromtimestamp(time.time() - seconds, UTC).isoformat().replace("+00:00", "Z")


def _late_reader(clock: _Clock, publisher: RealtimePublisher, channel: str,
                 ov: Any) -> Callable[[float, float], Awaitable[None]]:
    """``behind(t, age)``: at ``t``, the reader hands over an event ``age`` s after its publish,
    then the monitor looks."""
    n = 0

    async def behind(t: float, age: float) -> None:
        nonlocal n
        clock.t = t
        await publisher.publish(channel, _event(channel, n, at=_ago(age)))
        n += 1
        ov.observe(0.0, t)

    return behind


def _typing(channel: str) -> bytes:
    return p.encoder.encode(p.TypingFrame(channel=channel, contact_id=str(uuid.uuid4())))


# ---- coalescing --------------------------------------------------------------------------------------

async def test_frames_queued_while_behind_go_out_in_one_write_in_order() -> None:
    gw, _ = _gateway(send_queue=64)
    s = _Socket()
    conn = s.conn()
    gw.admit(conn)
    await _until(lambda: conn.writer is None)
    conn.enqueue("a")  # keeping up: one write, in place
    s.writable.clear()  # the peer fell behind: the transport paused
    for n in range(10):
        conn.enqueue(f"q{n}")
    assert s.writes == [["a"]] and conn.closing is None
    s.writable.set()
    await _until(lambda: conn.writer is None and not conn.queue)
    assert s.frames == ["a"] + [f"q{n}" for n in range(10)]  # nothing lost, nothing reordered
    assert len(s.writes) < 11  # the backlog left in fewer writes than frames
    assert any(len(w) > 1 for w in s.writes)
    assert conn.sent == 11
    await gw.detach(conn)


async def test_a_socket_has_a_writer_task_only_while_it_is_behind() -> None:
    """A socket that keeps up is written to in place: no writer task, no queue. Once it falls
    behind a writer is started, sends the backlog coalesced and in order, and ends when it has
    caught up (the queue released); the next backlog starts another, and a queue that overflows
    still closes the socket with 4008."""
    gw, publisher = _gateway(send_queue=8)
    channel = f"team:{uuid.uuid4()}"
    s = _Socket()
    conn = s.conn()
    assert gw.admit(conn) is None and await gw.subscribe(conn, channel)
    tasks_before = len(asyncio.all_tasks())
    for n in range(20):
        await publisher.publish(channel, _event(channel, n))
        assert conn.writer is None and conn.queue == () and conn._stamps is None
    assert len(asyncio.all_tasks()) == tasks_before
    assert [len(w) for w in s.writes] == [1] * 21  # subscribed + 20 events, one write each
    for episode in range(2):
        s.writable.clear()  # the peer stops reading
        for n in range(5):
            await publisher.publish(channel, _event(channel, n))
        writer = conn.writer
        assert writer is not None and not writer.done() and conn.backlog() == 5
        s.writable.set()
        await asyncio.wait_for(writer, 2)  # it ends once caught up
        assert conn.writer is None and conn.queue == () and conn._stamps is None, episode
        # the send that had to wait, then the 4 queued behind it in one write
        assert s.writes[-2:] == [s.frames[-5:-4], s.frames[-4:]], episode
    before = len(s.writes)
    await publisher.publish(channel, _event(channel, 99))
    assert len(s.writes) == before + 1 and conn.writer is None  # in place again
    s.writable.clear()
    for n in range(10):  # one send waiting, the bound of 8 queued, then one too many
        await publisher.publish(channel, _event(channel, n))
    assert conn.closing == (p.CLOSE_SLOW_CONSUMER, "slow consumer") and not conn.queue
    s.writable.set()
    assert conn.writer is not None
    await asyncio.wait_for(conn.writer, 2)
    assert s.closed == [p.CLOSE_SLOW_CONSUMER]
    seqs = [msgspec.json.decode(f)["seq"] for f in s.frames if f.startswith('{"type":"event"')]
    assert seqs == list(range(1, 33))  # up to the send that was waiting, in order, nothing twice
    await gw.detach(conn)


async def test_a_coalesced_write_stays_under_the_byte_budget() -> None:
    gw, _ = _gateway(send_queue=64, coalesce_bytes=100)
    s = _Socket()
    conn = s.conn()
    gw.admit(conn)
    await _until(lambda: conn.writer is None)
    s.writable.clear()
    conn.enqueue("first")  # in flight (the ASGI send waits)
    texts = ["x" * 40 + str(n) for n in range(9)]
    for text in texts:
        conn.enqueue(text)
    s.writable.set()
    await _until(lambda: not conn.queue and conn.writer is None)
    assert s.frames == ["first", *texts]
    assert all(sum(map(len, w)) <= 100 or len(w) == 1 for w in s.writes)
    assert max(len(w) for w in s.writes) == 2
    await gw.detach(conn)


# ---- shedding order ----------------------------------------------------------------------------------

async def test_overload_sheds_typing_first_then_the_sockets_over_the_bound_oldest_first() -> None:
    """Typing goes first; then only sockets whose oldest unsent frame is older than the bound are
    closed, the oldest first, a shed_fraction per second — never one within the bound, however
    much it has queued; once nobody is over the bound new sockets are admitted again."""
    clock = _Clock(100.0)
    gw, publisher = _gateway(clock, send_queue=200, shed_fraction=0.25, shed_signals_after=0.25,
                             shed_sockets_after=1.0)
    channel = f"team:{uuid.uuid4()}"
    socks = {name: _Socket() for name in ("fast", "big", "old", "older")}
    conns = {}
    for name, s in socks.items():
        conns[name] = c = s.conn()
        assert gw.admit(c) is None
        assert await gw.subscribe(c, channel)
        await _until(lambda c=c: c.writer is None)

    async def publish(n: int) -> None:
        await publisher.publish(channel, _event(channel, n))

    clock.t = 99.9
    socks["older"].writable.clear()  # stops reading first
    await publish(0)
    clock.t = 100.0
    socks["old"].writable.clear()
    await publish(1)
    assert conns["older"].queue_age(100.5) == pytest.approx(0.6)  # its oldest frame counts

    ov = gw.overload
    await publisher.publish(channel, _typing(channel))
    assert sum(f.startswith('{"type":"typing"') for f in socks["fast"].frames) == 1  # not overloaded
    # 1. a quarter second behind, twice in a row: typing (and presence) no longer delivered
    ov.observe(0.3, 100.5)
    assert not gw.fanout.shed_signals  # one late observation is not an overload
    ov.observe(0.3, 100.6)
    assert gw.fanout.shed_signals and not ov.shedding_sockets  # nobody's frames a second old yet
    assert all(c.closing is None for c in conns.values())
    clock.t = 100.6
    await publisher.publish(channel, _typing(channel))
    await publish(2)
    assert sum(f.startswith('{"type":"typing"') for f in socks["fast"].frames) == 1
    assert msgspec.json.decode(socks["fast"].frames[-1])["seq"] == 3
    # 2. two sockets over the bound, a budget of one per second: the oldest first, 4008
    ov.observe(1.5, 101.05)
    assert conns["older"].closing == (p.CLOSE_SLOW_CONSUMER, "overloaded") and not conns["older"].queue
    assert conns["old"].closing is None and conns["big"].closing is None and conns["fast"].closing is None
    assert ov.shedding_sockets and gw.admit(_Socket().conn()) == "overloaded"
    clock.t = 101.5
    socks["big"].writable.clear()  # stops reading last, and gets the most queued
    for n in range(3, 13):
        await publish(n)
    assert conns["big"].backlog() == 10 and conns["fast"].backlog() == 0
    ov.observe(1.5, 101.5)  # at most a shed_fraction per second
    assert conns["old"].closing is None
    ov.observe(1.5, 102.4)  # the budget is back: the next oldest over the bound
    assert conns["old"].closing == (p.CLOSE_SLOW_CONSUMER, "overloaded")
    assert conns["big"].queue_age(102.4) == pytest.approx(0.9)  # within the bound: kept
    assert conns["big"].closing is None and ov.sockets_shed == 2
    # 3. the big backlog drains: its age falls with it, and it is never closed
    socks["big"].writable.set()
    await _until(lambda: not conns["big"].queue and conns["big"].writer is None)
    assert conns["big"].queue_age(102.5) == 0.0
    for t in (103.0, 104.0, 105.0):
        ov.observe(1.5, t)  # the instance still late, but nobody's frames are over the bound
        assert conns["big"].closing is None and conns["fast"].closing is None and not ov.shedding_sockets
    assert ov.sockets_shed == 2
    late = _Socket().conn()
    assert gw.admit(late) is None  # nobody over the bound: sockets admitted again
    ov.observe(0.05, 105.1)
    assert not gw.fanout.shed_signals
    await publisher.publish(channel, _typing(channel))
    assert sum(f.startswith('{"type":"typing"') for f in socks["fast"].frames) == 2
    for name in ("fast", "big"):  # the sockets kept got every event, in order
        seqs = [msgspec.json.decode(f)["seq"] for f in socks[name].frames if f.startswith('{"type":"event"')]
        assert seqs == list(range(1, 14)), name
    for c in (*conns.values(), late):
        await gw.detach(c)


async def test_a_socket_within_the_bound_is_never_closed_for_overload() -> None:
    """However long the instance stays overloaded and however full its queue, a socket whose
    oldest unsent frame is younger than the bound is kept; it is closed the moment that frame's
    age reaches the bound."""
    clock = _Clock(0.0)
    gw, publisher = _gateway(clock, send_queue=1000, shed_fraction=1.0, shed_signals_after=0.25,
                             shed_sockets_after=2.0)
    channel = f"team:{uuid.uuid4()}"
    s = _Socket()
    conn = s.conn()
    assert gw.admit(conn) is None and await gw.subscribe(conn, channel)
    await _until(lambda: conn.writer is None)
    ov = gw.overload
    n = most = 0
    for step in range(40):  # 20 s of overload; the peer reads in bursts every 1.5 s
        clock.t = step * 0.5
        if step % 3 == 0:
            s.writable.set()
            await _until(lambda: not conn.queue and conn._inflight is None and conn.writer is None)
            s.writable.clear()
        for _ in range(20):
            await publisher.publish(channel, _event(channel, n))
            n += 1
        ov.observe(5.0, clock.t)  # the instance far behind all along
        assert conn.closing is None, f"closed at t={clock.t} with its oldest frame {conn.queue_age(clock.t)}s old"
        assert conn.queue_age(clock.t) < 2.0
        most = max(most, len(conn.queue))
    assert ov.sockets_shed == 0 and most >= 50  # up to 60 frames queued at times: kept all along
    clock.t += 2.0  # the peer stops reading: its oldest frame reaches the bound
    ov.observe(5.0, clock.t)
    assert conn.closing == (p.CLOSE_SLOW_CONSUMER, "overloaded") and ov.sockets_shed == 1
    await gw.detach(conn)


async def test_events_that_arrive_late_shed_sockets_that_keep_up_and_stop_once_they_are_fresh() -> None:
    """When the lateness is in front of the sockets (the reader hands events over seconds after
    their publish: Redis holds the backlog), sockets that keep up see that latency too: they are
    over the bound, and shedding some is what saves work. Fresh events again: shedding stops.
    Events read late on purpose (the outbox after an outage, history after a gap) are no lag."""
    clock = _Clock(10.0)
    gw, publisher = _gateway(clock, shed_fraction=0.25, shed_signals_after=0.25, shed_sockets_after=1.0)
    channel = f"team:{uuid.uuid4()}"
    socks = [_Socket() for _ in range(3)]
    conns = [s.conn() for s in socks]
    for c in conns:
        assert gw.admit(c) is None and await gw.subscribe(c, channel)
        await _until(lambda c=c: c.writer is None)
    idle = _Socket().conn()  # subscribed to nothing: nothing of it is late
    assert gw.admit(idle) is None
    ov = gw.overload
    await publisher.publish(channel, _event(channel, 0, at=_ago(7200)))  # an outbox event, 2 h late
    ov.observe(0.0, 10.1)
    ov.observe(0.0, 10.2)
    assert ov.lag == 0.0 and not gw.fanout.shed_signals and ov.sockets_shed == 0
    await publisher.publish(channel, _event(channel, 1, at=_ago(5.0)))  # read 5 s after its publish
    assert all(c.queue_age(10.2) == 0.0 for c in conns)  # every socket kept up with the reader
    ov.observe(0.0, 10.3)
    ov.observe(0.0, 10.4)
    assert ov.lag >= 5.0 and gw.fanout.shed_signals
    assert ov.sockets_shed == 1 and sum(c.closing is not None for c in conns) == 1  # a quarter per second
    assert idle.closing is None and gw.admit(_Socket().conn()) == "overloaded"
    clock.t = 10.5
    await publisher.publish(channel, _event(channel, 2, at=_ago(0.0)))  # caught up: fresh again
    ov.observe(0.0, 10.6)
    assert ov.lag < 1.0 and not ov.shedding_sockets and ov.sockets_shed == 1
    assert sum(c.closing is not None for c in conns) == 1 and gw.admit(_Socket().conn()) is None
    for c in (*conns, idle):
        await gw.detach(c)


async def test_no_socket_is_closed_while_the_lag_already_falls_fast_enough() -> None:
    """Ages are measured from publish times, so they stay over the bound for a while after enough
    sockets were closed. While the lag falls fast enough to be under the bound within the horizon
    (1 s), shedding holds; when it stops falling, shedding goes on."""
    clock = _Clock(10.0)
    gw, publisher = _gateway(clock, shed_fraction=1 / 6, shed_signals_after=0.25, shed_sockets_after=1.0)
    channel = f"team:{uuid.uuid4()}"
    conns = [_Socket().conn() for _ in range(6)]
    for c in conns:
        assert gw.admit(c) is None and await gw.subscribe(c, channel)
        await _until(lambda c=c: c.writer is None)
    ov = gw.overload
    behind = _late_reader(clock, publisher, channel, ov)

    await behind(10.0, 3.0)
    await behind(10.3, 3.0)  # 3 s behind and not falling: one socket a second goes
    assert ov.sockets_shed == 1 and ov.holds == 0
    for t, age in ((10.55, 2.5), (10.8, 2.0), (11.05, 1.5), (11.3, 1.2), (11.55, 1.1)):
        await behind(t, age)  # falling ~2 s per second: under the bound within a second
        assert ov.lag > 1.0 and ov.shedding_sockets  # still over the bound (new sockets refused)
    assert ov.sockets_shed == 1 and ov.holds >= 2  # the budget was back at 11.3 s: held, not spent
    await behind(12.05, 1.1)  # no longer falling, still over the bound: shedding goes on
    assert ov.sockets_shed == 2
    assert sum(c.closing == (p.CLOSE_SLOW_CONSUMER, "overloaded") for c in conns) == 2
    for c in conns:
        await gw.detach(c)


async def _twenty_behind(clock: _Clock) -> tuple[Gateway, list[Connection], Any]:
    """A gateway with 20 sockets on one channel, a budget of 5 % a second, and ``behind`` (``_late_reader``)."""
    gw, publisher = _gateway(clock, shed_fraction=0.05, shed_signals_after=0.25, shed_sockets_after=1.0)
    channel = f"team:{uuid.uuid4()}"
    conns = [_Socket().conn() for _ in range(20)]
    for c in conns:
        assert gw.admit(c) is None and await gw.subscribe(c, channel)
        await _until(lambda c=c: c.writer is None)
    return gw, conns, _late_reader(clock, publisher, channel, gw.overload)


async def test_a_lag_rising_at_a_steady_rate_sheds_what_it_says_in_one_step_then_waits_for_its_effect() -> None:
    """A lag rising 0.4 s per second: the instance delivers 0.6 of what arrives. One step closes
    enough of the sockets past the bound to deliver more than arrives (the surplus drains the lag
    within DRAIN_HORIZON), the oldest first; no further step before the trend is measured afresh;
    then, the lag falling, nothing more. A stall (the lag jumping faster than time) is no rate."""
    from realtime.overload import DRAIN_HORIZON

    clock = _Clock(9.0)
    gw, conns, behind = await _twenty_behind(clock)
    idle = _Socket().conn()  # subscribed to nothing: never past the bound
    assert gw.admit(idle) is None
    ov = gw.overload

    await behind(9.6, 1.04)
    await behind(9.7, 1.08)  # two late observations: the budget (1 a second) closes one
    assert ov.sockets_shed == 1 and ov.steps == 0
    await behind(9.8, 1.12)  # a trend over 0.2 s only: too short to size a step by
    assert ov.sockets_shed == 1 and ov.steps == 0
    await behind(9.9, 1.16)
    keep = (1 - 0.4) / (1 + (1.16 - 1.0) / DRAIN_HORIZON)
    assert ov.steps == 1 and ov.sockets_shed == 1 + int(19 * (1 - keep)) == 9
    closed = [c for c in conns if c.closing is not None]
    assert all(c.closing == (p.CLOSE_SLOW_CONSUMER, "overloaded") for c in closed) and idle.closing is None
    for t, age in ((10.0, 1.2), (10.1, 1.24), (10.2, 1.28), (10.3, 1.3)):
        await behind(t, age)  # what arrived before the step is still read late: no second step
    assert ov.steps == 1 and ov.sockets_shed == 9
    for t, age in ((10.4, 1.1), (10.5, 0.95), (10.6, 0.7)):
        await behind(t, age)  # falling: the step was enough
    assert ov.steps == 1 and ov.sockets_shed == 9 and not ov.shedding_sockets
    assert gw.admit(_Socket().conn()) is None
    for i, t in enumerate((11.0, 11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 11.7, 11.8)):
        await behind(t, 0.5 + i)  # a stall: the lag rises 10 s per second — no step, the budget only
    assert ov.steps == 1 and ov.sockets_shed == 10  # 0.6 a second (5 % of 12) since the step
    for c in (*conns, idle):
        await gw.detach(c)


async def test_a_rise_measured_across_a_stall_of_the_loop_sizes_no_step() -> None:
    """The monitor runs on the event loop: during a stall nobody observes. A rise from before the
    stall to after it (0.38 s per second here) is no rate: the budget path only."""
    clock = _Clock(9.0)
    gw, conns, behind = await _twenty_behind(clock)
    ov = gw.overload
    for t in (10.0, 10.1, 10.2, 10.3):
        await behind(t, 1.2)  # over the bound, not rising: the budget closes one
    assert ov.steps == 0 and ov.sockets_shed == 1
    await behind(12.4, 2.0)  # two seconds without an observation
    await behind(12.5, 2.0)
    assert ov.steps == 0 and ov.sockets_shed == 2  # the budget refilled by one: nothing more
    for c in conns:
        await gw.detach(c)


async def test_a_step_that_did_not_slow_the_rise_is_not_repeated() -> None:
    """After a step the lag rises as fast as before (the work is per event, not per socket):
    closing more would not help either, so no second step — the budget path only."""
    clock = _Clock(9.0)
    gw, conns, behind = await _twenty_behind(clock)
    ov = gw.overload
    t, age = 9.6, 1.04
    while t < 9.95:
        await behind(t, age)
        t, age = round(t + 0.1, 2), age + 0.04  # 0.4 s per second
    assert ov.steps == 1 and ov.sockets_shed == 9
    while t < 12.0:  # still 0.4 s per second after the step
        await behind(t, age)
        t, age = round(t + 0.1, 2), age + 0.04
    assert ov.steps == 1
    assert 9 < ov.sockets_shed <= 9 + 2  # the budget: 5 % a second of the 11 left
    for c in conns:
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
