"""Fixtures for the guard's Redis-backed state: the real server, a unique key prefix per
test, and every key removed afterwards.

REMPART_TEST_REDIS_URL names the server (default: the local one). With
REMPART_REQUIRE_SERVICES=1 (CI) an unreachable server fails the test instead of
skipping it, as for PostgreSQL in conftest.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from rempart.guard import GuardSettings

REDIS_URL = os.environ.get("REMPART_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("REMPART_REQUIRE_SERVICES") == "1"


@pytest.fixture
def redis_guard_settings() -> Iterator[GuardSettings]:
    prefix = f"rempart-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis unavailable: {exc}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield GuardSettings(storage_uri=REDIS_URL, key_prefix=prefix)
    finally:
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
