"""What the realtime layer counts for the operator's metrics (server/metrics.py exports them).

Plain integers on one module-level object, bumped with ``+=`` where things happen: no lock, no
label lookup, no call on the per-frame path (a delivery is counted once per event for all of its
subscribers). The metrics endpoint reads them and turns the increase since its last look into
Prometheus counters (docs/deploy.md#metrics).
"""

from __future__ import annotations


class RealtimeStats:
    __slots__ = (
        "deliveries",
        "frames_dropped",
        "resumes_not_recovered",
        "resumes_recovered",
        "slow_consumer_closes",
    )

    def __init__(self) -> None:
        self.deliveries = 0  # event frames handed to subscribers (sent, queued or buffered)
        self.frames_dropped = 0  # presence/typing frames dropped, and frames discarded by a cut-off
        self.slow_consumer_closes = 0  # sockets closed with 4008
        self.resumes_recovered = 0  # subscriptions with `since` answered from history
        self.resumes_not_recovered = 0  # ... answered `recovered: false`


STATS = RealtimeStats()
