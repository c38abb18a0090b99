"""Graceful overload: how late this instance's frames are, and what it sheds, in a fixed order.

When more is offered than the instance can deliver, latency would otherwise grow without bound
behind the Redis reader (Redis keeps what the reader has not read yet), in the event loop or in the
sockets' queues. Every ``period`` a monitor measures **ages**, per frame, from each event's ``at``
(the emitting instance's clock at publish; ``FanOut._born``) rather than "how long behind":

* the **reader age**: how old the last event was when this instance fanned it out — time spent in
  Redis and in the reader's buffer (``FanOut.reader_age``);
* each socket's **age**: the age of its oldest unsent frame (``Connection.queue_age``; a send
  waiting on a paused transport or the head of its queue), or the reader age for a socket that
  keeps up — the latency its client sees now. Both fall as soon as a backlog drains (the earlier
  measure, how long the reader had been continuously behind, kept growing while one drained and
  so went on shedding after the instance had caught up).

The instance's **lag** is the larger of the event loop's lag (a timer that fires late) and the
reader age. Then, in this order (docs/realtime.md, "Overload"):

1. lag ≥ ``shed_signals_after`` on two observations in a row: typing and presence frames are no
   longer delivered by this instance (they carry no seq and are not replayed; clients expire
   typing, presence comes back with the next join/leave or query) — until the lag is back under
   half that;
2. meanwhile (the instance is overloaded), the sockets whose age is at least
   ``shed_sockets_after`` (the latency bound) are closed with 4008, the oldest first, at most a
   ``shed_fraction`` of this instance's sockets per second — each resumes with ``since`` on
   another instance, and the work saved brings the others' frames earlier — and new sockets are
   refused (1013, try again later) while any is over the bound. A socket within the bound is never
   closed for overload, however much it has queued. No socket is closed while the lag is already
   falling fast enough to be back under the bound within ``CATCH_UP_HORIZON``: the instance then
   delivers faster than events arrive, so the sockets closed so far were enough (ages are measured
   from publish times, so they stay high for a while after the cause is gone; closing on them
   alone closed about a fifth more sockets than needed at 2x overload, and cut deliveries with them).
   How many: a ``shed_fraction`` of the sockets per second, or — when the lag has been rising at a
   steady rate over the last ``CATCH_UP_WINDOW`` — as many as that rate says at once (the
   **proportional step**, ``step``): a lag rising by ``s`` seconds per second means the instance
   delivers ``1 - s`` of what arrives, so keeping that share of the sockets that are past the
   bound (fewer, for the surplus that drains the lag within ``DRAIN_HORIZON``) stops the growth
   in one step instead of ten (at 10 % a second a 2.4x overload took longer than the bench's runs
   to shed enough, and the kept sockets' p99 grew to 3.4 s meanwhile).

Events read from history (a gap, a reconnect) and events published late on purpose (``at`` over
``fanout.LATE_PUBLISH`` ago: the realtime outbox after an outage) carry no age: they say nothing
about this instance's load. Nothing here is on the per-delivery path but one ``at`` parse per
event (not per subscriber), one flag read for ephemeral frames (``FanOut.shed_signals``) and, for
a socket already behind, one stamp per queued frame. Every buffer on the path is bounded on its
own: the reader handles one message at a time (no queue in this process; Redis's
``client-output-buffer-limit pubsub`` bounds what waits there), the per-socket send queue
(``send_queue``, 4008 when full), a subscribe's buffer of live frames while history is read
(``send_queue`` frames, then 4008) and the transport's own buffer (uvicorn pauses writing past its
high-water mark).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from itertools import pairwise

from realtime import protocol as p
from realtime.config import GatewayConfig
from realtime.connection import Connection
from realtime.fanout import FanOut

log = logging.getLogger("hubwire.realtime")

# A lag that falls fast enough to be under the bound within this many seconds holds the shedding;
# the trend is measured over the observations of the last CATCH_UP_WINDOW seconds (at least half
# of it, so that one early timer does not read as a trend).
CATCH_UP_HORIZON = 1.0
CATCH_UP_WINDOW = 0.5
# The proportional step: the lag rising at a steady rate says how much of what arrives the instance
# delivers; enough sockets are closed at once to deliver more than arrives, with the surplus to be
# back under the bound within DRAIN_HORIZON, at most MAX_STEP of the sockets past the bound in one
# step; then nothing is closed for STEP_SETTLE seconds (closing hundreds of sockets is work of its
# own, which read as a lag still rising and took a second step as large) and the trend is measured
# afresh. A step is sized only from a trend of at least three observations no more than two
# periods apart (a stall of the event loop leaves a hole in them, and a rise measured across it is
# no rate), led by the reader's age rather than the loop's lag; and within STEP_MEMORY seconds of
# a step, another only if the lag's rise has slowed to under STEP_PROGRESS of what it was at that
# step — if closing sockets did not slow it, per-event work dominates and closing more would not
# either: the budget path goes on alone.
DRAIN_HORIZON = 2.0
MAX_STEP = 0.5
STEP_SETTLE = 1.0
STEP_MEMORY = 5.0
STEP_PROGRESS = 2 / 3


class Overload:
    """The lag monitor and the shedding. ``connections`` gives this instance's sockets; ``clock``
    the time their frames are stamped with (``Connection.clock``, ``FanOut.clock``)."""

    def __init__(self, config: GatewayConfig, fanout: FanOut, connections: Callable[[], Collection[Connection]],
                 *, period: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.fanout = fanout
        self._connections = connections
        self.period = period
        self.clock = clock
        self.lag = 0.0  # the last measure of the instance's lag
        self.oldest = 0.0  # the last observation's largest queue age over the open sockets (0 unless overloaded)
        self.shedding_sockets = False  # sockets over the bound are being closed: new ones are refused
        self.sockets_shed = 0  # closed with 4008 for overload since start
        self.signals_shed_episodes = 0
        self._late = 0  # consecutive observations at or over shed_signals_after
        self._budget = 0.0  # sockets that may still be closed (shed_fraction per second, a bucket)
        self._last: float | None = None  # the previous observation's time
        self._recent: deque[tuple[float, float]] = deque()  # (time, lag) of the last CATCH_UP_WINDOW s
        self.holds = 0  # observations that held the shedding because the lag was already falling
        self.steps = 0  # proportional steps taken
        self._step_at = -1e9  # when the last one was taken (``clock`` time)
        self._step_rising = 0.0  # the lag's rise (s/s) that the last one was sized from

    async def run(self) -> None:
        """Measure the loop's lag every ``period`` and act on it (the gateway's task)."""
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.period
            await asyncio.sleep(self.period)
            try:
                self.observe(max(0.0, loop.time() - expected), self.clock())
            except Exception:  # never let a bug stop the monitor
                log.exception("overload monitor failed")

    def observe(self, loop_lag: float, now: float) -> None:
        """One observation at ``now`` (``clock`` time): the instance's lag is the larger of
        ``loop_lag`` and the reader age; shed in order."""
        cfg = self.config
        reader_age = self.fanout.reader_age(now)
        lag = self.lag = max(loop_lag, reader_age)
        recent = self._recent
        recent.append((now, lag))
        while len(recent) > 2 and now - recent[1][0] >= CATCH_UP_WINDOW:
            recent.popleft()
        self._late = self._late + 1 if lag >= cfg.shed_signals_after else 0
        if self._late >= 2:  # one late timer is no overload (a pause of the whole machine, a GC)
            if not self.fanout.shed_signals:
                self.signals_shed_episodes += 1
                log.warning("realtime overload: %.2fs behind; typing and presence are shed", lag)
            self.fanout.shed_signals = True
        elif self.fanout.shed_signals and lag < cfg.shed_signals_after / 2:
            self.fanout.shed_signals = False
            log.info("realtime overload over: typing and presence delivered again")
        elapsed = 1.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        # Not overloaded: no socket is closed for overload, so the open ones are not sorted out
        # nor their ages read — scanning 10,000 idle sockets ten times a second cost ~4 % of a
        # core. The budget then refills at the rate of every socket held (a closing one included).
        overloaded = self.fanout.shed_signals
        held = self._connections()
        open_ = [c for c in held if c.closing is None] if overloaded else []
        per_second = len(open_ if overloaded else held) * cfg.shed_fraction
        self._budget = min(max(per_second, 1.0), self._budget + per_second * elapsed)
        if not overloaded:
            self.shedding_sockets, self.oldest = False, 0.0
            return
        # A socket that keeps up gets its frames as late as the reader hands them over; one that is
        # behind, as late as its oldest unsent frame.
        ages = [(max(c.queue_age(now), reader_age if c.channels else 0.0), c) for c in open_]
        self.oldest = max((a for a, _ in ages), default=0.0)
        over = [(a, c) for a, c in ages if a >= cfg.shed_sockets_after]
        self.shedding_sockets = bool(over) and self.fanout.shed_signals
        if not self.shedding_sockets:
            return
        if now - self._step_at < STEP_SETTLE:  # the last step's effect is not measured yet
            return
        if self.catching_up(now, lag):
            self.holds += 1
            return
        step = self.step(now, lag, len(over)) if loop_lag <= reader_age else 0
        if step:
            self.steps += 1
            self._step_at = now
            self._budget = max(self._budget, float(step))
            recent.clear()  # the trend after the step is measured from the step on
            recent.append((now, lag))
        shed = self.shed_oldest(over)
        if shed:
            log.warning("realtime overload: %.2fs behind; closed %d sockets whose frames were over "
                        "%.1fs old (the oldest %.1fs; 4008)", lag, len(shed), cfg.shed_sockets_after, self.oldest)

    def catching_up(self, now: float, lag: float) -> bool:
        """Whether the lag is falling fast enough (over the last ``CATCH_UP_WINDOW``) to be under
        the bound within ``CATCH_UP_HORIZON`` seconds."""
        then, lag_then = self._recent[0]
        if now - then < CATCH_UP_WINDOW / 2:
            return False
        rate = (lag - lag_then) / (now - then)  # seconds of lag per second
        return rate < 0 and lag + rate * CATCH_UP_HORIZON < self.config.shed_sockets_after

    def step(self, now: float, lag: float, count: int) -> int:
        """How many of the ``count`` sockets past the bound to close at once, from the lag's trend
        over the last ``CATCH_UP_WINDOW``: 0 unless it rose at a rate under one second per second
        (steeper is a stall or a burst of late events, not a rate to size anything by)."""
        recent = self._recent
        then, lag_then = recent[0]
        if now - then < CATCH_UP_WINDOW / 2 or count < 2 or len(recent) < 3:
            return 0
        if any(b[0] - a[0] > 2 * self.period for a, b in pairwise(recent)):
            return 0  # a hole in the observations: the loop stalled, and a rise across it is no rate
        rising = (lag - lag_then) / (now - then)  # seconds of lag per second
        if not 0.0 < rising < 1.0:
            return 0
        if now - self._step_at < STEP_MEMORY and rising >= self._step_rising * STEP_PROGRESS:
            return 0  # the last step did not slow the rise: more of the same would not either
        self._step_rising = rising
        delivered = 1.0 - rising  # the share of what arrives that this instance delivers
        wanted = 1.0 + max(0.0, lag - self.config.shed_sockets_after) / DRAIN_HORIZON
        keep = delivered / wanted
        return min(int(count * (1.0 - keep)), int(count * MAX_STEP))

    def shed_oldest(self, over: list[tuple[float, Connection]]) -> list[Connection]:
        """Close the sockets of ``over`` (queue age, socket: every one past the bound), the oldest
        first, as many as the budget allows, with 4008: what they had queued is dropped, they
        resume with ``since`` elsewhere."""
        count = int(self._budget)
        if count <= 0:
            return []
        victims = [c for _, c in heapq.nlargest(count, over, key=lambda ac: ac[0])]
        for conn in victims:
            conn.drop_queue()
            conn.close(p.CLOSE_SLOW_CONSUMER, "overloaded")
        self._budget -= len(victims)
        self.sockets_shed += len(victims)
        return victims
