"""The check journal's commits leave WAL checkpoints to a passive checkpoint run apart."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import text

from rempart.coverage.wal_checkpoints import WalCheckpointer
from rempart.runtime import Runtime


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _autocheckpoint(conn: object) -> int:
    driver = conn.connection.driver_connection  # type: ignore[attr-defined]
    return int(driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_commits_inside_are_not_checkpointed_and_the_setting_comes_back(
        runtime: Runtime) -> None:
    checkpoints = WalCheckpointer(runtime.engine)
    with runtime.engine.connect() as conn:
        before = _autocheckpoint(conn)
        assert before > 0
        with checkpoints.deferred(conn):
            assert _autocheckpoint(conn) == 0
            with conn.begin():
                conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
        assert _autocheckpoint(conn) == before


def _in_database_file(path: str) -> bool:
    """Whether the scratch row reached the database file itself (the WAL ignored)."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as direct:
        found = direct.execute("SELECT name FROM sqlite_master WHERE name = 'scratch'")
        return found.fetchone() is not None


def test_the_checkpoint_runs_apart_once_due(runtime: Runtime) -> None:
    path = str(runtime.engine.url.database)
    checkpoints = WalCheckpointer(runtime.engine, every_s=3600.0)
    with runtime.engine.connect() as conn, checkpoints.deferred(conn), conn.begin():
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
        conn.execute(text("INSERT INTO scratch VALUES (1)"))
    assert not _in_database_file(path)  # committed to the WAL only

    async def flush_answered() -> None:
        checkpoints.run_when_due()
        assert checkpoints._running is None  # not due yet
        checkpoints._every_s = 0.0
        checkpoints.run_when_due()
        assert checkpoints._running is not None
        await checkpoints._running

    asyncio.run(flush_answered())
    assert _in_database_file(path)


def test_nothing_happens_on_other_databases(runtime: Runtime) -> None:
    checkpoints = WalCheckpointer(runtime.engine)
    checkpoints._enabled = False
    with runtime.engine.connect() as conn, checkpoints.deferred(conn):
        assert _autocheckpoint(conn) > 0
