"""One client socket (WebSocket or SSE): its bounded send queue, its writer, and the send in place.

A socket that is keeping up is sent to directly, in the fan-out loop: ``Connection.enqueue`` drives
the transport's send coroutine in place, which completes at once while the transport accepts data —
no queue, no task switch per subscriber. Only a socket that is behind (its transport paused
writing, or frames already waiting) goes through its bounded queue, drained by its writer task. The
writer task exists only while the socket is behind (or closing): it is started when a send has to
wait or a frame has to queue, and ends once the queue is empty — an idle socket that keeps up holds
no task, no queue and no timestamps (bench/README.md, memory per idle socket). A full queue, or a
send blocked for ``send_timeout`` (the gateway's watchdog calls ``stall``), disconnects the socket
with 4008 — a slow consumer never grows memory. When the writer finds several frames queued and the
transport writable, it writes them in one transport write (``write_many``: coalescing, order and
framing kept). bench/README.md says what each of these choices bought; ``enqueue`` and
``_send_now`` are on the per-delivery path.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import types
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

from realtime import protocol as p
from realtime.stats import STATS

_UNSEEN: tuple[int, float] = (-1, 0.0)


class Born:
    """When the frame being fanned out right now was published (``clock`` time; None: counted from
    now). Set by ``FanOut.fan_out`` around its loop and read only when a frame has to queue, so
    the per-delivery path carries no extra argument (the overload's ages: realtime/overload.py)."""

    t: float | None = None


@dataclass(eq=False, slots=True)
class Connection:
    """One client socket (WebSocket or SSE) with its bounded send queue."""

    kind: str  # "member" | "staff"
    send: Callable[[str], Coroutine[Any, Any, None]]  # a coroutine: enqueue drives it in place
    close_transport: Callable[[int, str], Awaitable[None]]
    # optional: write a frame now if that cannot wait (True), else False and ``send`` is used —
    # the transport's shortcut (server/uvicorn_io.py writes one pre-built frame to every socket)
    write: Callable[[str], bool] | None = None
    # optional: write several frames in one transport write if that cannot wait (True), else False
    # — the writer's coalescing of what queued up while the socket was behind (server/uvicorn_io.py)
    write_many: Callable[[list[str]], bool] | None = None
    hub_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    channels: dict[str, str] = field(default_factory=dict)  # channel -> epoch
    buffers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    # the frames waiting for the writer: a deque only while some wait (an empty deque is ~600
    # bytes), else the empty tuple — ``len``, ``not`` and iteration work on both
    queue: deque[str] | tuple[()] = ()
    # when each queued frame was published (``Born``; else queued), parallel to ``queue``; a deque
    # only while frames wait — its oldest unsent frame's age is what overload sheds on
    _stamps: deque[float] | None = None
    clock: Callable[[], float] = time.monotonic  # the gateway's (tests inject theirs)
    max_queue: int = 256
    coalesce_bytes: int = 64 * 1024  # at most this much text in one coalesced write
    allowance: int = 0  # replayed frames accepted beyond max_queue, not yet sent
    closing: tuple[int, str] | None = None
    revoked: bool = False
    present: bool = False  # counted in presence (attach joined it, or will once Redis is back)
    # a direct send that had to wait (transport paused): the writer finishes it before the queue
    _inflight: tuple[Coroutine[Any, Any, None], Any] | None = None
    _inflight_at: float = 0.0  # when that send's frame was published (or handed over)
    _ops_window: float = 0.0
    _ops: int = 0
    # the writer task: only while the socket is behind (frames queued, a send waiting) or closing;
    # None means "keeping up, nothing queued": enqueue then sends in place
    writer: asyncio.Task[None] | None = None
    ended: bool = False  # closing decided, or the peer is gone (see ended_future)
    _ended: asyncio.Future[None] | None = None
    # stall detection (see send_blocked): a counter rather than a timer per send keeps the hot
    # path free of timer handles
    busy: bool = False
    sent: int = 0
    stalled: bool = False
    _seen: tuple[int, float] = _UNSEEN  # (sent, when) of the last progress seen while busy

    def enqueue(self, text: str, *, ephemeral: bool = False) -> None:
        """Send ``text`` now if the socket keeps up, else queue it (bounded). A full queue closes
        the socket with 4008 (it resumes with ``since``); ``ephemeral`` frames (presence, typing)
        are dropped instead once the queue is half full."""
        if self.closing is not None:
            return
        if self.writer is None:  # nothing queued, nothing waiting: send right here
            self._send_now(text)
            return
        n = len(self.queue)
        if n >= self.max_queue + self.allowance:
            STATS.frames_dropped += n + 1
            STATS.slow_consumer_closes += 1
            self.drop_queue()  # the client cannot keep up: cut it off; it resumes with `since`
            self.close(p.CLOSE_SLOW_CONSUMER, "slow consumer")
            return
        if ephemeral and n >= self.max_queue // 2 + self.allowance:
            STATS.frames_dropped += 1
            return  # presence and typing go first when the queue is half full
        born = Born.t
        self._queued().append(text)
        self._stamps_of().append(self.clock() if born is None else born)
        # (the writer is running: it drains the queue before it ends)

    def _queued(self) -> deque[str]:
        queue = self.queue
        if isinstance(queue, deque):
            return queue
        queue = self.queue = deque()
        return queue

    def _stamps_of(self) -> deque[float]:
        stamps = self._stamps
        if stamps is None:
            stamps = self._stamps = deque()
        return stamps

    def drop_queue(self) -> None:
        """Forget every queued frame (the socket is being closed; it resumes with ``since``)."""
        self.queue = ()
        self._stamps = None

    def queue_age(self, now: float) -> float:
        """The age of this socket's oldest unsent frame (seconds since it was published, or queued
        when that is unknown; 0.0 when nothing waits): a send handed to the writer (the transport
        paused), else the head of the queue — the latency its client sees now."""
        if self._inflight is not None:
            return now - self._inflight_at
        stamps = self._stamps
        if stamps:
            return now - stamps[0]
        return 0.0

    def _send_now(self, text: str) -> None:
        """Drive the transport's send coroutine in place. While the transport accepts data (the
        usual case: uvicorn's send writes to the socket buffer and returns without suspending)
        it completes in this call. If it must wait (the peer is slow: the transport paused
        writing), the suspended send is handed to the writer, which finishes it before anything
        queued after it — order is kept, and the socket is then "behind" until the writer catches
        up, so later frames queue (bounded) as usual."""
        try:
            write = self.write
            if write is not None and write(text):
                self.sent += 1
                if self.allowance:
                    self.allowance -= 1
                return
            coro = self.send(text)
            try:
                blocked_on = coro.send(None)
            except StopIteration:
                self.sent += 1
                if self.allowance:  # as the writer counts it: a replayed frame went out
                    self.allowance -= 1
                return
        except Exception:  # the peer is gone: the reader notices and detaches
            self.closing = (p.CLOSE_NORMAL, "gone")
            self._end()
            self._start_writer()  # (it closes the transport, as for any close)
            return
        self._inflight = (coro, blocked_on)
        born = Born.t
        self._inflight_at = self.clock() if born is None else born
        self._start_writer()

    def _start_writer(self) -> None:
        """Start the writer task unless it is running (it drains what is queued before it ends)."""
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self.run_writer())

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            if self._ended is not None and not self._ended.done():
                self._ended.set_result(None)

    def ended_future(self) -> asyncio.Future[None]:
        """A future done once ``ended`` (a bare future: no task waiting on an Event per socket)."""
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
            if self.ended:
                self._ended.set_result(None)
        return self._ended

    def close(self, code: int, reason: str, *frames: str) -> None:
        """Send ``frames`` (after what is queued), then close with ``code``."""
        if self.closing is not None:
            return
        if frames:
            self._queued().extend(frames)
            self._stamps_of().extend([self.clock()] * len(frames))
        self.closing = (code, reason)
        self._end()
        self._start_writer()

    def stall(self) -> None:
        """The writer has been stuck in one send for too long (the peer stopped reading and every
        buffer on the way is full): drop what is queued, abandon that send and close with 4008."""
        if self.stalled or self.writer is None or self.writer.done():
            return
        self.stalled = True
        STATS.slow_consumer_closes += 1
        STATS.frames_dropped += len(self.queue)
        self.close(p.CLOSE_SLOW_CONSUMER, "slow consumer")
        self.drop_queue()
        self.writer.cancel()

    async def run_writer(self) -> None:
        """The socket's writer task, started when the socket fell behind or is closing: sends what
        ``enqueue`` could not (a suspended send first, then the queue, in order), then ends — and
        the socket is sent to in place again — or, once the socket is closing, closes the
        transport."""
        try:
            self.busy = True
            try:
                inflight = self._inflight
                if inflight is not None:
                    self._inflight = None
                    await _resume(*inflight)
                    self.sent += 1
                    if self.allowance:
                        self.allowance -= 1
                while self.queue:
                    queue, stamps = self.queue, self._stamps
                    assert isinstance(queue, deque) and stamps is not None  # queued frames are stamped
                    if len(queue) > 1 and self.write_many is not None:
                        batch = self._batch()
                        if self.write_many(batch):  # one write, frames in queue order
                            for _ in batch:
                                queue.popleft()
                                stamps.popleft()
                            self.sent += len(batch)
                            self.allowance = max(0, self.allowance - len(batch))
                            await asyncio.sleep(0)  # let the loop flush it and others run
                            continue
                    # The frame stays at the head (its age counting) until it is out; the send
                    # waits while the transport is paused.
                    await self.send(queue[0])
                    if queue is self.queue:  # (not if dropped meanwhile: the socket is being closed)
                        queue.popleft()
                        stamps.popleft()
                    self.sent += 1
                    if self.allowance:
                        self.allowance -= 1
            except asyncio.CancelledError:
                if not self.stalled:
                    raise
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                self.drop_queue()
            self.busy = False
            if self.closing is not None:
                await self.close_transport(*self.closing)
                return
            # Caught up: nothing queued, nothing waiting. Drop the (empty) queue and stamps and
            # end; enqueue sends in place again, the next backlog starts another writer.
            self.drop_queue()
            self.writer = None
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-send: the reader notices and detaches
            self.closing = self.closing or (p.CLOSE_NORMAL, "gone")
            self._end()
        finally:
            self.busy = False
            if self._inflight is not None:  # cancelled before finishing a handed-over send
                self._inflight[0].close()
                self._inflight = None

    def _batch(self) -> list[str]:
        """The frames at the head of the queue, up to ``coalesce_bytes`` of text (at least one)."""
        batch: list[str] = []
        size = 0
        for text in self.queue:
            size += len(text)
            if batch and size > self.coalesce_bytes:
                break
            batch.append(text)
        return batch

    def backlog(self) -> int:
        """How far behind this socket is, in frames: queued, plus one for a send that had to wait
        (the transport paused) — what the overload shedding ranks sockets by."""
        return len(self.queue) + (1 if self._inflight is not None or self.busy else 0)

    def count_op(self, now: float) -> int:
        """Count one client frame in the current one-second window; the count so far."""
        if now - self._ops_window >= 1.0:
            self._ops_window, self._ops = now, 0
        self._ops += 1
        return self._ops

    def send_blocked(self, now: float) -> float:
        """Seconds the writer has been stuck in one send (0.0 while it is idle or makes progress).
        The gateway's watchdog asks every period and closes the socket past ``send_timeout``."""
        if not self.busy:
            self._seen = _UNSEEN  # (no new tuple per idle socket per period)
            return 0.0
        if self.sent != self._seen[0]:
            self._seen = (self.sent, now)
            return 0.0
        return now - self._seen[1]


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], blocked_on: Any) -> Generator[Any, Any, None]:
    """Await the rest of ``coro``, which was started elsewhere (``Connection._send_now``) and is
    suspended on ``blocked_on``: hand that to the running task as if ``coro`` had yielded it here,
    then pass every resumption (or exception, e.g. a cancellation) on to ``coro`` — what a task
    does for the coroutine it runs."""
    value = blocked_on
    while True:
        try:
            sent = yield value
        except BaseException as exc:  # noqa: BLE001  (thrown in by the task: forwarded)
            try:
                value = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                value = coro.send(sent)
            except StopIteration:
                return
