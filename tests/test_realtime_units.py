"""Realtime pieces in-process: the wire protocol (every frame), the publisher's stamping and
history (in-process and, when configured, Redis), and the bounded send queue."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from domain.events import Event
from realtime import protocol as p
from realtime.broker import InProcessBroker
from realtime.gateway import Connection, Gateway, GatewayConfig
from realtime.history import InProcessHistory, RealtimePublisher, RedisHistory
from realtime.presence import InProcessPresence
from tests.conftest import REDIS_URL

# ---- protocol --------------------------------------------------------------------------------------

CLIENT_FRAMES = [
    ('{"op":"subscribe","channel":"hub:1"}', p.Subscribe(channel="hub:1")),
    ('{"op":"subscribe","channel":"hub:1","since":41,"epoch":"ab12"}', p.Subscribe(channel="hub:1", since=41, epoch="ab12")),
    ('{"op":"unsubscribe","channel":"hub:1"}', p.Unsubscribe(channel="hub:1")),
    ('{"op":"typing","channel":"discussion:1"}', p.Typing(channel="discussion:1")),
    ('{"op":"presence"}', p.PresenceQuery()),
    ('{"op":"ping"}', p.Ping()),
    ('{"op":"auth","token":"t"}', p.Auth(token="t")),
]


@pytest.mark.parametrize(("raw", "frame"), CLIENT_FRAMES)
def test_client_frames_decode(raw: str, frame: Any) -> None:
    assert p.client_decoder.decode(raw) == frame


@pytest.mark.parametrize("raw", ['{"op":"nope"}', '{"channel":"x"}', '{"op":"subscribe"}', "[]",
                                 '{"op":"ping","extra":1}', '{"op":"subscribe","channel":"x","since":"a"}'])
def test_bad_client_frames_are_refused(raw: str) -> None:
    with pytest.raises(msgspec.DecodeError):
        p.client_decoder.decode(raw)


SERVER_FRAMES = [
    (p.Subscribed(channel="hub:1", seq=3, epoch="e"), {"type": "subscribed", "channel": "hub:1", "seq": 3, "epoch": "e"}),
    (p.Subscribed(channel="hub:1", seq=3, epoch="e", recovered=False),
     {"type": "subscribed", "channel": "hub:1", "seq": 3, "epoch": "e", "recovered": False}),
    (p.EventFrame(channel="hub:1", seq=4, event="x.y", data={"a": 1}, at="2026-01-01T00:00:00Z"),
     {"type": "event", "channel": "hub:1", "seq": 4, "event": "x.y", "data": {"a": 1}, "at": "2026-01-01T00:00:00Z"}),
    (p.PresenceFrame(channel="hub:1", joined="c"), {"type": "presence", "channel": "hub:1", "joined": "c"}),
    (p.PresenceFrame(channel="hub:1", left="c"), {"type": "presence", "channel": "hub:1", "left": "c"}),
    (p.PresenceFrame(channel="hub:1", online=["c"]), {"type": "presence", "channel": "hub:1", "online": ["c"]}),
    (p.TypingFrame(channel="discussion:1", contact_id="c"), {"type": "typing", "channel": "discussion:1", "contact_id": "c"}),
    (p.ErrorFrame(code="forbidden", message="m", channel="team:1"),
     {"type": "error", "code": "forbidden", "message": "m", "channel": "team:1"}),
    (p.ErrorFrame(code="bad_frame", message="m"), {"type": "error", "code": "bad_frame", "message": "m"}),
    (p.Pong(), {"type": "pong"}),
    (p.Closing(code=1012, reason="server restarting"), {"type": "closing", "code": 1012, "reason": "server restarting"}),
    (p.Unsubscribed(channel="hub:1"), {"type": "unsubscribed", "channel": "hub:1"}),
]


@pytest.mark.parametrize(("frame", "wire"), SERVER_FRAMES)
def test_server_frames_encode_and_round_trip(frame: Any, wire: dict[str, Any]) -> None:
    text = p.encode(frame)
    assert msgspec.json.decode(text) == wire
    assert p.server_decoder.decode(text) == frame


def test_close_codes() -> None:
    assert (p.CLOSE_UNAUTHENTICATED, p.CLOSE_FORBIDDEN, p.CLOSE_SLOW_CONSUMER, p.CLOSE_RATE_LIMITED,
            p.CLOSE_BAD_FRAME, p.CLOSE_SERVER_RESTART) == (4401, 4403, 4008, 4029, 4400, 1012)


# ---- publisher and history ----------------------------------------------------------------------------


def raw_event(channel: str, n: int) -> bytes:
    return msgspec.json.encode(Event(channel=channel, event="announcement.created", data={"n": n},
                                     at=datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.fixture(params=["inprocess", "redis"] if REDIS_URL else ["inprocess"])
async def history(request: Any, redis_prefix: str) -> Any:
    if request.param == "inprocess":
        yield InProcessHistory(max_len=5)
        return
    import redis.asyncio as redis

    r = redis.Redis.from_url(REDIS_URL)
    yield RedisHistory(r, redis_prefix + uuid.uuid4().hex[:6] + ":", max_len=5)
    await r.aclose()


async def test_publisher_stamps_once_and_history_replays(history: Any) -> None:
    broker = InProcessBroker()
    got: list[bytes] = []

    async def listen(channel: str, payload: bytes) -> None:
        got.append(payload)

    channel = f"hub:{uuid.uuid4()}"
    await broker.subscribe(channel, listen)
    publisher = RealtimePublisher(broker, history)
    for n in range(1, 8):  # published with nobody resuming: history keeps the last 5
        await publisher.publish(channel, raw_event(channel, n))
    frames = [msgspec.json.decode(g) for g in got]
    assert [f["seq"] for f in frames] == list(range(1, 8))
    assert frames[0] == {"type": "event", "channel": channel, "seq": 1, "event": "announcement.created",
                         "data": {"n": 1}, "at": "2026-01-01T00:00:00Z"}
    state = await history.replay(channel)
    assert state.seq == 7 and state.frames is None
    ok = await history.replay(channel, since=4, epoch=state.epoch)
    assert [s for s, _ in ok.frames] == [5, 6, 7] and ok.frames[0][1] == got[4]
    assert (await history.replay(channel, since=7, epoch=state.epoch)).frames == []
    assert (await history.replay(channel, since=1, epoch=state.epoch)).frames is None  # trimmed away
    assert (await history.replay(channel, since=4, epoch="other")).frames is None
    # other channels pass through untouched
    await broker.subscribe("access:invalidate", listen)
    await publisher.publish("access:invalidate", b'{"hub_id":"x"}')
    assert got[-1] == b'{"hub_id":"x"}'


async def test_history_is_bounded_per_channel_and_forgets_idle_channels() -> None:
    h = InProcessHistory(max_len=3, max_age=0.0)
    for i in range(50):
        await h.stamp(f"space:{i}", b"a", b"b")
    assert len(h) == 50
    h._channels = {k: v for k, v in h._channels.items()}
    for st in h._channels.values():
        st.touched -= 10_000
    h.sweep()
    assert len(h) == 0


# ---- fan-out and backpressure ----------------------------------------------------------------------------


async def _allow(conn: Any, ch: Any) -> None:
    return None


async def _noop(conns: Any) -> None:
    return None


def make_conn(sent: list[str], closed: list[int], gate: asyncio.Event | None = None) -> Connection:
    async def send(text: str) -> None:
        if gate is not None:
            await gate.wait()
        sent.append(text)

    async def close(code: int, reason: str) -> None:
        closed.append(code)

    return Connection(kind="staff", send=send, close_transport=close, team_id=uuid.uuid4())


async def test_slow_consumer_is_cut_off_while_others_keep_receiving_and_memory_stays_bounded() -> None:
    broker, history = InProcessBroker(), InProcessHistory()
    gw = Gateway(broker, history, InProcessPresence(), GatewayConfig(send_queue=8), authorize=_allow, recheck=_noop)
    publisher = RealtimePublisher(broker, history)
    channel = f"team:{uuid.uuid4()}"
    fast_sent: list[str] = []
    slow_sent: list[str] = []
    closed_fast: list[int] = []
    closed_slow: list[int] = []
    gate = asyncio.Event()  # the slow socket's first send never completes until we open the gate
    fast, slow = make_conn(fast_sent, closed_fast), make_conn(slow_sent, closed_slow, gate)
    for c in (fast, slow):
        assert gw.admit(c) is None
        assert await gw.subscribe(c, channel)
    for n in range(40):
        await publisher.publish(channel, raw_event(channel, n))
        await asyncio.sleep(0)
        assert len(slow.queue) <= 8  # never grows past the bound
    assert slow.closing == (4008, "slow consumer")
    await asyncio.wait_for(_until(lambda: len(fast_sent) == 41), 2)  # subscribed + 40 events
    assert [msgspec.json.decode(t)["seq"] for t in fast_sent[1:]] == list(range(1, 41))
    gate.set()
    await asyncio.wait_for(slow.writer, 2)  # type: ignore[arg-type]
    assert closed_slow == [4008] and closed_fast == []
    await gw.detach(slow)
    await gw.detach(fast)
    assert gw.feeds == {}  # nothing left behind for the channel


async def test_feed_drops_duplicates_and_fills_gaps_from_history() -> None:
    broker, history = InProcessBroker(), InProcessHistory()
    gw = Gateway(broker, history, InProcessPresence(), authorize=_allow, recheck=_noop)
    channel = f"team:{uuid.uuid4()}"
    sent: list[str] = []
    conn = make_conn(sent, [])
    gw.admit(conn)
    await gw.subscribe(conn, channel)
    frames = []
    for n in range(1, 4):  # stamped and stored, but the broker "lost" 1 and 2 (a Redis reconnect)
        from realtime.history import frame_parts

        _, pre, suf = frame_parts(raw_event(channel, n))  # type: ignore[misc]
        frames.append((await history.stamp(channel, pre, suf))[1])
    await broker.publish(channel, frames[2])
    await broker.publish(channel, frames[1])  # late duplicate
    await asyncio.wait_for(_until(lambda: len(sent) == 4), 2)
    assert [msgspec.json.decode(t).get("seq") for t in sent] == [0, 1, 2, 3]
    await gw.detach(conn)


async def _until(pred: Any) -> None:
    while not pred():
        await asyncio.sleep(0.01)
