"""/healthz and /readyz against the real database and Redis, and with each one failing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine

from checks_support import AppClient
from ops_support import (
    REDIS_URL,
    free_port,
    require_service,
    with_signing_key,
    with_throttle_storage,
)
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.web import create_app
from settings_support import sqlite_settings


@pytest.fixture
def redis_up() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        require_service("Redis", exc)


@pytest.fixture
def pg_runtime(postgres_url: str, tmp_path: Path) -> Iterator[Runtime]:
    base = sqlite_settings(tmp_path / "pg-instance")
    settings = Settings.load(data_dir=base.data_dir, database_url=postgres_url,
                             key_file=base.key_file)
    with Runtime.open(settings, create_keys=True) as runtime:
        yield runtime


def test_ready_on_each_backend(runtime: Runtime) -> None:
    with AppClient(create_app(with_signing_key(runtime))) as client:
        alive = client.get("/healthz")
        ready = client.get("/readyz")
    assert alive.status_code == 200
    assert alive.json() == {"status": "alive"}
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "components": {
        "database": "ok", "vault": "ok", "audit_signing_key": "ok"}}
    assert ready.headers["cache-control"] == "no-store"


def test_missing_signing_key_is_named(runtime: Runtime) -> None:
    with AppClient(create_app(runtime)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["audit_signing_key"]
    assert str(runtime.settings.data_dir) not in ready.text  # no path, no key


@pytest.mark.postgres
@pytest.mark.usefixtures("redis_up")
def test_ready_with_postgres_and_redis(pg_runtime: Runtime) -> None:
    served = with_throttle_storage(with_signing_key(pg_runtime), REDIS_URL)
    with AppClient(create_app(served)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["components"]["redis"] == "ok"


@pytest.mark.postgres
def test_unreachable_redis_fails_readiness_but_not_liveness(pg_runtime: Runtime) -> None:
    secret = "s3cret-redis-password"
    port = free_port()
    closed = f"redis://:{secret}@127.0.0.1:{port}/0"
    served = with_throttle_storage(with_signing_key(pg_runtime), closed)
    with AppClient(create_app(served)) as client:
        alive = client.get("/healthz")
        ready = client.get("/readyz")
    assert alive.status_code == 200
    assert ready.status_code == 503
    body = ready.json()
    assert body["failing"] == ["redis"]
    assert body["components"]["database"] == "ok"
    assert body["components"]["redis"].startswith("failed: ")
    assert secret not in ready.text
    assert str(port) not in ready.text


@pytest.mark.postgres
def test_unreachable_database_is_named(pg_runtime: Runtime) -> None:
    port = free_port()
    gone = create_engine(f"postgresql+psycopg://rempart:pw-not-shown@127.0.0.1:{port}/x")
    served = dataclasses.replace(with_signing_key(pg_runtime), engine=gone)
    with AppClient(create_app(served)) as client:
        alive = client.get("/healthz")
        ready = client.get("/readyz")
    gone.dispose()
    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["database"]
    assert "pw-not-shown" not in ready.text
    assert str(port) not in ready.text
