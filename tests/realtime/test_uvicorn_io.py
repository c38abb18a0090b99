"""server/uvicorn_io.py against a real uvicorn server on a real socket: pre-built frames written
straight to the transport are what a WebSocket client reads, the shortcut steps aside whenever
uvicorn's own send would wait or refuse, and it is never used where frames differ per socket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import socket
import struct
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from server.errors import RAW_SEND, edge
from server.uvicorn_io import aborter, bound_send_buffer, direct_writer, release_handshake


class Probe:
    """A bare ASGI app: accepts a socket, records its send and direct writer, then waits."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        assert await receive() == {"type": "websocket.connect"}
        await send({"type": "websocket.accept"})
        raw = scope[RAW_SEND]  # kept by edge: uvicorn's own send, not a wrapper
        await self.accepted.put((raw, direct_writer(raw)))
        with contextlib.suppress(Exception):
            while (await receive())["type"] != "websocket.disconnect":
                pass


@contextlib.asynccontextmanager
async def serving(app: Any, **config: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(edge(app), lifespan="off", log_level="warning",
                                           ws_per_message_deflate=config.pop("deflate", False), **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


TEXTS = ["", "x", "é€😀 unicode", "a" * 125, "b" * 126, "c" * 65535, "d" * 65536, '{"type":"event","seq":1}']


async def test_pre_built_frames_are_what_the_client_reads() -> None:
    app = Probe()
    async with serving(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=None) as ws:
            _, write = await asyncio.wait_for(app.accepted.get(), 5)
            assert write is not None
            for text in TEXTS:  # each framed once, then the same bytes again for a second "socket"
                assert write(text) and write(text)
            for text in TEXTS:
                assert await asyncio.wait_for(ws.recv(), 5) == text
                assert await asyncio.wait_for(ws.recv(), 5) == text


async def test_a_frame_is_shared_across_sockets_and_still_correct() -> None:
    app = Probe()
    async with serving(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as one, \
                connect(f"ws://127.0.0.1:{port}/", compression=None) as two:
            writers = [(await asyncio.wait_for(app.accepted.get(), 5))[1] for _ in range(2)]
            for n in range(50):
                text = f'{{"seq":{n}}}'
                for write in writers:
                    assert write(text)
            for ws in (one, two):
                assert [await asyncio.wait_for(ws.recv(), 5) for _ in range(50)] == [f'{{"seq":{n}}}' for n in range(50)]


async def test_several_frames_in_one_write_keep_their_order_and_framing() -> None:
    app = Probe()
    async with serving(app) as port:
        reader, writer = await _raw_client(port)
        _, write = await asyncio.wait_for(app.accepted.get(), 5)
        many = write.many  # type: ignore[union-attr]
        write(TEXTS[-1])  # the last framed text is reused by the batch as is
        assert many(TEXTS) and many([TEXTS[-1], "after"])
        expected = [TEXTS[-1], *TEXTS, TEXTS[-1], "after"]
        for text in expected:  # every frame whole, in order, unmasked text frames
            assert await asyncio.wait_for(_read_frame(reader), 10) == (0x81, text.encode())
        writer.close()


async def test_the_kernel_send_buffer_is_capped_and_the_transport_pauses_sooner() -> None:
    app = Probe()
    async with serving(app) as port:
        reader, writer = await _raw_client(port)
        raw, write = await asyncio.wait_for(app.accepted.get(), 5)
        assert bound_send_buffer(raw, 16384)
        sock = raw.__self__.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 16384  # Linux doubles it
        chunk = "z" * 4096
        written = 0
        while write(chunk):  # the client reads nothing: with the cap the transport pauses after
            written += 1      # about the kernel buffer + uvicorn's high-water mark, not megabytes
            assert written < 1000, "the transport never paused"
            await asyncio.sleep(0)
        for _ in range(written):  # and every frame still arrives whole, in order
            assert await asyncio.wait_for(_read_frame(reader), 10) == (0x81, chunk.encode())
        writer.close()
    assert not bound_send_buffer(object(), 16384)  # another server: nothing to cap


async def test_the_handshake_is_released_and_the_socket_still_works() -> None:
    app = Probe()
    async with serving(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            raw, write = await asyncio.wait_for(app.accepted.get(), 5)
            assert raw.__self__.request is not None
            assert release_handshake(raw)
            assert raw.__self__.request is None and raw.__self__.response is None
            assert write("still framed") and await asyncio.wait_for(ws.recv(), 5) == "still framed"
            await raw({"type": "websocket.send", "text": "through ASGI"})
            assert await asyncio.wait_for(ws.recv(), 5) == "through ASGI"
            await ws.send("from the client")  # and the socket still reads
            await raw({"type": "websocket.close", "code": 1000})
    assert not release_handshake(object())


class Releasing:
    """Like the realtime routes: accepts, waits for the client's first two messages, releases the
    handshake in its own task (nobody reading yet), then echoes every text through ASGI."""

    def __init__(self) -> None:
        self.released: asyncio.Queue[tuple[Any, Any, Any]] = asyncio.Queue()
        self.received: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert await receive() == {"type": "websocket.connect"}
        await send({"type": "websocket.accept"})
        raw = scope[RAW_SEND]
        proto = raw.__self__
        request = weakref.ref(proto.request)
        while proto.queue.qsize() < 2:  # "one" and "two" arrived and wait in uvicorn's queue
            await asyncio.sleep(0.01)
        assert release_handshake(raw)
        await self.released.put((raw, direct_writer(raw), request))
        while (message := await receive())["type"] == "websocket.receive":
            self.received.append(message["text"])
            await raw({"type": "websocket.send", "text": "echo " + message["text"]})
        self.received.append(message["type"])


async def test_a_released_socket_lets_the_handshake_go_and_still_reads_writes_and_waits() -> None:
    """After release_handshake the request is gone (websockets' parser no longer holds it), and
    the lighter receive queue and writable flag behave as uvicorn's: messages that arrived before
    keep their order, a paused transport makes the shortcut refuse and the ASGI send wait until
    writing resumes, and the peer's close reaches the app."""
    app = Releasing()
    async with serving(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            await ws.send("one")
            await ws.send("two")
            raw, write, request = await asyncio.wait_for(app.released.get(), 5)
            proto = raw.__self__
            gc.collect()
            assert request() is None  # nothing holds the handshake's request any more
            assert type(proto.queue) is not asyncio.Queue and type(proto.writable) is not asyncio.Event
            assert [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)] == ["echo one", "echo two"]
            await ws.send("three")  # read after the release, frame by frame as before
            assert await asyncio.wait_for(ws.recv(), 5) == "echo three"
            proto.pause_writing()  # what the transport calls past its high-water mark
            assert not write("refused")
            sending = asyncio.create_task(raw({"type": "websocket.send", "text": "waited"}))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not sending.done()  # the ASGI send waits while paused
            proto.resume_writing()
            await asyncio.wait_for(sending, 5)
            assert await asyncio.wait_for(ws.recv(), 5) == "waited"
            assert write("direct again") and await asyncio.wait_for(ws.recv(), 5) == "direct again"
        for _ in range(500):
            if app.received[-1:] == ["websocket.disconnect"]:
                break
            await asyncio.sleep(0.01)
        assert app.received == ["one", "two", "three", "websocket.disconnect"]


async def test_no_shortcut_when_permessage_deflate_is_negotiated() -> None:
    app = Probe()
    async with serving(app, deflate=True) as port:
        async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            raw, write = await asyncio.wait_for(app.accepted.get(), 5)
            assert write is None  # frames are compressed per socket: nothing to share
            await raw({"type": "websocket.send", "text": "through ASGI"})
            assert await asyncio.wait_for(ws.recv(), 5) == "through ASGI"


def test_no_shortcut_for_another_server() -> None:
    async def send(message: Any) -> None:
        return None

    assert direct_writer(send) is None
    assert direct_writer(object()) is None


async def _raw_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client by hand, so that it can stop reading altogether."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    assert not b1 & 0x80, "server frames are never masked"
    return b0, await reader.readexactly(n)


async def test_steps_aside_while_the_transport_is_paused_and_after_close() -> None:
    app = Probe()
    async with serving(app) as port:
        reader, writer = await _raw_client(port)
        raw, write = await asyncio.wait_for(app.accepted.get(), 5)
        assert write is not None
        chunk = "z" * 16384
        written = 0
        while write(chunk):  # the client reads nothing: the kernel buffers fill, then uvicorn's
            written += 1     # transport pauses writing and the shortcut refuses (no waiting)
            assert written < 10_000, "the transport never paused"
            await asyncio.sleep(0)
        assert written > 0
        assert not write.many(["refused", "too"])  # type: ignore[attr-defined]  (paused: never waits)
        # the client catches up: every frame arrives whole and in order, and writing resumes
        for _ in range(written):
            b0, payload = await asyncio.wait_for(_read_frame(reader), 10)
            assert b0 == 0x81 and payload == chunk.encode()
        for _ in range(500):
            if write("again"):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("writing did not resume once the client read everything")
        assert await asyncio.wait_for(_read_frame(reader), 5) == (0x81, b"again")
        await raw({"type": "websocket.close", "code": 1000})
        assert not write("after close")  # a close frame was sent: no data frame may follow
        b0, payload = await asyncio.wait_for(_read_frame(reader), 5)
        assert b0 == 0x88 and payload[:2] == struct.pack("!H", 1000)
        writer.close()


async def test_steps_aside_once_the_peer_is_gone() -> None:
    app = Probe()
    async with serving(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/", compression=None):
            _, write = await asyncio.wait_for(app.accepted.get(), 5)
        for _ in range(500):  # the client closed: the shortcut refuses and the ASGI send decides
            if not write("late"):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("kept writing to a closed socket")




class Streamer:
    """A bare ASGI app streaming 64 KB chunks (at most ``limit``) to an HTTP client."""

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self.started: asyncio.Queue[Any] = asyncio.Queue()
        self.sent = 0
        self.done = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await self.started.put(scope[RAW_SEND])
        try:
            for _ in range(self.limit):
                await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
                self.sent += 1
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.done.set()


async def test_aborter_drops_a_response_stuck_on_a_client_that_stopped_reading() -> None:
    app = Streamer()
    async with serving(app) as port:  # type: ignore[arg-type]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4096)
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        raw = await asyncio.wait_for(app.started.get(), 5)
        abort = aborter(raw)
        assert abort is not None
        writer.transport.pause_reading()  # the client stops reading
        for _ in range(1000):  # until the response is stuck: uvicorn paused writing
            if raw.__self__.flow.write_paused:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the response never got stuck")
        assert not app.done.is_set()
        stuck_at = app.sent
        abort()
        await asyncio.wait_for(app.done.wait(), 5)  # the stuck send returned; the app ran to its end
        writer.transport.resume_reading()
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(reader.read(65536), 5):
                data += chunk
        assert not data.endswith(b"\r\n0\r\n\r\n")  # dropped, not a completed response
        assert len(data) < (stuck_at + 1) * 65536  # what was buffered was discarded, not flushed
        writer.close()


def test_no_aborter_for_another_server() -> None:
    async def send(message: Any) -> None:
        return None

    assert aborter(send) is None
    assert aborter(None) is None
