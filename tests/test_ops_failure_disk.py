"""Disk full on the audit path, filled up for real (ENOSPC) while checks flow: the embedded
default (SQLite, whose audit log lives in the data directory) with its data directory on
a small tmpfs, and a private PostgreSQL cluster whose data directory is on one. Checks
are then refused with 503 rather than answered without their audit entry; every check
answered 201 has its entry; once space is freed the same worker answers again, and the
chain verifies."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks_support import Population, build_population
from failure_load import CheckLoad, audit_verify, checks_and_entries, many_organisations
from failure_servers import postgres_on_small_disk, small_tmpfs  # noqa: F401 (fixtures)
from ops_support import personal_values, with_signing_key
from rempart.clock import SystemClock
from rempart.runtime import Runtime
from server_support import postgres_instance, uvicorn_server, worker_env
from settings_support import sqlite_settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def instance(request: pytest.FixtureRequest,
             tmp_path: Path) -> Iterator[tuple[Runtime, Population, Path]]:
    """The served instance, and the small disk its database (with the audit log) is on."""
    if request.param == "sqlite":
        disk: Path = request.getfixturevalue("small_tmpfs")
        with Runtime.open(sqlite_settings(disk / "instance"), create_keys=True) as runtime:
            population = build_population(runtime)
            runtime.clock = SystemClock()
            yield with_signing_key(runtime), population, disk
        return
    cluster, disk = request.getfixturevalue("postgres_on_small_disk")
    with postgres_instance(cluster.create_database("rempart"),
                           tmp_path / "instance") as (runtime, population):
        yield runtime, population, disk


def fill(path: Path) -> int:
    """Write to `path` until the filesystem refuses (ENOSPC); the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as out:
        for chunk in (1 << 20, 4096, 512):
            block = b"\0" * chunk
            while True:
                try:
                    written += out.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


def test_full_disk_stops_disclosure(instance: tuple[Runtime, Population, Path],
                                    tmp_path: Path) -> None:
    runtime, population, disk = instance
    log_path = tmp_path / "server.log"  # not on the full disk
    filler = disk / "filler"
    moments: dict[str, float] = {}

    async def disk_full(load: CheckLoad) -> None:
        await load.wait_for(lambda: len(load.created()) >= 30, 30)
        assert await asyncio.to_thread(fill, filler) > 0
        moments["full"] = time.monotonic()
        await load.wait_for_status(503, 10, since=moments["full"])
        filler.unlink()
        moments["freed"] = time.monotonic()
        await load.wait_for_status(201, 30, since=moments["freed"])

    with uvicorn_server(log_path, worker_env(runtime)) as (base_url, server):
        load = CheckLoad(base_url, population, many_organisations(runtime))
        asyncio.run(load.run(disk_full))
        assert server.poll() is None  # the same process throughout

    assert {answer.status for answer in load.answers} <= {201, 503}
    for answer in load.answers:
        if answer.status == 503:
            assert answer.code == "database_unavailable"
            assert answer.retry_after is not None
    logged = log_path.read_text()
    for leaked in [*personal_values(population), "Traceback"]:
        assert leaked not in logged

    answered = load.created()
    stored, audited = checks_and_entries(runtime)
    assert answered <= stored
    assert set(audited) == stored  # no check row without its entry, nor the reverse
    code, output = audit_verify(runtime)
    assert code == 0, output
