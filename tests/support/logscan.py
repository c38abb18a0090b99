"""The log scan: every log record of the whole test run, formatted as the server writes it
(server/logs.py), goes to one file; at the end of the run that file and the logs of every server
process the tests started are searched for the secrets the tests used (passwords, tokens, keys,
sign-in links). One hit fails the run."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from server.logs import LogFormatter
from tests.support.api import PASSWORD
from tests.support.payments import SECRET_KEY as STRIPE_KEY
from tests.support.payments import WEBHOOK_SECRET

# What the tests send that must never be written to a log, literally or by shape.
LITERALS = (PASSWORD, STRIPE_KEY, WEBHOOK_SECRET, "test-secret-key-xxxxxxxx", "realtime-test-secret-",
            "metrics-test-secret-", "metrics-test-token-")
SHAPES = re.compile(
    r"hw_(?:sk|rt|ml)_[A-Za-z0-9_-]{12,}"  # API keys, refresh tokens, sign-in link tokens
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # access and member tokens
    r"|[?&]token=[A-Za-z0-9_-]{12,}"  # a link with its token
    r"|\"password\"\s*:\s*\"[^\"]"  # a password field with a value
)


def find_secrets(text: str) -> list[str]:
    hits = [lit for lit in LITERALS if lit in text]
    hits += [m.group(0)[:40] for m in SHAPES.finditer(text)]
    return hits


def collect(path: Path) -> Iterator[None]:
    """Write every record any logger hands to its handlers to ``path`` (whatever handlers the app's
    logging configuration installed), formatted as JSON lines."""
    formatter = LogFormatter(log_format="json")
    original = logging.Logger.callHandlers
    out = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        try:
            line = formatter.format(record)
        except (TypeError, ValueError):  # a record whose arguments do not fit its message
            line = str(record.msg)
        out.write(line + "\n")
        original(self, record)

    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
    try:
        yield
    finally:
        logging.Logger.callHandlers = original  # type: ignore[method-assign]
        out.close()


def scan(files: list[Path]) -> dict[str, list[str]]:
    """Secrets found, by file (only files with a hit)."""
    found: dict[str, list[str]] = {}
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        hits = find_secrets(text)
        if hits:
            found[str(f)] = sorted(set(hits))[:10]
    return found


def lines_scanned(files: list[Path]) -> int:
    n = 0
    for f in files:
        try:
            n += sum(1 for _ in f.open(errors="replace"))
        except OSError:
            continue
    return n
