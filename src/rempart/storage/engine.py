"""Engine creation for SQLite (WAL) and PostgreSQL (psycopg 3).

SQLite connections read through a memory map and keep a larger page cache than the
default 2 MB: the check's look-up walks indexes spread over a large database (hundreds
of MB at a million persons), and through the default cache each page it misses costs a
read system call; mapped, it is a memory access (docs/performance.md has the figures).
The map only serves reads: writes still go through the WAL, so durability is unchanged
(synchronous=NORMAL under WAL: a commit is durable once the WAL is synced at checkpoint;
a power cut may lose the last transactions, never corrupt the database). An I/O error
on a mapped page would end the process rather than raise an error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.url import make_url

from rempart.settings import Settings

MMAP_BYTES = 1 << 30  # address space, not memory: pages are shared with the OS cache
CACHE_KIB = 32 * 1024  # per connection


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # The pool's sizes are part of the worker's connection budget (connection_budget).
    return create_engine(url, pool_pre_ping=True, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_pool_overflow, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
