"""`rempart bench import`: persons imported per second against the driver's own baseline.

The population is generated first (not timed) by rempart.synth, then imported into a
fresh database (a temporary SQLite file, or a new database created on the PostgreSQL
server given by URL and dropped afterwards) with the real importer: validation,
sealing, blind indexes and all. The same members rows are then inserted in clear by
the same driver into a plain table, as the baseline.
"""

from __future__ import annotations

import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine.url import make_url

from rempart.bench.baseline import insert_baseline
from rempart.ingest.formats import FileKind
from rempart.ingest.service import DEFAULT_WORKERS, Importer
from rempart.runtime import Runtime
from rempart.settings import Settings, normalise_database_url
from rempart.synth import generate_population


@dataclass(frozen=True)
class ImportFigures:
    people: int
    seed: int
    backend: str
    seconds: float
    rows_per_s: float  # persons imported per second, everything included
    baseline_seconds: float
    baseline_rows_per_s: float
    ratio_to_baseline: float
    peak_rss_mb: float  # whole run, workers included
    peak_rss_main_mb: float
    peak_rss_workers_mb: float
    rss_after_generation_mb: float  # the high-water mark before the import started
    cpu_us_per_person_main: float  # CPU time of this process during the import, per person
    cpu_us_per_person_workers: float  # of the worker processes (0 without workers)
    generate_seconds: float
    workers: int
    contracts: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _maxrss_mb(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux counts KiB


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """High-water resident memory of this process or of its largest worker, in MiB."""
    return max(_maxrss_mb(resource.RUSAGE_SELF), _maxrss_mb(resource.RUSAGE_CHILDREN))


@contextmanager
def _fresh_postgres(url: str) -> Iterator[str]:
    parsed = make_url(normalise_database_url(url))
    admin_url = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"rempart_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _database(directory: Path, database_url: str | None) -> Iterator[Settings]:
    instance = directory / "instance"
    if database_url is None:
        yield Settings.load(data_dir=instance,
                            database_url=f"sqlite:///{instance / 'rempart.db'}",
                            key_file=instance / "keyring.json")
        return
    with _fresh_postgres(database_url) as url:
        yield Settings.load(data_dir=instance, database_url=normalise_database_url(url),
                            key_file=instance / "keyring.json")


def run_import_bench(*, people: int, seed: int = 1, database_url: str | None = None,
                     workers: int = DEFAULT_WORKERS,
                     on_stage: Callable[[str], None] | None = None) -> ImportFigures:
    stage = on_stage or (lambda _text: None)
    with tempfile.TemporaryDirectory(prefix="rempart-bench-") as tmp:
        directory = Path(tmp)
        population = directory / "population"
        stage(f"generating {people:,} persons")
        started = time.perf_counter()
        manifest = generate_population(out=population, people=people, seed=seed)
        generate_seconds = time.perf_counter() - started
        rss_after_generation = peak_rss_mb()
        members = [population / f.name for f in manifest.files if f.kind is FileKind.MEMBERS]
        with _database(directory, database_url) as settings:
            runtime = Runtime.open(settings, create_keys=True)
            try:
                importer = Importer(engine=runtime.engine, vault=runtime.vault,
                                    clock=runtime.clock, workers=workers)
                stage("importing")
                cpu_main = _cpu_seconds(resource.RUSAGE_SELF)
                cpu_workers = _cpu_seconds(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                reports = importer.import_paths(paths=[population])
                seconds = time.perf_counter() - started
                cpu_main = _cpu_seconds(resource.RUSAGE_SELF) - cpu_main
                cpu_workers = _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_workers
                stage("baseline")
                started = time.perf_counter()
                baseline_rows = insert_baseline(runtime.engine, members)
                baseline_seconds = time.perf_counter() - started
            finally:
                runtime.close()
    contracts = sum(r.counts.get("contracts_inserted", 0) for r in reports)
    rate = people / seconds
    baseline_rate = baseline_rows / baseline_seconds
    return ImportFigures(
        people=people, seed=seed, backend="sqlite" if database_url is None else "postgresql",
        seconds=round(seconds, 3), rows_per_s=round(rate, 1),
        baseline_seconds=round(baseline_seconds, 3),
        baseline_rows_per_s=round(baseline_rate, 1),
        ratio_to_baseline=round(rate / baseline_rate, 3), peak_rss_mb=peak_rss_mb(),
        peak_rss_main_mb=_maxrss_mb(resource.RUSAGE_SELF),
        peak_rss_workers_mb=_maxrss_mb(resource.RUSAGE_CHILDREN),
        rss_after_generation_mb=rss_after_generation,
        cpu_us_per_person_main=round(cpu_main / people * 1e6, 1),
        cpu_us_per_person_workers=round(cpu_workers / people * 1e6, 1),
        generate_seconds=round(generate_seconds, 3), workers=workers,
        contracts=contracts)
