"""`rempart doctor`'s check of PostgreSQL's connection slots: do the workers fit?

Every worker may open its budget (rempart.storage.connection_budget: the engine's pool
and the connections its worker threads keep), and a served worker keeps what it opened
at its busiest. So the workers' budgets together, plus a few for the tools run beside
them (this command, an audit checkpoint or export from cron), must fit in what the
server lets clients open: `max_connections` less the slots it keeps for superusers
(`superuser_reserved_connections`, and `reserved_connections` from PostgreSQL 16), and
no more than a limit set on the database or the role. Otherwise the server refuses
connections ("too many clients") at the first peak that reaches it, not before.
"""

from __future__ import annotations

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from rempart.observability.doctor import Finding
from rempart.settings import Settings
from rempart.storage.connection_budget import ConnectionBudget

# Connections of other processes than the workers: this command, a CLI job from cron.
TOOLS = 2
_SLOTS = text("""
    SELECT current_setting('max_connections')::int,
           current_setting('superuser_reserved_connections')::int,
           coalesce(current_setting('reserved_connections', true)::int, 0),
           (SELECT datconnlimit FROM pg_database WHERE datname = current_database()),
           (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user)
""")


def connections_problem(settings: Settings) -> Finding | None:
    """A finding when the workers' connection budgets do not fit the server's slots;
    None when they fit (or on SQLite)."""
    budget = ConnectionBudget.for_settings(settings)
    if budget is None:
        return None
    engine = create_engine(make_url(settings.database_url), poolclass=NullPool,
                           connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            available, how = _available(conn)
    except SQLAlchemyError:
        return None  # unreachable: database_problem already says so
    finally:
        engine.dispose()
    needed = settings.workers * budget.per_worker + TOOLS
    if needed <= available:
        return None
    return Finding(
        "database_connections",
        f"{settings.workers} worker(s) x {budget.per_worker} PostgreSQL connections each "
        f"(pool {budget.pool}, worker threads' {budget.thread_held}) + {TOOLS} for tools "
        f"= {needed}, more than the {available} clients may open ({how}): at a peak the "
        "server refuses connections",
        f"raise max_connections by at least {needed - available} (postgresql.conf, then "
        "restart PostgreSQL), or lower REMPART_DB_THREADS, REMPART_DB_POOL_OVERFLOW or the "
        "workers (see docs/deploy.md, \"PostgreSQL connections per worker\")")


def _available(conn: Connection) -> tuple[int, str]:
    """The connections clients other than superusers may open, and how that was found."""
    row = conn.execute(_SLOTS).one()
    maximum, superuser, reserved, database_limit, role_limit = (
        int(value) if value is not None else -1 for value in row)
    available = maximum - superuser - reserved
    how = f"max_connections {maximum} - {superuser + reserved} reserved"
    for name, limit in (("the database's CONNECTION LIMIT", database_limit),
                        ("the role's CONNECTION LIMIT", role_limit)):
        if 0 <= limit < available:
            available, how = limit, f"{name} {limit}"
    return available, how
