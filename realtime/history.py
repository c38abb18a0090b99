"""Per-channel sequence numbers, epochs and recent history, and the publisher that stamps events.

Every event published on a realtime channel gets its ``seq`` (per channel, increasing by one) and
the channel's ``epoch`` exactly once, centrally, at publish time:

* ``RedisHistory``: one Lua script does ``HINCRBY`` (seq), ``HSETNX`` (epoch), stores the frame in
  a sorted set scored by seq (trimmed to ``max_len``, expiring after ``max_age``) and ``PUBLISH``es
  the stamped frame — atomically, so every instance sees the same seq in the same order.
* ``InProcessHistory``: the same in a dict of deques (the embedded default, one process).

The epoch changes when a channel's seq counter is lost (Redis flushed, keys expired after a long
idle period, an embedded restart); a client resuming against an old epoch gets ``recovered: false``.

``RealtimePublisher.publish(channel, payload)`` has the broker's signature, so the unit of work can
publish through it. Frames are encoded here, once; the gateway sends these very bytes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from realtime.channels import is_realtime_channel

DEFAULT_MAX_LEN = 500
DEFAULT_MAX_AGE = 600.0  # seconds of history kept per channel
STATE_TTL = 7 * 24 * 3600  # seq/epoch of a channel idle this long are forgotten (a new epoch)


class RawEvent(msgspec.Struct, kw_only=True):
    """An ``domain.events.Event`` as it comes out of ``emit``, its data left as raw JSON."""

    channel: str
    event: str
    data: msgspec.Raw
    at: str


_raw_decoder = msgspec.json.Decoder(RawEvent)
_enc = msgspec.json.Encoder()


def frame_parts(payload: bytes) -> tuple[str, bytes, bytes] | None:
    """Split an encoded Event into the bytes before and after its seq in the event frame
    (``{"type":"event","channel":…,"seq":`` and ``,"event":…,"data":…,"at":…}``)."""
    try:
        ev = _raw_decoder.decode(payload)
    except msgspec.DecodeError:
        return None
    prefix = b'{"type":"event","channel":' + _enc.encode(ev.channel) + b',"seq":'
    suffix = b',"event":' + _enc.encode(ev.event) + b',"data":' + bytes(ev.data) + b',"at":' + _enc.encode(ev.at) + b"}"
    return ev.channel, prefix, suffix


def new_epoch() -> str:
    return secrets.token_hex(4)


@dataclass
class Replay:
    """The state of a channel for a subscriber: its current seq and epoch, and when a resume was
    asked, the missed frames (``frames`` is None when history cannot cover the gap)."""

    seq: int
    epoch: str
    frames: list[tuple[int, bytes]] | None = None


def _covered(since: int, seq: int, kept: list[tuple[int, bytes]]) -> list[tuple[int, bytes]] | None:
    if since > seq:
        return None
    missed = [(s, f) for s, f in kept if s > since]
    if since == seq:
        return []
    if not missed or missed[0][0] != since + 1 or missed[-1][0] != seq:
        return None
    return missed


@dataclass
class _ChannelState:
    seq: int = 0
    epoch: str = field(default_factory=new_epoch)
    frames: deque[tuple[int, float, bytes]] = field(default_factory=deque)
    touched: float = field(default_factory=time.monotonic)


class InProcessHistory:
    """Seq, epoch and history in this process (the embedded default)."""

    def __init__(self, max_len: int = DEFAULT_MAX_LEN, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.max_len, self.max_age = max_len, max_age
        self._channels: dict[str, _ChannelState] = {}

    def _state(self, channel: str) -> _ChannelState:
        st = self._channels.get(channel)
        if st is None:
            st = self._channels[channel] = _ChannelState()
        st.touched = time.monotonic()
        return st

    def _prune(self, st: _ChannelState) -> None:
        horizon = time.monotonic() - self.max_age
        while st.frames and (len(st.frames) > self.max_len or st.frames[0][1] < horizon):
            st.frames.popleft()

    async def stamp(self, channel: str, prefix: bytes, suffix: bytes, *, dedup: str | None = None,
                    publish_to: str | None = None) -> tuple[int, bytes]:
        st = self._state(channel)
        st.seq += 1
        frame = prefix + str(st.seq).encode() + suffix
        st.frames.append((st.seq, time.monotonic(), frame))
        self._prune(st)
        return st.seq, frame

    async def replay(self, channel: str, since: int | None = None, epoch: str | None = None) -> Replay:
        st = self._state(channel)
        self._prune(st)
        out = Replay(st.seq, st.epoch)
        if since is not None:
            if epoch is not None and epoch != st.epoch:
                return out
            out.frames = _covered(since, st.seq, [(s, f) for s, _, f in st.frames])
        return out

    async def between(self, channel: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        st = self._channels.get(channel)
        return [(s, f) for s, _, f in st.frames if after < s <= upto] if st else []

    def sweep(self) -> None:
        """Forget channels idle for longer than the history age (bounded bookkeeping)."""
        horizon = time.monotonic() - max(self.max_age, 60.0) * 6
        for name in [n for n, st in self._channels.items() if st.touched < horizon]:
            del self._channels[name]

    def __len__(self) -> int:
        return len(self._channels)


# KEYS: state hash, history zset, pubsub channel ('' = do not publish), dedup key ('' = none)
# ARGV: frame prefix, frame suffix, candidate epoch, now (ms), max_len, max_age (ms), state ttl (s)
_STAMP = """
if KEYS[4] ~= '' then
  local known = redis.call('GET', KEYS[4])
  if known then return {tonumber(known), ''} end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
