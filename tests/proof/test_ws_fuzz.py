"""WebSocket abuse and limits against a real server: malformed JSON, unknown ops, binary frames,
oversize frames, floods of subscribe/unsubscribe, an auth frame after the deadline: each gets its
documented error frame and close code (docs/realtime.md "Close codes", "Limits"), the server's
memory stays bounded, and a bystander socket keeps receiving every event, in order. Also the two
limits no other test reached: too_many_subscriptions, and the replay cap on resume
(HUBWIRE_RT_MAX_REPLAY)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support.proof import MAX_REPLAY, MAX_SUBSCRIPTIONS
from tests.support.realtime import JSONAPI, Client, World, make_world
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def server(proof_server: ServerProcess) -> ServerProcess:
    return proof_server


@pytest.fixture(scope="module")
def world(server: ServerProcess) -> World:
    return make_world(server.base)


def hub_ws(w: World) -> str:
    return f"/api/v1/hub/{w.hub_id}/ws"


def rss_kb(srv: ServerProcess) -> int:
    for line in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def space(w: World) -> str:
    with httpx.Client(base_url=w.base, timeout=10.0) as http:
        r = http.post(f"/api/v1/teams/{w.team_id}/hubs/{w.hub_id}/spaces", headers={**w.staff, **JSONAPI},
                      json={"data": {"type": "spaces", "attributes": {"name": "A space"}}})
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["id"])


# Each abuse: what to send on a fresh authenticated socket, the close code, and the error code of
# the frame before it (None: no error frame is promised).
BAD_TEXT = [
    ("{not json", 4400, "bad_frame"),
    ("[]", 4400, "bad_frame"),
    ('"a string"', 4400, "bad_frame"),
    ('{"op": 5}', 4400, "bad_frame"),
    ('{"op": "subscribe"}', 4400, "bad_frame"),  # no channel
    ('{"op": "explode"}', 4400, "bad_frame"),  # an unknown op
    ('{"op": "subscribe", "channel": "' + "x" * 20_000 + '"}', 4400, "frame_too_large"),
]
BAD_BYTES = [
    (b"\xff\xfe\x00\x9c garbage", 4400, "bad_frame"),
    (b"\x00" * 20_000, 4400, "frame_too_large"),
]


async def abuse(srv: ServerProcess, w: World, token: str, payload: str | bytes, code: int, error: str) -> None:
    c = await Client.connect(srv, hub_ws(w), token)
    await c.ws.send(payload)
    assert await c.closed() == code, (payload[:40], c.frames)
    errors = [f["code"] for f in c.frames if f["type"] == "error"]
    assert errors and errors[-1] == error, (payload[:40], c.frames)


async def test_abuse_gets_its_documented_code_and_bystanders_keep_receiving(server: ServerProcess,
                                                                           world: World) -> None:
    _, bystander_token = world.add_member()
    bystander = await Client.connect(server, hub_ws(world), bystander_token)
    channel = f"hub:{world.hub_id}"
    assert (await bystander.subscribe(channel))["type"] == "subscribed"
    _, token = world.add_member()

    # A binary frame holding a valid frame is read as text (UTF-8), like the text frame it spells.
    c = await Client.connect(server, hub_ws(world), token)
    await c.ws.send(b'{"op": "ping"}')
    assert (await c.until(lambda f: f["type"] == "pong"))["type"] == "pong"
    await c.close()

    rss_start = rss_kb(server)
    latencies: list[float] = []
    rounds = 3
    for n in range(rounds):
        for payload, code, error in BAD_TEXT + BAD_BYTES:
            await abuse(server, world, token, payload, code, error)
        # A flood of subscribe/unsubscribe: answered rate_limited, then closed 4029.
        flood = await Client.connect(server, hub_ws(world), token)
        for i in range(60):
            await flood.send(op="subscribe" if i % 2 == 0 else "unsubscribe", channel=channel)
        assert await flood.closed() == 4029
        assert any(f["type"] == "error" and f["code"] == "rate_limited" for f in flood.frames)
        # An auth frame after the deadline (0.5 s in the tests): the socket was closed 4401 at the
        # deadline, so the late frame finds it closed.
        late = await websockets.connect(f"ws://127.0.0.1:{server.port}{hub_ws(world)}", subprotocols=["hubwire.v1"],
                                        open_timeout=5)
        late_client = Client(late)
        assert await late_client.closed(5.0) == 4401
        with pytest.raises(websockets.ConnectionClosed):
            await late.send('{"op": "auth", "token": "' + token + '"}')
        # The bystander gets every event of the round, in order.
        started = time.monotonic()
        world.announce(f"round {n}")
        ev = await bystander.event("announcement.created", timeout=10.0)
        latencies.append(time.monotonic() - started)
        assert ev["data"]["title"] == f"round {n}"
    rss_end = rss_kb(server)
    sent = rounds * (len(BAD_TEXT) + len(BAD_BYTES) + 2)
    print(f"\nws fuzz: {sent} abusive sockets; server RSS {rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MB; "
          f"bystander latency per round {[round(x, 3) for x in latencies]} s")
    assert rss_end - rss_start < 64 * 1024, "the server's memory grew by more than 64 MB"
    assert [e["data"]["title"] for e in bystander.frames if e["type"] == "event"] == \
        [f"round {n}" for n in range(rounds)]
    await bystander.close()


async def test_too_many_subscriptions(server: ServerProcess, world: World) -> None:
    contact_id, token = world.add_member()
    spaces = [space(world) for _ in range(2)]
    c = await Client.connect(server, hub_ws(world), token)
    channels = (f"hub:{world.hub_id}", f"contact:{contact_id}", f"space:{spaces[0]}")
    assert len(channels) == MAX_SUBSCRIPTIONS
    for ch in channels:
        assert (await c.subscribe(ch))["type"] == "subscribed", c.frames
    refused = await c.subscribe(f"space:{spaces[1]}")
    assert refused["type"] == "error" and refused["code"] == "too_many_subscriptions", refused
    # the socket lives on and keeps its channels ...
    world.announce("still here")
    assert (await c.event("announcement.created"))["data"]["title"] == "still here"
    # ... and a freed slot can be used
    await c.send(op="unsubscribe", channel=f"space:{spaces[0]}")
    await c.until(lambda f: f["type"] == "unsubscribed")
    assert (await c.subscribe(f"space:{spaces[1]}"))["type"] == "subscribed"
    await c.close()


async def test_resume_past_the_replay_cap_is_not_recovered(server: ServerProcess, world: World) -> None:
    channel = f"hub:{world.hub_id}"
    keeper = await Client.connect(server, hub_ws(world), world.add_member()[1])  # keeps the channel live
    await keeper.subscribe(channel)
    _, token = world.add_member()
    c = await Client.connect(server, hub_ws(world), token)
    sub = await c.subscribe(channel)
    world.announce("seen")
    seen = await c.event("announcement.created")
    await c.close()

    for i in range(MAX_REPLAY):  # exactly the cap: replayed
        world.announce(f"missed {i}")
    await keeper.until(lambda f: f.get("data", {}).get("title") == f"missed {MAX_REPLAY - 1}", 10.0)
    c = await Client.connect(server, hub_ws(world), token)
    resumed = await c.subscribe(channel, since=seen["seq"], epoch=sub["epoch"])
    assert resumed["recovered"] is True and resumed["seq"] == seen["seq"] + MAX_REPLAY
    replayed = [await c.event("announcement.created") for _ in range(MAX_REPLAY)]
    assert [e["seq"] for e in replayed] == list(range(seen["seq"] + 1, seen["seq"] + MAX_REPLAY + 1))
    await c.close()

    world.announce("one more")  # now MAX_REPLAY + 1 missed since `seen`: past the cap
    await keeper.until(lambda f: f.get("data", {}).get("title") == "one more", 10.0)
    c = await Client.connect(server, hub_ws(world), token)
    capped = await c.subscribe(channel, since=seen["seq"], epoch=sub["epoch"])
    assert capped == {"type": "subscribed", "channel": channel, "seq": seen["seq"] + MAX_REPLAY + 1,
                      "epoch": sub["epoch"], "recovered": False}
    world.announce("live")
    live = await c.event("announcement.created")
    assert (live["seq"], live["data"]["title"]) == (seen["seq"] + MAX_REPLAY + 2, "live")
    assert [f for f in c.frames if f["type"] == "event"] == [live]  # nothing was replayed
    await c.close()
    await keeper.close()
