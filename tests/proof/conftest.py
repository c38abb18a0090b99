"""The proof tests' world: a real `hubwire serve` process on the suite's database (and Redis), and
two seeded tenants, A (the one probed) and B (the other team whose credentials probe it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.backends import Database
from tests.support.mailbox import migrated_database
from tests.support.payments import WEBHOOK_SECRET
from tests.support.proof import MAX_REPLAY, MAX_SUBSCRIPTIONS, Tenant, seed
from tests.support.realtime import start_server, stop_server
from tests.support.servers import ServerProcess


@pytest.fixture(scope="session")
async def proof_database_url(databases: Database) -> str:
    """The proof server's database, its own: on the suite's main database, the session app in this
    process shares the SQLite file, and while this process's event loop is not running (a sync
    fixture's teardown waiting for the server to exit) a job of that app caught between BEGIN and
    COMMIT keeps SQLite's write lock, so the server's own shutdown could wait on it for its busy
    timeout (a CI run timed out stopping the server that way)."""
    return await migrated_database(databases, "proof")


@pytest.fixture(scope="package")
def proof_server(tmp_path_factory: pytest.TempPathFactory, proof_database_url: str,
                 redis_prefix: str) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("proof")
    # One server for every proof test: a second process on the embedded default's SQLite file at the
    # same time would wait on its write lock. The WebSocket limits are the ones test_ws_fuzz.py probes
    # (the HTTP tests open no socket).
    srv = start_server(tmp, proof_database_url, redis_prefix + "proof:", "proof",
                       HUBWIRE_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, HUBWIRE_LOGIN_LIMIT_PER_IP="100000",
                       HUBWIRE_RT_MAX_SOCKETS="100", HUBWIRE_RT_MAX_SUBSCRIPTIONS=str(MAX_SUBSCRIPTIONS),
                       HUBWIRE_RT_MAX_REPLAY=str(MAX_REPLAY))
    try:
        yield srv
    finally:
        stop_server(srv)


@dataclass
class Tenants:
    a: Tenant
    b: Tenant
    base: str
    database_url: str


@pytest.fixture(scope="package")
async def tenants(proof_server: ServerProcess, proof_database_url: str) -> AsyncIterator[Tenants]:
    async with httpx.AsyncClient(base_url=proof_server.base, timeout=30.0) as http:
        a = await seed(http, proof_database_url, "tenant-a", WEBHOOK_SECRET)
        b = await seed(http, proof_database_url, "tenant-b", WEBHOOK_SECRET)
    yield Tenants(a, b, proof_server.base, proof_database_url)
