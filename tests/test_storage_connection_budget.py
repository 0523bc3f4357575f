"""A worker's PostgreSQL connection budget, from the settings: the engine's pool sized by
them, the worker threads bounded by them, the sum logged when a served app starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from rempart.core.errors import ConfigurationError
from rempart.settings import Settings
from rempart.storage.connection_budget import ConnectionBudget, worker_threads
from rempart.storage.engine import make_engine
from rempart.web.asgi import log_connection_budget

URL = "postgresql://rempart:secret-pw@db.example:5432/rempart"


@pytest.fixture(autouse=True)
def _no_ambient_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    # Either would move the proofs' replays to Redis, and change the budget.
    monkeypatch.delenv("REMPART_REDIS_URL", raising=False)
    monkeypatch.delenv("REMPART_REPLAY_STORAGE", raising=False)


def on_postgres(tmp_path: Path, **overrides: object) -> Settings:
    return Settings.load(data_dir=tmp_path, database_url=URL, **overrides)


def test_the_budget_is_the_pool_and_each_threads_owners(tmp_path: Path) -> None:
    settings = on_postgres(tmp_path)
    budget = ConnectionBudget.for_settings(settings)
    assert budget is not None
    # 5 + 10 pooled; 8 threads in each pool: the loop's (the check's connections) and
    # anyio's (the check's, the member links' and the proofs' replay connections).
    assert (budget.pool, budget.thread_held, budget.per_worker) == (15, 32, 47)
    redis = dataclasses.replace(settings, auth=dataclasses.replace(
        settings.auth, replay_storage="redis://127.0.0.1:6379/0"))
    assert ConnectionBudget.for_settings(redis).per_worker == 15 + 8 * 3  # type: ignore[union-attr]
    assert worker_threads(settings) == 8
    # The benchmark's bare look-up keeps its own connection in the loop's executor.
    bench = dataclasses.replace(settings, bench_endpoints=True)
    assert ConnectionBudget.for_settings(bench).per_worker == 47 + 8  # type: ignore[union-attr]


def test_sqlite_has_no_budget_and_keeps_the_pools_own_sizes(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    assert ConnectionBudget.for_settings(settings) is None
    assert worker_threads(settings) is None


def test_the_settings_come_from_the_environment(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMPART_DB_THREADS", "3")
    monkeypatch.setenv("REMPART_DB_POOL_SIZE", "4")
    monkeypatch.setenv("REMPART_DB_POOL_OVERFLOW", "0")
    settings = on_postgres(tmp_path)
    assert ConnectionBudget.for_settings(settings).per_worker == 4 + 3 * 4  # type: ignore[union-attr]
    engine = make_engine(settings)
    try:
        assert (engine.pool.size(), engine.pool._max_overflow) == (4, 0)  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    monkeypatch.setenv("REMPART_DB_THREADS", "0")
    with pytest.raises(ConfigurationError, match="REMPART_DB_THREADS must be a positive"):
        on_postgres(tmp_path)
    monkeypatch.setenv("REMPART_DB_THREADS", "2")
    monkeypatch.setenv("REMPART_DB_POOL_OVERFLOW", "-1")
    with pytest.raises(ConfigurationError, match="REMPART_DB_POOL_OVERFLOW must be an integer"):
        on_postgres(tmp_path)


def test_a_served_app_logs_its_budget_without_the_url(tmp_path: Path) -> None:
    with capture_logs() as logs:
        log_connection_budget(on_postgres(tmp_path, workers=2))
    [line] = logs
    assert line == {"event": "database_connection_budget", "log_level": "info",
                    "pool_size": 5, "pool_overflow": 10, "threads": 8, "thread_held": 32,
                    "per_worker": 47, "workers": 2, "all_workers": 94}
    assert "secret-pw" not in repr(logs)
