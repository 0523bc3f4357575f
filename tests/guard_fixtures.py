"""The real Redis for the tests: a key prefix of each test's own, every key holding it
removed afterwards; and the guard's settings on it.

REMPART_TEST_REDIS_URL names the server (default: the local one). With
REMPART_REQUIRE_SERVICES=1 (CI) an unreachable server fails the test instead of
skipping it, as for PostgreSQL in conftest.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from ops_support import require_service
from rempart.guard import GuardSettings

REDIS_URL = os.environ.get("REMPART_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def redis_prefix(url: str = REDIS_URL) -> Iterator[str]:
    """A prefix of this test's own on the shared Redis at `url`; afterwards every key that
    holds it is deleted, wherever it holds it (`limits` puts its own prefix first)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", exc)
    prefix = f"rempart-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def redis_guard_settings() -> Iterator[GuardSettings]:
    with redis_prefix() as prefix:
        yield GuardSettings(storage_uri=REDIS_URL, key_prefix=prefix)
