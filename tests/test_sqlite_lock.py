"""Taking SQLite's write lock without waiting: the check journal's test before it writes
on the event loop."""

from __future__ import annotations

from typing import Any

import pytest

from rempart.runtime import Runtime
from rempart.storage.sqlite_lock import begin_if_free


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _driver(conn: Any) -> Any:
    return conn.connection.driver_connection


def _busy_timeout(conn: Any) -> int:
    return int(_driver(conn).execute("PRAGMA busy_timeout").fetchone()[0])


def test_a_free_lock_is_taken_and_the_busy_timeout_comes_back(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn, runtime.engine.connect() as other:
        before = _busy_timeout(conn)
        assert before > 0
        assert begin_if_free(conn)
        assert _driver(conn).in_transaction
        assert _busy_timeout(conn) == before
        assert not begin_if_free(other)  # the lock is conn's until it commits
        _driver(conn).rollback()  # the transaction is the driver's until a statement runs
        assert begin_if_free(other)
        _driver(other).rollback()


def test_a_held_lock_begins_nothing(runtime: Runtime) -> None:
    with runtime.engine.connect() as holder, runtime.engine.connect() as conn:
        _driver(holder).execute("BEGIN IMMEDIATE")
        try:
            before = _busy_timeout(conn)
            assert not begin_if_free(conn)
            assert not _driver(conn).in_transaction
            assert _busy_timeout(conn) == before
        finally:
            _driver(holder).rollback()
