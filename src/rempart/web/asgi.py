"""The app built from the environment, for a server started by name, one per worker:

    uvicorn --factory rempart.web.asgi:create_app_from_environment

Settings come from REMPART_* as everywhere (`Settings.load`); logs are structured
(REMPART_LOG_FORMAT, JSON lines by default; see rempart.observability.logs). Two
switches exist only as explicit environment values, never as defaults:

- REMPART_DEMO_MODE=1: the demo identity header (`DemoHeaderIdentity`), which anyone
  can forge; `rempart demo` and the benchmark set it, on loopback only;
- REMPART_BENCH_ENDPOINTS=1: the benchmark's bare look-up endpoint, an oracle; only
  with it, REMPART_BENCH_AUDIT=off leaves disclosures unrecorded and
  REMPART_BENCH_GUARD=off switches the exfiltration guard off, for the benchmark's
  audit-off and guard-off comparisons. The guard is on in every other served app.

The schema is not migrated here: several workers would race to do it, and whoever
starts the server (demo, benchmark, deployment) migrates first.
"""

from __future__ import annotations

import gc
import os

import structlog
from fastapi import FastAPI

from rempart.bench.unrecorded import UnrecordedForBenchmark
from rempart.disclosure import DisclosureRecorder
from rempart.observability.logs import configure_logging
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.storage.connection_budget import ConnectionBudget
from rempart.web.app import create_app
from rempart.web.identity import DemoHeaderIdentity, IdentitySource

DEMO_MODE_ENV = "REMPART_DEMO_MODE"
BENCH_ENDPOINTS_ENV = "REMPART_BENCH_ENDPOINTS"
BENCH_AUDIT_ENV = "REMPART_BENCH_AUDIT"
BENCH_GUARD_ENV = "REMPART_BENCH_GUARD"


def settings_from_environment() -> Settings:
    env = os.environ
    bench = env.get(BENCH_ENDPOINTS_ENV) == "1"
    return Settings.load(demo_mode=env.get(DEMO_MODE_ENV) == "1", bench_endpoints=bench,
                         guard_enabled=not (bench and env.get(BENCH_GUARD_ENV) == "off"))


# A served instance keeps the exfiltration guard's state for every active account and
# session in memory: hundreds of thousands of small objects that CPython's default
# collector thresholds (700, 10, 10) scan again and again. Fewer, larger young
# collections cut the guard's cost per check about threefold (docs/guard.md, "Cost").
GC_THRESHOLDS = (50_000, 20, 100)


def create_app_from_environment() -> FastAPI:
    gc.set_threshold(*GC_THRESHOLDS)
    settings = settings_from_environment()
    configure_logging(settings.log_format)  # once per worker, before anything logs
    runtime = Runtime.open(settings, migrate=False)
    log_connection_budget(settings)
    return create_app(runtime, identity_source=identity_source_for(runtime),
                      recorder=recorder_for(runtime))


def log_connection_budget(settings: Settings) -> None:
    """The PostgreSQL connections this worker may open, and all workers together: for
    the operator sizing `max_connections` (`rempart doctor` compares them)."""
    budget = ConnectionBudget.for_settings(settings)
    if budget is not None:
        structlog.get_logger(__name__).info(
            "database_connection_budget", **budget.fields(), workers=settings.workers,
            all_workers=budget.per_worker * settings.workers)


def recorder_for(runtime: Runtime) -> DisclosureRecorder | None:
    """None (the app's audit log) unless a benchmark asked for its audit-off side."""
    if runtime.settings.bench_endpoints and os.environ.get(BENCH_AUDIT_ENV) == "off":
        return UnrecordedForBenchmark()
    return None


def identity_source_for(runtime: Runtime) -> IdentitySource | None:
    """The demo header in demo mode; otherwise None: the app's real authentication."""
    if runtime.settings.demo_mode:
        return DemoHeaderIdentity(settings=runtime.settings, engine=runtime.engine)
    return None
