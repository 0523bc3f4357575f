"""`rempart doctor`'s checks of the instance itself: the database answers, has room for
the workers' connections (rempart.observability.doctor_connections), and holds no demo
account (its password is printed by `rempart demo` and published in the docs)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from rempart.core.errors import RempartError
from rempart.observability.doctor import Finding
from rempart.observability.doctor_connections import connections_problem
from rempart.portal.demo import demo_account_exists
from rempart.runtime import Runtime
from rempart.settings import Settings


def diagnose_instance(settings: Settings) -> list[Finding]:
    problem = database_problem(settings)
    if problem is not None:
        return [problem]
    slots = connections_problem(settings)
    return ([slots] if slots is not None else []) + _demo_account(settings)


def _demo_account(settings: Settings) -> list[Finding]:
    try:
        runtime = Runtime.open(settings, migrate=False)
    except RempartError:
        return []  # the keys' findings already say why
    with runtime:
        try:
            present = demo_account_exists(runtime)
        except SQLAlchemyError:
            return [Finding("database", "the schema is missing or behind",
                            "run the migrations (see docs/deploy.md)")]
    if present:
        return [Finding("demo_account", "the demo account (published password) exists",
                        "delete this instance's demo account, or build the deployment's "
                        "instance without `rempart demo`")]
    return []


def database_problem(settings: Settings) -> Finding | None:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return Finding("database", f"the SQLite database {url.database} does not exist",
                       "build the instance first, or set REMPART_DATABASE_URL")
    engine = create_engine(url, connect_args={} if url.get_backend_name() == "sqlite"
                           else {"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        if url.password:
            reason = reason.replace(url.password, "***")
        return Finding("database", f"the database cannot be reached: {reason}",
                       "check REMPART_DATABASE_URL (host, port, name, credentials) and "
                       "that the server runs")
    finally:
        engine.dispose()
    return None
