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
from sqlalchemy import Connection, delete, insert, inspect, select
from sqlalchemy.engine.url import make_url
from stdnum import luhn

from rempart.bench.errors import BenchError
from rempart.bench.instance import LocalInstance, ensure_instance, instance_settings
from rempart.guard.models import GuardStateRow
from rempart.providers.models import Organisation
from rempart.settings import normalise_database_url
from rempart.storage.engine import make_engine

# One provider organisation per bench session (the corpus has one body per session): a
# real day's checks come from tens of thousands of practices, each at a counter's pace.
# The synthetic population has about one organisation per 280 persons (3,558 at
# 1,000,000, 356 at 100,000); at the bench's thousands of checks a second each of those
# would send a check every second or two, pass its hourly ceilings within a minute, and
# the guard-on side would measure 429s (half the answers of the 100,000-person instance
# on 2026-12-01) instead of checks. Bench practices make up the difference, once.
BENCH_ORGANISATIONS = 20_000
_BENCH_SIRET_PREFIX = "99"


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
        with engine.begin() as conn:
            ids = list(conn.scalars(select(Organisation.id).order_by(Organisation.id)))
            if not ids:
                raise BenchError("the instance has no provider organisations")
            if len(ids) < BENCH_ORGANISATIONS:
                _add_bench_practices(conn, BENCH_ORGANISATIONS - len(ids))
                ids = list(conn.scalars(select(Organisation.id).order_by(Organisation.id)))
            # The guard's saved state (rempart.guard.persist) of an earlier run: cleared,
            # so that every run's servers start with the guard knowing no account, as
            # every run did before that state was kept, and runs stay comparable.
            if inspect(conn).has_table(GuardStateRow.__tablename__):
                conn.execute(delete(GuardStateRow))
    finally:
        engine.dispose()
    return ids[:BENCH_ORGANISATIONS]


def _add_bench_practices(conn: Connection, count: int) -> None:
    """`count` more organisations, each like one of the instance's own (profession and
    place, in turn), with a valid SIRET of their own and no staff (solo practices)."""
    models = conn.execute(select(Organisation.profession, Organisation.postcode,
                                 Organisation.departement).order_by(Organisation.id)).all()
    taken = set(conn.scalars(select(Organisation.siret)))
    rows: list[dict[str, str]] = []
    serial = 0
    while len(rows) < count:
        serial += 1
        # A SIRET is a SIREN (8 digits and its Luhn key) and an establishment number
        # (4 digits and the Luhn key of all 14).
        siren = f"{_BENCH_SIRET_PREFIX}{serial // 10_000:06d}"
        siren += luhn.calc_check_digit(siren)
        stem = f"{siren}{serial % 10_000:04d}"
        siret = stem + luhn.calc_check_digit(stem)
        if siret in taken:
            continue
        profession, postcode, departement = models[len(rows) % len(models)]
        rows.append({"siret": siret, "name": f"Bench practice {len(rows) + 1}",
                     "profession": profession, "postcode": postcode,
                     "departement": departement})
    conn.execute(insert(Organisation), rows)
