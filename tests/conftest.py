"""Shared fixtures: an instance on SQLite or on the real PostgreSQL server.

PostgreSQL tests use REMPART_TEST_POSTGRES_URL (default: the local server's `test`
database) and a fresh database per test. With REMPART_REQUIRE_SERVICES=1 (CI) an
unreachable server fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from rempart.runtime import Runtime
from rempart.settings import Settings
from settings_support import sqlite_settings

if TYPE_CHECKING:
    from checks_support import Population

POSTGRES_URL = os.environ.get(
    "REMPART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("REMPART_REQUIRE_SERVICES") == "1"


def _service_unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"rempart_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _service_unavailable("PostgreSQL", exc)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def served_postgres(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Population]]:
    """An instance on a fresh PostgreSQL database with the check population, to be served
    by real server processes (server_support.postgres_instance)."""
    # Imported here: it loads the whole web application, which most tests never need.
    from server_support import postgres_instance

    with postgres_instance(postgres_url, tmp_path / "instance") as served:
        yield served


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for a new instance on the parametrised backend."""
    base = sqlite_settings(tmp_path / "instance")
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        return Settings.load(data_dir=base.data_dir, database_url=url, key_file=base.key_file)
    return base


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings, create_keys=True)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture(autouse=True)
def _no_ambient_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMPART_KEYRING", raising=False)
    monkeypatch.delenv("REMPART_DATABASE_URL", raising=False)
    monkeypatch.delenv("REMPART_DATA_DIR", raising=False)
    monkeypatch.delenv("REMPART_KEY_FILE", raising=False)
