"""Dependencies of our own, to stop and start in fault tests: a redis-server and a PostgreSQL
cluster on free ports, never the machine's shared services the rest of the suite uses.

PostgreSQL runs as the ``postgres`` user (``initdb`` and ``pg_ctl`` from /usr/lib/postgresql/*/bin,
through ``runuser`` when the tests run as root), with its data and socket in a directory of its own
under /tmp (pytest's tmp directories are private to the test user)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.servers import free_port

# ---- Redis ----------------------------------------------------------------------------------------------


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(port: int, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--daemonize", "no"], stdout=out, stderr=subprocess.STDOUT)
    out.close()
    deadline = time.monotonic() + 10
    while not redis_ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"redis-server did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return proc


def stop_redis(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=10)


class OwnRedis:
    """A redis-server of our own on a free port, stopped and started at will (no persistence:
    a restart loses everything, like a real Redis restart without a snapshot)."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_redis(self.port, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop_redis(self.proc)
            self.proc = None


# ---- PostgreSQL -------------------------------------------------------------------------------------------


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise AssertionError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args  # already an unprivileged user that may run the server
    return ["runuser", "-u", "postgres", "--", *args]


class OwnPostgres:
    """A PostgreSQL cluster of our own (``initdb`` once, then ``pg_ctl start``/``stop`` at will) on a
    free port, trusting local connections as ``postgres``."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="hubwire-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"], timeout=60)

    def _run(self, args: list[str], timeout: float = 30) -> None:
        done = subprocess.run(_as_postgres(args), capture_output=True, timeout=timeout)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{args[0]} failed: {done.stdout.decode()}{done.stderr.decode()}\n{log}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                   "-w", "-t", "30", "start"])

    def stop(self, mode: str = "fast") -> None:
        """``fast``: sessions are ended at once (what a restart or a failover does to clients)."""
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"])

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except AssertionError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
