"""Metrics across the worker processes of one uvicorn server (prometheus-client's
multiprocess mode): each worker keeps its own files, and whichever worker answers
/metrics reports the sum. (Which worker takes a connection is the kernel's choice; the
summing itself is shown deterministically in test_ops_metrics.py.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from checks_support import Population
from ops_support import sample
from rempart.runtime import Runtime
from server_support import demo_headers, uvicorn_server, worker_env

pytestmark = pytest.mark.postgres

CHECKS = 40


def test_every_worker_reports_the_sum_of_all(served_postgres: tuple[Runtime, Population],
                                             tmp_path: Path) -> None:
    runtime, population = served_postgres
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = worker_env(runtime, PROMETHEUS_MULTIPROC_DIR=str(directory))
    with uvicorn_server(tmp_path / "server.log", env, workers=2) as (base, _):
        payload = population.alice.payload(care_date=dt.date.today())
        for number in range(CHECKS):  # a connection each: the kernel spreads them over workers
            # Each check its own provider session and network: one session firing checks
            # back to back is what the exfiltration guard stops, and this test is about
            # metrics, not the guard.
            headers = {**demo_headers(population.organisation_ids[number % 2],
                                      f"workers-{number}", f"10.{number}.0.1"),
                       "connection": "close"}
            assert httpx.post(f"{base}/api/v1/checks", json=payload, headers=headers,
                              timeout=10).status_code == 201
        scrapes = [httpx.get(f"{base}/metrics", headers={"connection": "close"},
                             timeout=10).text for _ in range(10)]
    written = {path.name.split("_")[-1] for path in directory.glob("counter_*.db")}
    assert len(written) == 2, written  # two worker processes, a file each
    for scrape in scrapes:
        assert sample(scrape, "rempart_checks_total", outcome="covered") == CHECKS
        assert sample(scrape, "rempart_http_request_duration_seconds_count", method="POST",
                      route="/api/v1/checks", status="201") == CHECKS
