"""The per-thread driver connections (rempart.storage.thread_connections): a thread that
ends leaves no connection open, on PostgreSQL where each one is a server backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine.url import make_url

from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.thread_connections import ThreadConnections

pytestmark = pytest.mark.postgres

THREADS = 12
SERVER = os.environ.get("REMPART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def backends(url: str) -> int:
    """Server backends connected to `url`'s database (counted from another database)."""
    with psycopg.connect(SERVER, autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (make_url(url).database,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def engine(postgres_url: str, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(Settings.load(data_dir=tmp_path, database_url=postgres_url,
                                       key_file=tmp_path / "keyring.json"))
    try:
        yield engine
    finally:
        engine.dispose()


def _in_thread(call: Any) -> None:
    thread = threading.Thread(target=call)
    thread.start()
    thread.join()


def test_a_thread_that_ends_closes_its_connection(engine: Engine, postgres_url: str) -> None:
    connections = ThreadConnections(engine, autocommit=True)
    drivers: list[Any] = []

    def use() -> None:
        driver = connections.get()
        driver.execute("SELECT 1")
        drivers.append(driver)

    for _ in range(THREADS):  # one after another, as a pool's threads come and go
        _in_thread(use)
    assert len({id(d) for d in drivers}) == THREADS  # each thread had its own
    assert all(d.closed for d in drivers)
    assert backends(postgres_url) == 0
    connections.close()


def test_live_threads_keep_theirs_and_the_owner_closes_them(
        engine: Engine, postgres_url: str) -> None:
    connections = ThreadConnections(engine)
    used, done = threading.Barrier(4), threading.Event()
    drivers: list[Any] = []

    def hold() -> None:
        drivers.append(connections.get())
        assert connections.get() is drivers[-1]  # the same thread: the same connection
        used.wait(10)
        done.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    used.wait(10)
    try:
        assert backends(postgres_url) == 3
        connections.close()
        assert all(d.closed for d in drivers)
        assert backends(postgres_url) == 0
    finally:
        done.set()
        for thread in threads:
            thread.join()


def test_a_discarded_connection_is_closed_and_replaced(engine: Engine,
                                                       postgres_url: str) -> None:
    connections = ThreadConnections(engine)
    first = connections.get()
    connections.discard()
    assert first.closed
    second = connections.get()
    assert second is not first
    second.execute("SELECT 1")
    assert backends(postgres_url) == 1
    connections.close()
    assert backends(postgres_url) == 0
