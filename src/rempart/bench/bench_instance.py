"""The benchmark's instance: one per population size and backend, built once and cached.

Under the bench directory (default: <tmp>/rempart-bench), `checks-<backend>-<N>/` (or
`checks-postgresql-<name>/` for a database named) holds the population files and the
keyring, and for SQLite the database. With a PostgreSQL server URL the database is
`rempart_bench_checks_<N>` (or the name given) on that server, created when missing and
kept for the next run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import select
from sqlalchemy.engine.url import make_url

from rempart.bench.errors import BenchError
from rempart.bench.instance import LocalInstance, ensure_instance, instance_settings
from rempart.providers.models import Organisation
from rempart.settings import normalise_database_url
from rempart.storage.engine import make_engine

# Requests are spread over at most this many provider organisations (all 3,558 of the
# 1,000,000-person instance). Few organisations each sending thousands of checks an hour
# pass their hourly ceilings within seconds, and the guard-on side would measure 429s
# (about one answer in ten over 100 organisations) instead of checks.
ORGANISATIONS_USED = 5000


def default_bench_dir() -> Path:
    return Path(tempfile.gettempdir()) / "rempart-bench"


@dataclass(frozen=True)
class BenchInstance:
    instance: LocalInstance
    backend: str
    organisation_ids: list[int]

    @property
    def directory(self) -> Path:
        return self.instance.directory

    @property
    def server_env(self) -> dict[str, str]:
        """What the server's app factory reads: this instance, demo identity, bench routes."""
        settings = self.instance.settings
        return {
            "REMPART_DATA_DIR": str(settings.data_dir),
            "REMPART_DATABASE_URL": settings.database_url,
            "REMPART_KEY_FILE": str(settings.key_file),
            "REMPART_DEMO_MODE": "1",
            "REMPART_BENCH_ENDPOINTS": "1",
        }


def ensure_bench_instance(*, people: int, seed: int, database_url: str | None,
                          data_dir: Path | None, on_stage: Callable[[str], None],
                          database_name: str | None = None) -> BenchInstance:
    backend = "sqlite" if database_url is None else "postgresql"
    # A database of another name is another instance: its keys live beside it.
    directory = (data_dir or default_bench_dir()) / (
        f"checks-postgresql-{database_name}" if database_name and database_url
        else f"checks-{backend}-{people}")
    url = None
    if database_url is not None:
        url = ensure_postgres_database(database_url,
                                       database_name or f"rempart_bench_checks_{people}")
    settings = instance_settings(directory, url)
    on_stage(f"instance of {people:,} persons ({backend}) in {directory}")

    def generated(done: int) -> None:
        if done % 100_000 == 0:
            on_stage(f"generated {done:,} / {people:,} persons")

    instance = ensure_instance(settings=settings, people=people, seed=seed,
                               on_generated=generated)
    if instance.imported:
        on_stage("population imported")
    return BenchInstance(instance=instance, backend=backend,
                         organisation_ids=_organisation_ids(instance))


def ensure_postgres_database(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`, created if missing."""
    parsed = make_url(normalise_database_url(server_url))
    admin_url = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                               (name,)).fetchone()
        if exists is None:
            admin.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def _organisation_ids(instance: LocalInstance) -> list[int]:
    engine = make_engine(instance.settings)
    try:
        with engine.connect() as conn:
            ids = list(conn.scalars(select(Organisation.id).order_by(Organisation.id)
                                    .limit(ORGANISATIONS_USED)))
    finally:
        engine.dispose()
    if not ids:
        raise BenchError("the instance has no provider organisations")
    return ids
