"""`rempart bench import`: one JSON object with the figures (their values are not judged)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rempart.bench.import_bench import run_import_bench

KEYS = {"people", "seconds", "rows_per_s", "baseline_rows_per_s", "peak_rss_mb", "backend"}


def test_the_cli_prints_one_json_object_with_the_figures() -> None:
    done = subprocess.run([sys.executable, "-m", "rempart", "bench", "import", "--people",
                           "300", "--seed", "3", "--json"], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) >= KEYS
    assert figures["people"] == 300
    assert figures["backend"] == "sqlite"
    assert figures["rows_per_s"] == pytest.approx(300 / figures["seconds"], rel=0.01)
    assert figures["baseline_rows_per_s"] > 0
    assert figures["peak_rss_mb"] > 10


@pytest.mark.postgres
def test_the_bench_runs_on_a_fresh_postgres_database(postgres_url: str) -> None:
    figures = run_import_bench(people=200, seed=4, database_url=postgres_url).as_dict()
    assert figures["backend"] == "postgresql"
    assert figures["people"] == 200
    assert figures["contracts"] > 0
    assert figures["baseline_rows_per_s"] > 0
