"""The backends this run uses, from the environment (see tests/conftest.py), and the settings of a
Hubwire app on them."""

from __future__ import annotations

import os
from pathlib import Path

from server.settings import Settings

PG_ADMIN_URL = os.environ.get("HUBWIRE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HUBWIRE_TEST_REDIS_URL")


def make_settings(data_dir: Path, database_url: str, redis_prefix: str, **overrides: str) -> Settings:
    env = {
        "HUBWIRE_DATA_DIR": str(data_dir),
        "HUBWIRE_DATABASE_URL": database_url,
        "HUBWIRE_SECRET_KEY": "test-secret-key-" + "x" * 40,
        "HUBWIRE_PASSWORD_HASHING": "fast",
        "HUBWIRE_LOGIN_LIMIT_PER_IP": "100000",
        "HUBWIRE_REDIS_PREFIX": redis_prefix,
        "HUBWIRE_LOG_LEVEL": "WARNING",
    }
    if REDIS_URL:
        env["HUBWIRE_REDIS_URL"] = REDIS_URL
    env.update(overrides)
    return Settings.from_env(env)