local frame = ARGV[1] .. seq .. ARGV[2]
redis.call('ZADD', KEYS[2], seq, ARGV[4] .. '|' .. frame)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], seq, 'EX', 60) end
if KEYS[3] ~= '' then redis.call('PUBLISH', KEYS[3], frame) end
return {seq, frame}
"""

# KEYS: state hash, history zset. ARGV: candidate epoch, since (-1 = none), state ttl
_REPLAY = """
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
local st = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
local items = {}
if tonumber(ARGV[2]) >= 0 then
  items = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[2], '+inf', 'WITHSCORES')
end
return {st[1] or '0', st[2], items}
"""


class RedisHistory:
    """Seq, epoch and history in Redis, shared by every instance."""

    def __init__(self, redis: Any, prefix: str, max_len: int = DEFAULT_MAX_LEN,
                 max_age: float = DEFAULT_MAX_AGE) -> None:
        self._redis = redis
        self._prefix = prefix + "rt:"
        self.max_len, self.max_age = max_len, max_age
        self._stamp = redis.register_script(_STAMP)
        self._replay = redis.register_script(_REPLAY)

    def _keys(self, channel: str) -> tuple[str, str]:
        return self._prefix + "st:" + channel, self._prefix + "h:" + channel

    async def stamp(self, channel: str, prefix: bytes, suffix: bytes, *, dedup: str | None = None,
                    publish_to: str | None = None) -> tuple[int, bytes]:
        state, hist = self._keys(channel)
        dedup_key = self._prefix + "dd:" + dedup if dedup else ""
        seq, frame = await self._stamp(
            keys=[state, hist, publish_to or "", dedup_key],
            args=[prefix, suffix, new_epoch(), int(time.time() * 1000), self.max_len, int(self.max_age * 1000),
                  STATE_TTL],
        )
        seq = int(seq)
        if not frame:  # another instance stamped this very payload already (the fallback path)
            frame = prefix + str(seq).encode() + suffix
        return seq, frame

    async def replay(self, channel: str, since: int | None = None, epoch: str | None = None) -> Replay:
        state, hist = self._keys(channel)
        seq, cur_epoch, items = await self._replay(
            keys=[state, hist], args=[new_epoch(), -1 if since is None else since, STATE_TTL])
        out = Replay(int(seq), cur_epoch.decode() if isinstance(cur_epoch, bytes) else str(cur_epoch))
        if since is None:
            return out
        if epoch is not None and epoch != out.epoch:
            return out
        out.frames = _covered(since, out.seq, self._kept(items))
        return out

    async def between(self, channel: str, after: int, upto: int) -> list[tuple[int, bytes]]:
        _, hist = self._keys(channel)
        items = await self._redis.zrangebyscore(hist, f"({after}", upto, withscores=True)
        return self._kept([x for pair in items for x in pair])

    def _kept(self, flat: list[Any]) -> list[tuple[int, bytes]]:
        horizon = int((time.time() - self.max_age) * 1000)
        out = []
        for i in range(0, len(flat), 2):
            member, score = flat[i], flat[i + 1]
            ms, _, frame = member.partition(b"|")
            if int(ms) >= horizon:
                out.append((int(float(score)), frame))
        return out

    def sweep(self) -> None:
        return None  # Redis expires idle channels' keys itself


History = InProcessHistory | RedisHistory


def dedup_key(payload: bytes) -> str:
    return hashlib.sha1(payload).hexdigest()


class RealtimePublisher:
    """Publishes through the broker, stamping realtime channels' events with seq/epoch first.

    Route the unit of work through it (``UnitOfWork(sessions, publisher=realtime_publisher.publish)``)
    so the seq is assigned once, at publish time. Other channels (``access:invalidate``) pass
    through untouched.
    """

    def __init__(self, broker: Any, history: History, pubsub_prefix: str | None = None) -> None:
        self._broker = broker
        self._history = history
        # With Redis the stamp script PUBLISHes itself, under RedisBroker's channel naming.
        self._pubsub_prefix = pubsub_prefix

    async def publish(self, channel: str, payload: bytes, *, dedup: bool = False) -> None:
        """Stamp and publish ``payload``. ``dedup``: the same payload stamped again within a minute
        is not published twice (the realtime outbox's relay may replay a row; realtime/outbox.py)."""
        parts = frame_parts(payload) if is_realtime_channel(channel) else None
        if parts is None:
            await self._broker.publish(channel, payload)
            return
        _, prefix, suffix = parts
        if self._pubsub_prefix is not None:
            await self._history.stamp(channel, prefix, suffix, publish_to=self._pubsub_prefix + channel,
                                      dedup=dedup_key(payload) if dedup else None)
            return
        _, frame = await self._history.stamp(channel, prefix, suffix)
        await self._broker.publish(channel, frame)
