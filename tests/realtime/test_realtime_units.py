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
from realtime.history import InProcessHistory, RealtimePublisher, RedisHistory, frame_parts
from realtime.presence import InProcessPresence
from tests.support.backends import REDIS_URL

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


async def stamped(history: Any, channel: str, payload: bytes) -> bytes:
    """``payload`` (an Event) stamped and stored in ``history`` without going through a broker —
    as if this instance's reader had not read its PUBLISH yet; the stamped frame."""
    parts = frame_parts(payload)
    assert parts is not None
    return (await history.stamp(channel, parts[1], parts[2]))[1]


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
        frames.append(await stamped(history, channel, raw_event(channel, n)))
    await broker.publish(channel, frames[2])
    await broker.publish(channel, frames[1])  # late duplicate
    await asyncio.wait_for(_until(lambda: len(sent) == 4), 2)
    assert [msgspec.json.decode(t).get("seq") for t in sent] == [0, 1, 2, 3]
    await gw.detach(conn)


async def _until(pred: Any) -> None:
    while not pred():
        await asyncio.sleep(0.01)


class _Transport:
    """Like uvicorn's WebSocket send: completes without suspending while the transport accepts
    data, waits on ``writable`` while it is paused."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: list[int] = []
        self.abandoned = 0
        self.writable = asyncio.Event()
        self.writable.set()

    async def send(self, text: str) -> None:
        try:
            await self.writable.wait()
        except asyncio.CancelledError:
            self.abandoned += 1
            raise
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed.append(code)

    def conn(self) -> Connection:
        return Connection(kind="staff", send=self.send, close_transport=self.close, team_id=uuid.uuid4())


async def _idle(conn: Connection) -> None:
    await asyncio.wait_for(_until(lambda: conn.writer is None), 2)


async def test_a_socket_that_keeps_up_is_sent_to_in_place_without_queueing() -> None:
    gw = Gateway(InProcessBroker(), InProcessHistory(), InProcessPresence(), authorize=_allow, recheck=_noop)
    t = _Transport()
    conn = t.conn()
    gw.admit(conn)
    await _idle(conn)
    for n in range(5):
        conn.enqueue(f"f{n}")
        assert t.sent[-1] == f"f{n}"  # sent within the call: no queue, no writer wake-up
    assert not conn.queue and conn.sent == 5 and conn.writer is None
    await gw.detach(conn)


async def test_a_send_that_must_wait_is_finished_by_the_writer_and_order_is_kept() -> None:
    gw = Gateway(InProcessBroker(), InProcessHistory(), InProcessPresence(), GatewayConfig(send_queue=4),
                 authorize=_allow, recheck=_noop)
    t = _Transport()
    conn = t.conn()
    gw.admit(conn)
    await _idle(conn)
    conn.enqueue("a")
    t.writable.clear()  # the peer stopped reading: the transport paused writing
    conn.enqueue("b")  # suspended: handed to the writer
    for text in ("c", "d", "e"):
        conn.enqueue(text)  # behind: these queue
    await asyncio.sleep(0.01)
    assert t.sent == ["a"] and list(conn.queue) == ["c", "d", "e"] and conn.closing is None
    t.writable.set()
    await _idle(conn)
    assert t.sent == ["a", "b", "c", "d", "e"]
    conn.enqueue("f")  # caught up: direct again
    assert t.sent[-1] == "f"
    t.writable.clear()
    for n in range(6):  # one in flight + the bound of 4, then one too many
        conn.enqueue(f"g{n}")
    assert conn.closing == (4008, "slow consumer") and not conn.queue
    await gw.detach(conn)


async def test_a_send_stuck_past_the_timeout_is_abandoned_and_the_socket_closed() -> None:
    gw = Gateway(InProcessBroker(), InProcessHistory(), InProcessPresence(), GatewayConfig(send_timeout=0.2),
                 authorize=_allow, recheck=_noop)
    await gw.start()
    try:
        t = _Transport()
        conn = t.conn()
        gw.admit(conn)
        await _idle(conn)
        t.writable.clear()
        conn.enqueue("stuck")
        conn.enqueue("queued")
        await asyncio.wait_for(conn.writer, 3)  # type: ignore[arg-type]
        assert conn.stalled and t.closed == [4008] and t.abandoned == 1 and t.sent == []
        assert conn not in gw.connections  # released at once
    finally:
        await gw.stop()


async def test_a_direct_send_to_a_gone_peer_ends_the_socket() -> None:
    gw = Gateway(InProcessBroker(), InProcessHistory(), InProcessPresence(), authorize=_allow, recheck=_noop)

    async def send(text: str) -> None:
        raise ConnectionResetError

    closed: list[int] = []

    async def close(code: int, reason: str) -> None:
        closed.append(code)

    conn = Connection(kind="staff", send=send, close_transport=close, team_id=uuid.uuid4())
    gw.admit(conn)
    await _idle(conn)
    ended = conn.ended_future()
    conn.enqueue("x")
    assert conn.closing == (1000, "gone")
    await asyncio.wait_for(ended, 1)
    conn.enqueue("y")  # ignored: the socket is closing
    assert not conn.queue
    await gw.detach(conn)


async def test_the_transports_shortcut_is_used_while_it_can_and_send_otherwise_in_order() -> None:
    gw = Gateway(InProcessBroker(), InProcessHistory(), InProcessPresence(), authorize=_allow, recheck=_noop)
    t = _Transport()
    written: list[str] = []
    shortcut = {"open": True}

    def write(text: str) -> bool:  # like server/uvicorn_io.py: refuses rather than waits
        if not shortcut["open"]:
            return False
        written.append(text)
        return True

    conn = Connection(kind="staff", send=t.send, close_transport=t.close, write=write, team_id=uuid.uuid4())
    gw.admit(conn)
    await _idle(conn)
    conn.enqueue("a")
    shortcut["open"] = False  # e.g. the transport paused: the ASGI send takes over (and may wait)
    t.writable.clear()
    conn.enqueue("b")
    conn.enqueue("c")
    assert written == ["a"] and t.sent == [] and list(conn.queue) == ["c"]
    t.writable.set()
    shortcut["open"] = True
    await _idle(conn)
    assert written == ["a"] and t.sent == ["b", "c"]  # nothing overtook "b"
    conn.enqueue("d")
    assert written == ["a", "d"] and conn.sent == 4
    await gw.detach(conn)


@pytest.fixture(params=["inprocess", "redis"] if REDIS_URL else ["inprocess"])
async def presence(request: Any, redis_prefix: str) -> Any:
    if request.param == "inprocess":
        yield InProcessPresence()
        return
    import redis.asyncio as redis

    from realtime.presence import RedisPresence

    r = redis.Redis.from_url(REDIS_URL)
    yield RedisPresence(r, redis_prefix + uuid.uuid4().hex[:6] + ":")
    await r.aclose()


async def test_presence_bounds_a_members_sockets_and_counts_devices_once(presence: Any) -> None:
    hub, member, other = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    assert await presence.join(hub, member, "s1", limit=2) is True  # first device: came online
    assert await presence.join(hub, member, "s2", limit=2) is False  # another device
    assert await presence.join(hub, member, "s3", limit=2) is None  # refused: nothing added
    assert await presence.join(hub, member, "s2", limit=2) is False  # a socket already counted may re-join
    assert await presence.join(hub, other, "t1", limit=2) is True  # limits are per member
    assert await presence.online(hub) == sorted([member, other])
    assert await presence.leave(hub, member, "s1") is False  # s2 is still there (s3 never was)
    assert await presence.join(hub, member, "s3", limit=2) is False  # room again
    assert await presence.leave(hub, member, "s2") is False
    assert await presence.leave(hub, member, "s3") is True  # went offline
    assert await presence.online(hub) == [other]
    # refresh (the heartbeat) re-adds without a limit: a socket is never dropped by its own refresh
    await presence.refresh([(hub, member, "r1"), (hub, member, "r2"), (hub, member, "r3")])
    assert await presence.join(hub, member, "r4", limit=3) is None


async def test_a_member_over_the_limit_on_every_instance_is_refused_at_attach() -> None:
    presence = InProcessPresence()  # stands for the shared Redis: the other instance's sockets
    gw = Gateway(InProcessBroker(), InProcessHistory(), presence, GatewayConfig(max_sockets_per_member=2),
                 authorize=_allow, recheck=_noop)
    hub, contact = uuid.uuid4(), uuid.uuid4()
    await presence.join(str(hub), str(contact), "elsewhere-1")
    t = _Transport()
    here = Connection(kind="member", send=t.send, close_transport=t.close, hub_id=hub, contact_id=contact)
    assert gw.admit(here) is None and await gw.attach(here) is None  # 2 of 2
    t2 = _Transport()
    extra = Connection(kind="member", send=t2.send, close_transport=t2.close, hub_id=hub, contact_id=contact)
    assert gw.admit(extra) is None  # this instance alone has room
    assert await gw.attach(extra) == "too_many_sockets"
    await gw.detach(extra)
    assert sorted(presence._live(str(hub), str(contact))) == sorted(["elsewhere-1", here.id])
    await gw.detach(here)
    assert list(presence._live(str(hub), str(contact))) == ["elsewhere-1"]


def ban_event(channel: str, hub: uuid.UUID, contact: uuid.UUID) -> bytes:
    return msgspec.json.encode(Event(channel=channel, event="member.banned",
                                     data={"hub_id": str(hub), "contact_id": str(contact), "status": "banned"},
                                     at=datetime(2026, 1, 1, tzinfo=UTC)))


async def test_catch_up_sends_what_history_holds_before_the_live_copy_arrives_and_only_once() -> None:
    """With sharded Redis the member.banned event (on the contact channel's node) and the access
    invalidation that closes the socket (on another node) reach an instance on two connections, in
    either order: before closing, the gateway sends the member what its contact channel's history
    holds beyond what it was sent — the live copy that arrives afterwards is not sent again."""
    broker, history = InProcessBroker(), InProcessHistory()
    gw = Gateway(broker, history, InProcessPresence(), authorize=_allow, recheck=_noop)
    hub, contact = uuid.uuid4(), uuid.uuid4()
    mine, space = f"contact:{contact}", f"space:{uuid.uuid4()}"
    t = _Transport()
    conn = Connection(kind="member", send=t.send, close_transport=t.close, hub_id=hub, contact_id=contact)
    assert await gw.open(conn) is None
    assert await gw.subscribe(conn, mine) and await gw.subscribe(conn, space)
    publisher = RealtimePublisher(broker, history)
    await publisher.publish(mine, raw_event(mine, 1))  # delivered live: seq 1
    await asyncio.wait_for(_until(lambda: len(t.sent) == 3), 2)
    late = []
    for channel, payload in ((mine, ban_event(mine, hub, contact)), (space, raw_event(space, 2))):
        late.append(await stamped(history, channel, payload))  # in history; not read live yet
    await gw.catch_up(conn)
    conn.close(4403, "banned", p.error("banned", "You are banned from this hub."))
    await broker.publish(mine, late[0])  # the live copy, late: a duplicate
    await asyncio.wait_for(_until(lambda: t.closed), 2)
    frames = [msgspec.json.decode(s) for s in t.sent]
    assert [(f["type"], f.get("channel"), f.get("seq")) for f in frames] == [
        ("subscribed", mine, 0), ("subscribed", space, 0), ("event", mine, 1),
        ("event", mine, 2),  # the ban, from history, before the close
        ("error", None, None),
    ]  # only the contact channel is caught up: the space's event was not asked for
    assert frames[3]["event"] == "member.banned" and t.closed == [4403]
    await gw.detach(conn)


async def test_catch_up_with_history_away_or_silent_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Gone(InProcessHistory):
        async def replay(self, channel: str, since: int | None = None, epoch: str | None = None) -> Any:
            raise ConnectionError("history away")

    class _Silent(InProcessHistory):  # a node that accepts the command and never answers
        async def replay(self, channel: str, since: int | None = None, epoch: str | None = None) -> Any:
            await asyncio.Event().wait()

    monkeypatch.setattr("realtime.gateway.CATCH_UP_TIMEOUT", 0.05)
    gw = Gateway(InProcessBroker(), InProcessHistory(), InProcessPresence(), authorize=_allow, recheck=_noop)
    contact = uuid.uuid4()
    t = _Transport()
    conn = Connection(kind="member", send=t.send, close_transport=t.close, hub_id=uuid.uuid4(), contact_id=contact)
    assert await gw.open(conn) is None
    assert await gw.subscribe(conn, f"contact:{contact}")
    for history in (_Gone(), _Silent()):
        gw.fanout.history = history
        await asyncio.wait_for(gw.catch_up(conn), 2)  # logged, not raised, not held
    await gw.catch_up(make_conn([], []))  # a staff socket with no contact channel: nothing to read
    await gw.detach(conn)


class _GatedReplay(InProcessHistory):
    """History whose replays wait until ``gate`` is set (a subscribe caught mid-way)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()

    async def replay(self, channel: str, since: int | None = None, epoch: str | None = None) -> Any:
        self.asked.set()
        await self.gate.wait()
        return await super().replay(channel, since, epoch)


async def test_a_ban_landing_while_the_contact_channel_is_subscribing_is_heard_before_the_close() -> None:
    """The member (re)subscribes to its contact channel and is banned while the subscribe still
    reads history: the event is in the subscribe's buffer and its replay, and a close right away
    would discard both. The close waits for the subscribe, so the member gets ``subscribed``, the
    ``member.banned`` event, then ``error banned``."""
    broker, history = InProcessBroker(), _GatedReplay()
    gw = Gateway(broker, history, InProcessPresence(), authorize=_allow, recheck=_noop)
    hub, contact = uuid.uuid4(), uuid.uuid4()
    mine = f"contact:{contact}"
    t = _Transport()
    conn = Connection(kind="member", send=t.send, close_transport=t.close, hub_id=hub, contact_id=contact)
    assert await gw.open(conn) is None
    joining = asyncio.ensure_future(gw.subscribe(conn, mine, since=0))  # a resume after a reconnect
    await asyncio.wait_for(history.asked.wait(), 2)
    await RealtimePublisher(broker, history).publish(mine, ban_event(mine, hub, contact))  # live: buffered

    async def ban() -> None:  # what ChannelAccess.recheck does for a banned member
        await gw.catch_up(conn)
        conn.close(4403, "banned", p.error("banned", "You are banned from this hub."))

    closing = asyncio.ensure_future(ban())
    await asyncio.sleep(0.05)
    assert not t.closed and not closing.done()  # the close waits for the subscribe
    history.gate.set()
    await asyncio.wait_for(closing, 2)
    assert await asyncio.wait_for(joining, 2) is True
    await asyncio.wait_for(_until(lambda: t.closed), 2)
    frames = [msgspec.json.decode(x) for x in t.sent]
    assert [(f["type"], f.get("channel"), f.get("seq")) for f in frames] == [
        ("subscribed", mine, 1), ("event", mine, 1), ("error", None, None)]
    assert frames[1]["event"] == "member.banned" and frames[2]["code"] == "banned" and t.closed == [4403]
    await gw.detach(conn)


async def test_a_subscribe_that_never_ends_does_not_hold_a_bans_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("realtime.gateway.CATCH_UP_TIMEOUT", 0.05)
    history = _GatedReplay()  # never opened
    gw = Gateway(InProcessBroker(), history, InProcessPresence(), authorize=_allow, recheck=_noop)
    contact = uuid.uuid4()
    t = _Transport()
    conn = Connection(kind="member", send=t.send, close_transport=t.close, hub_id=uuid.uuid4(), contact_id=contact)
    assert await gw.open(conn) is None
    joining = asyncio.ensure_future(gw.subscribe(conn, f"contact:{contact}"))
    await asyncio.wait_for(history.asked.wait(), 2)
    await asyncio.wait_for(gw.catch_up(conn), 2)  # gave up waiting after the bound
    conn.close(4403, "banned", p.error("banned", "You are banned from this hub."))
    history.gate.set()
    assert await asyncio.wait_for(joining, 2) is False  # the subscribe ends with the socket
    await asyncio.wait_for(_until(lambda: t.closed), 2)
    assert [msgspec.json.decode(x)["type"] for x in t.sent] == ["error"] and t.closed == [4403]
    assert not gw._joining
    await gw.detach(conn)


async def test_the_same_contact_subscribe_sent_twice_at_once_is_answered_once() -> None:
    history = _GatedReplay()
    gw = Gateway(InProcessBroker(), history, InProcessPresence(), authorize=_allow, recheck=_noop)
    contact = uuid.uuid4()
    mine = f"contact:{contact}"
    t = _Transport()
    conn = Connection(kind="member", send=t.send, close_transport=t.close, hub_id=uuid.uuid4(), contact_id=contact)
    assert await gw.open(conn) is None
    first = asyncio.ensure_future(gw.subscribe(conn, mine))
    await asyncio.wait_for(history.asked.wait(), 2)
    assert await gw.subscribe(conn, mine) is False  # while the first still reads history
    history.gate.set()
    assert await asyncio.wait_for(first, 2) is True and not gw._joining
    await asyncio.wait_for(_until(lambda: len(t.sent) == 2), 2)
    assert [(f["type"], f.get("code")) for f in map(msgspec.json.decode, t.sent)] == [
        ("error", "already_subscribed"), ("subscribed", None)]
    await gw.detach(conn)


async def test_a_gap_filled_while_a_catch_up_reads_the_same_history_is_sent_once_in_order() -> None:
    """Live seq 4 arrives after seq 1 (2 and 3 were missed): the feed fills the gap from history.
    A catch-up reading the same history meanwhile sends 2-4 first; the gap fill then sends
    nothing twice, and the live 4 is not sent again."""
    class _Slow(InProcessHistory):
        def __init__(self) -> None:
            super().__init__()
            self.gate = asyncio.Event()
            self.asked = asyncio.Event()

        async def between(self, channel: str, after: int, upto: int) -> list[tuple[int, bytes]]:
            self.asked.set()
            await self.gate.wait()
            return await super().between(channel, after, upto)

    broker, history = InProcessBroker(), _Slow()
    gw = Gateway(broker, history, InProcessPresence(), authorize=_allow, recheck=_noop)
    contact = uuid.uuid4()
    mine = f"contact:{contact}"
    t = _Transport()
    conn = Connection(kind="member", send=t.send, close_transport=t.close, hub_id=uuid.uuid4(), contact_id=contact)
    assert await gw.open(conn) is None and await gw.subscribe(conn, mine)
    frames = []
    for n in range(1, 5):
        frames.append(await stamped(history, mine, raw_event(mine, n)))
    await broker.publish(mine, frames[0])  # seq 1 live
    live = asyncio.ensure_future(broker.publish(mine, frames[3]))  # seq 4 live: a gap, filled from history
    await asyncio.wait_for(history.asked.wait(), 2)
    await gw.catch_up(conn)  # meanwhile (the ban's invalidation): 2, 3, 4 from history
    history.gate.set()
    await asyncio.wait_for(live, 2)
    await asyncio.wait_for(_until(lambda: len(t.sent) >= 5), 2)
    await asyncio.sleep(0.05)
    assert [msgspec.json.decode(x).get("seq") for x in t.sent] == [0, 1, 2, 3, 4]
    await gw.detach(conn)


async def test_a_resume_while_the_reader_is_behind_history_gets_each_event_once() -> None:
    """Redis stamps, stores and PUBLISHes an event in one step, but this instance's reader may not
    have read the PUBLISH yet when a subscribe's replay (on another connection) returns it. The
    resumed socket gets it once — from the replay, not again live — and the socket already
    subscribed gets it once, in order. (A resumed client in the failover test got one twice.)"""
    broker, history = InProcessBroker(), InProcessHistory()
    gw = Gateway(broker, history, InProcessPresence(), authorize=_allow, recheck=_noop)
    channel = f"hub:{uuid.uuid4()}"
    frames = []
    for n in range(1, 4):
        frames.append(await stamped(history, channel, raw_event(channel, n)))
    here_sent: list[str] = []
    here = make_conn(here_sent, [])
    gw.admit(here)
    assert await gw.subscribe(here, channel)  # seq 3 now: the feed is at 3
    for n in range(4, 6):  # 4 and 5 stamped and stored; the reader has not read their PUBLISH yet
        frames.append(await stamped(history, channel, raw_event(channel, n)))
    back_sent: list[str] = []
    back = make_conn(back_sent, [])  # resumes: it had 1..3 from another instance
    gw.admit(back)
    assert await gw.subscribe(back, channel, since=3, epoch=(await history.replay(channel)).epoch)
    for frame in frames[3:]:  # the reader gets to the PUBLISHes of 4 and 5
        await broker.publish(channel, frame)
    await asyncio.sleep(0.05)
    seqs = [[msgspec.json.decode(t).get("seq") for t in sent] for sent in (here_sent, back_sent)]
    assert seqs == [[3, 4, 5], [5, 4, 5]]  # `subscribed` (the channel's seq), then each event once
    for c in (here, back):
        await gw.detach(c)
