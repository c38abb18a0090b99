"""Fixtures of the web app's browser tests: real `hubwire serve` processes (``web_cluster``: two
sharing PostgreSQL and Redis when HUBWIRE_TEST_REDIS_URL is set, one on the embedded default; on a
database of their own), one
headless Chromium for the package (``browser``), and the folder screenshots go to (``artifacts``:
HUBWIRE_TEST_ARTIFACTS, else a temporary folder of the run)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.backends import REDIS_URL, Database
from tests.support.realtime import start_server, stop_server
from tests.support.web import CHROMIUM_ARGS, WebCluster, chromium_path


@pytest.fixture(scope="package")
async def web_database_url(databases: Database) -> str:
    """A database of the web tests' own (the servers migrate it): no other test's app claims the
    emails its servers queue (on PostgreSQL every process on one database works its outbox)."""
    return await databases.new("web")


@pytest.fixture(scope="package")
def web_cluster(tmp_path_factory: pytest.TempPathFactory, web_database_url: str, redis_prefix: str) -> Iterator[WebCluster]:
    tmp = tmp_path_factory.mktemp("web")
    prefix = redis_prefix + "web:"
    a = start_server(tmp, web_database_url, prefix, "web-a")
    b = start_server(tmp, web_database_url, prefix, "web-b") if REDIS_URL else a
    try:
        yield WebCluster(a, b, web_database_url, prefix, tmp / "data")
    finally:
        stop_server(a)
        if b is not a:
            stop_server(b)


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="package")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("HUBWIRE_TEST_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("web-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def pages() -> AsyncIterator[list[Any]]:
    """Pages a test opens, whose browser contexts are closed after it."""
    opened: list[Any] = []
    yield opened
    for page in opened:
        await page.context.close()
