"""The proof tests' world: a real `hubwire serve` process on the suite's database (and Redis), and
two seeded tenants, A (the one probed) and B (the other team whose credentials probe it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.payments import WEBHOOK_SECRET
from tests.support.proof import MAX_REPLAY, MAX_SUBSCRIPTIONS, Tenant, seed
from tests.support.realtime import start_server, stop_server
from tests.support.servers import ServerProcess


@pytest.fixture(scope="package")
def proof_server(tmp_path_factory: pytest.TempPathFactory, database_url: str,
                 redis_prefix: str) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("proof")
    # One server for every proof test: a second process on the embedded default's SQLite file at the
    # same time would wait on its write lock. The WebSocket limits are the ones test_ws_fuzz.py probes
    # (the HTTP tests open no socket).
    srv = start_server(tmp, database_url, redis_prefix + "proof:", "proof",
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
async def tenants(proof_server: ServerProcess, database_url: str) -> AsyncIterator[Tenants]:
    async with httpx.AsyncClient(base_url=proof_server.base, timeout=30.0) as http:
        a = await seed(http, database_url, "tenant-a", WEBHOOK_SECRET)
        b = await seed(http, database_url, "tenant-b", WEBHOOK_SECRET)
    yield Tenants(a, b, proof_server.base, database_url)
