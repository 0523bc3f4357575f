"""Migration 0009r: the revocation poll reads a partial index of the revoked clients
only (SQLite and PostgreSQL), and its downgrade puts the full scan back."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, text

from rempart.auth.api_clients import _REVOKED_SINCE
from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import alembic_config, upgrade

INDEX = "ix_api_clients_revoked_at"
SINCE = "2026-03-02 09:00:00+00:00"


def poll_plan(conn: Connection) -> str:
    """The plan of the poll's own statement, as compiled for this database."""
    sql = str(_REVOKED_SINCE.compile(dialect=conn.dialect))
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (SINCE,)).all()
        return "\n".join(str(row[-1]) for row in rows)
    # An empty table is scanned whatever its indexes: ask whether the index can serve.
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql, {"since": SINCE}))


def index_definition(conn: Connection) -> str | None:
    query = ("SELECT sql FROM sqlite_master WHERE name = :name" if conn.dialect.name == "sqlite"
             else "SELECT indexdef FROM pg_indexes WHERE indexname = :name")
    return conn.execute(text(query), {"name": INDEX}).scalar_one_or_none()


def test_the_revocation_poll_reads_an_index_of_revoked_clients_only(
        settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            definition = index_definition(conn) or ""
            assert "WHERE" in definition.upper()  # partial: registering writes nothing to it
            assert "revoked_at IS NOT NULL" in definition
            assert INDEX in poll_plan(conn)
        command.downgrade(alembic_config(engine), "0008f")
        engine.dispose()  # SQLite: a kept connection may re-run a statement prepared before
        with engine.begin() as conn:
            assert index_definition(conn) is None
            assert INDEX not in poll_plan(conn)
        upgrade(engine)
        engine.dispose()
        with engine.begin() as conn:
            assert INDEX in poll_plan(conn)
    finally:
        engine.dispose()
