"""Sharded fan-out (realtime/shards.py) through the whole app: two `hubwire serve` instances whose
channels are spread over three redis-servers of our own (HUBWIRE_REDIS_SHARDS), presence and
limits on a fourth (HUBWIRE_REDIS_URL). Every event is delivered once and in order on both
instances, each channel's seq/history lives on its node only, a resume on the other instance
replays what was missed, and a node restart is survived like a single Redis restart (only that
node's channels start a new epoch). Runs on both passes (the servers use the run's database)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from domain.access.invalidation import INVALIDATE_CHANNEL
from realtime.shards import shard_of
from tests.support.faults import OwnRedis
from tests.support.realtime import Client, World, make_world, start_server, stop_server
from tests.support.servers import ServerProcess


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[OwnRedis]]:
    """The main Redis, then three shards."""
    own = [OwnRedis(tmp_path / f"redis-{i}.log") for i in range(4)]
    for r in own:
        r.start()
    try:
        yield own
    finally:
        for r in own:
            r.stop()


def events(c: Client, channel: str) -> list[dict[str, Any]]:
    return [f for f in c.frames if f["type"] == "event" and f["channel"] == channel]


def keys_of(node: OwnRedis, pattern: str) -> list[bytes]:
    with redis.Redis.from_url(node.url) as r:
        return list(r.scan_iter(match=pattern))


async def test_channels_spread_over_nodes_delivered_once_in_order_resumed_and_a_node_restart_survived(
        nodes: list[OwnRedis], tmp_path: Path, own_database_url: str, redis_prefix: str) -> None:
    main, shards = nodes[0], nodes[1:]
    env = {"HUBWIRE_REDIS_URL": main.url, "HUBWIRE_REDIS_SHARDS": ",".join(s.url for s in shards)}
    servers: list[ServerProcess] = []
    clients: list[Client] = []
    try:
        servers.append(start_server(tmp_path, own_database_url, redis_prefix, "sa", **env))
        servers.append(start_server(tmp_path, own_database_url, redis_prefix, "sb", **env))
        a, b = servers
        # hubs until every node holds at least one hub channel
        worlds: dict[int, World] = {}
        for _ in range(30):
            w = make_world(a.base)
            worlds.setdefault(shard_of(f"hub:{w.hub_id}", 3), w)
            if len(worlds) == 3:
                break
        assert len(worlds) == 3, "three hubs on three nodes"
        subs: dict[int, tuple[Client, Client]] = {}
        for node, w in worlds.items():
            _, ta = w.add_member()
            _, tb = w.add_member()
            ca = await Client.connect(a, f"/api/v1/hub/{w.hub_id}/ws", ta)
            cb = await Client.connect(b, f"/api/v1/hub/{w.hub_id}/ws", tb)
            clients += [ca, cb]
            for c in (ca, cb):
                assert (await c.subscribe(f"hub:{w.hub_id}"))["type"] == "subscribed"
            subs[node] = (ca, cb)
        # posted alternately through both instances: every subscriber gets each once, in order
        for i in range(6):
            for node, w in worlds.items():
                via = a if i % 2 == 0 else b
                dataclasses.replace(w, base=via.base).announce(f"n{node}-{i}")
        for node, w in worlds.items():
            channel = f"hub:{w.hub_id}"
            for c in subs[node]:
                await c.until(lambda f, node=node: f["type"] == "event" and f["data"]["title"] == f"n{node}-5", 10)
                got = events(c, channel)
                assert [e["data"]["title"] for e in got] == [f"n{node}-{i}" for i in range(6)]
                assert [e["seq"] for e in got] == list(range(got[0]["seq"], got[0]["seq"] + 6))
        # each channel's seq and history on its own node, nowhere else
        per_node = []
        for node, shard in enumerate(shards):
            mine = {k.decode() for k in keys_of(shard, f"{redis_prefix}rt:st:hub:*")}
            per_node.append(len(mine))
            for n, w in worlds.items():
                assert (f"{redis_prefix}rt:st:hub:{w.hub_id}" in mine) == (n == node)
        assert not keys_of(main, f"{redis_prefix}rt:st:*") and not keys_of(main, f"{redis_prefix}rt:h:*")
        assert keys_of(main, f"{redis_prefix}rt:pr:*")  # presence stays on the main Redis
        print(f"SHARDS hub channels per node: {per_node}")

        # resume on the other instance: what was missed, once, in order
        node0, w0 = next(iter(worlds.items()))
        channel0 = f"hub:{w0.hub_id}"
        gone = subs[node0][0]
        last = events(gone, channel0)[-1]
        epoch = next(f["epoch"] for f in gone.frames if f["type"] == "subscribed")
        await gone.close()
        for i in range(3):
            w0.announce(f"missed-{i}")
        _, tr = w0.add_member()
        back = await Client.connect(b, f"/api/v1/hub/{w0.hub_id}/ws", tr)
        clients.append(back)
        sub = await back.subscribe(channel0, since=last["seq"], epoch=epoch)
        assert sub["type"] == "subscribed" and sub["recovered"] is True, sub
        await back.until(lambda f: f["type"] == "event" and f["data"]["title"] == "missed-2")
        assert [e["data"]["title"] for e in events(back, channel0)] == ["missed-0", "missed-1", "missed-2"]

        # one node restarts (history and counters lost): its channels get recovered:false, then
        # events flow again; the other nodes' channels notice nothing
        victim_node = next(n for n in worlds if n != node0)
        wv = worlds[victim_node]
        shards[victim_node].stop()
        shards[victim_node].start()
        channel_v = f"hub:{wv.hub_id}"
        for c in subs[victim_node]:
            notice = await c.until(lambda f: f["type"] == "subscribed" and f.get("recovered") is False, 20)
            assert notice["channel"] == channel_v
        wv.announce("after-restart")
        w0.announce("elsewhere")
        for c in subs[victim_node]:
            ev = await c.until(lambda f: f["type"] == "event" and f["data"]["title"] == "after-restart", 15)
            assert ev["seq"] == notice["seq"] + 1
            assert [e["data"]["title"] for e in events(c, channel_v)].count("after-restart") == 1
        await back.until(lambda f: f["type"] == "event" and f["data"]["title"] == "elsewhere", 10)
        assert not [f for f in back.frames if f["type"] == "subscribed" and f.get("recovered") is False]

        # a ban: the member.banned event (on the contact channel's node) reaches the member before
        # the close that the access invalidation (on another node) brings, on both instances
        invalidate_node = shard_of(INVALIDATE_CHANNEL, 3)
        for _ in range(30):
            banned_id, banned_token = w0.add_member()
            if shard_of(f"contact:{banned_id}", 3) != invalidate_node:
                break
        assert shard_of(f"contact:{banned_id}", 3) != invalidate_node
        on = [await Client.connect(srv, f"/api/v1/hub/{w0.hub_id}/ws", banned_token) for srv in (a, b)]
        clients += on
        for c in on:
            assert (await c.subscribe(f"contact:{banned_id}"))["type"] == "subscribed"
        w0.moderate(banned_id, "ban")
        for c in on:
            assert await c.closed(10.0) == 4403
            assert [(f["type"], f.get("event") or f.get("code")) for f in c.frames[-3:]] == [
                ("event", "member.banned"), ("error", "banned"), ("closing", 4403)], c.frames
        for c in clients:
            await c.close()
    finally:
        for srv in servers:
            stop_server(srv)
