"""Graceful overload: how far behind this instance is, and what it sheds, in a fixed order.

When more is offered than the instance can deliver, latency would otherwise grow without bound
behind the Redis reader (Redis keeps what the reader has not read yet) or in the event loop. A
monitor measures, every ``period``, the **lag**: the larger of the event loop's lag (a timer that
fires late) and how long the broker's reader has had input waiting without catching up
(``RedisBroker.behind``). Then, in this order (docs/realtime.md, "Overload"):

1. lag ≥ ``shed_signals_after`` on two observations in a row: typing and presence frames are no longer delivered by this
   instance (they carry no seq and are not replayed; clients expire typing, presence comes back
   with the next join/leave or query) — until the lag is back under half that;
2. lag ≥ ``shed_sockets_after`` on two observations in a row: the slowest sockets (the longest
   backlog: queued frames, a send waiting on a paused transport) are closed with 4008, a
   ``shed_fraction`` of this instance's sockets per second while the lag stays that high — each
   resumes with ``since`` on another instance — and new sockets are refused (1013, try again
   later) meanwhile, so the sockets kept stay within a bounded latency.

Nothing here is on the per-delivery path but one flag read for ephemeral frames
(``FanOut.shed_signals``). Every buffer on the path is bounded on its own: the reader handles one
message at a time (no queue in this process; Redis's ``client-output-buffer-limit pubsub`` bounds
what waits there), the per-socket send queue (``send_queue``, 4008 when full), a subscribe's
buffer of live frames while history is read (``send_queue`` frames, then 4008) and the transport's
own buffer (uvicorn pauses writing past its high-water mark).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Collection

from realtime import protocol as p
from realtime.config import GatewayConfig
from realtime.connection import Connection
from realtime.fanout import FanOut

log = logging.getLogger("hubwire.realtime")


class Overload:
    """The lag monitor and the shedding. ``connections`` gives this instance's sockets; ``behind``
    how long the broker's reader has been behind (seconds, 0 when caught up)."""

    def __init__(self, config: GatewayConfig, fanout: FanOut, connections: Callable[[], Collection[Connection]],
                 behind: Callable[[float], float], *, period: float = 0.1) -> None:
        self.config = config
        self.fanout = fanout
        self._connections = connections
        self._behind = behind
        self.period = period
        self.lag = 0.0  # the last measure
        self.shedding_sockets = False  # stage 2: new sockets are refused
        self.sockets_shed = 0  # closed with 4008 for overload since start
        self.signals_shed_episodes = 0
        self._late = 0  # consecutive observations at or over shed_signals_after
        self._over = 0  # consecutive observations at or over shed_sockets_after
        self._last_shed = -1e9

    async def run(self) -> None:
        """Measure the loop's lag every ``period`` and act on it (the gateway's task)."""
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.period
            await asyncio.sleep(self.period)
            try:
                self.observe(max(0.0, loop.time() - expected), time.monotonic())
            except Exception:  # never let a bug stop the monitor
                log.exception("overload monitor failed")

    def observe(self, loop_lag: float, now: float) -> None:
        """One observation: the lag is the larger of ``loop_lag`` and the broker's; shed in order."""
        cfg = self.config
        lag = self.lag = max(loop_lag, self._behind(now))
        self._late = self._late + 1 if lag >= cfg.shed_signals_after else 0
        if self._late >= 2:  # one late timer is no overload (a pause of the whole machine, a GC)
            if not self.fanout.shed_signals:
                self.signals_shed_episodes += 1
                log.warning("realtime overload: %.2fs behind; typing and presence are shed", lag)
            self.fanout.shed_signals = True
        elif self.fanout.shed_signals and lag < cfg.shed_signals_after / 2:
            self.fanout.shed_signals = False
            log.info("realtime overload over: typing and presence delivered again")
        if lag >= cfg.shed_sockets_after:
            self._over += 1
        else:
            self._over = 0
            self.shedding_sockets = False
            return
        if self._over < 2:
            return
        self.shedding_sockets = True
        if now - self._last_shed >= 1.0:
            self._last_shed = now
            shed = self.shed_slowest()
            if shed:
                log.warning("realtime overload: %.2fs behind; closed %d slowest sockets (4008)", lag, len(shed))

    def shed_slowest(self) -> list[Connection]:
        """Close a ``shed_fraction`` (at least one) of the open sockets, the longest backlog first,
        with 4008: what they had queued is dropped, they resume with ``since`` elsewhere."""
        open_ = [c for c in self._connections() if c.closing is None]
        # Only sockets that are behind: closing one that keeps up saves nothing (and a burst of
        # new connections, which makes the loop late too, is answered by refusing new sockets).
        behind = [c for c in open_ if c.backlog() > 0]
        if not behind:
            return []
        count = max(1, int(len(open_) * self.config.shed_fraction))
        victims = heapq.nlargest(count, behind, key=Connection.backlog)
        for conn in victims:
            conn.queue.clear()
            conn.close(p.CLOSE_SLOW_CONSUMER, "overloaded")
        self.sockets_shed += len(victims)
        return victims
