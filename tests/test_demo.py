"""`rempart demo`: builds a tiny instance once, serves it on localhost, prints a first check
that works, and never prints a person's data."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rempart.ingest.formats import COLUMNS, DELIMITER, FileKind

START_TIMEOUT_S = 240
_MEMBER_COLUMNS = COLUMNS[FileKind.MEMBERS]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_demo(data_dir: Path, port: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the demo, wait for its curl line, yield it with everything printed so far."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rempart", "demo", "--data-dir", str(data_dir), "--people",
         "2000", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True, env={**os.environ, "COLUMNS": "200"})
    try:
        printed = _read_until_curl(process)
        yield process, printed
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def _read_until_curl(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("the demo stopped:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("curl "):
            return "".join(lines)
    raise AssertionError("no curl command within the time limit")


def wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the demo does not listen")


def personal_values(population: Path) -> set[str]:
    """NIRs (and without key), names and dates of birth of everyone in the population."""
    values: set[str] = set()
    for path in population.glob("members-*.csv"):
        for line in path.read_text(encoding="utf-8").splitlines()[2:-1]:
            row = dict(zip(_MEMBER_COLUMNS, line.split(DELIMITER), strict=True))
            values.update({row["nir"], row["nir"][:13], row["birth_date"], row["last_name"],
                           row["first_name"], row["member_number"]})
    return values


def test_the_demo_builds_once_serves_and_prints_nothing_personal(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    port = free_port()
    with running_demo(data_dir, port) as (_process, printed):
        assert f"http://localhost:{port}" in printed
        assert "built" in printed
        curl = printed.strip().splitlines()[-1]
        example = Path(re.search(r"--data @(\S+)", curl).group(1))  # type: ignore[union-attr]
        assert example.parent == data_dir
        assert stat.S_IMODE(example.stat().st_mode) == 0o600
        words = set(re.findall(r"[\w-]+", printed))
        # Log lines carry today's date, which is also the birth date of any newborn.
        words.discard(dt.date.today().isoformat())
        leaked = words & personal_values(data_dir / "population")
        assert not leaked, "the demo printed personal data"
        body = json.loads(example.read_text())
        assert body["nir"] not in printed
        assert body["birth_date"] not in printed
        wait_until_listening(port)
        done = subprocess.run([*shlex.split(curl), "-w", "\n%{http_code}"],
                              capture_output=True, text=True, timeout=60, check=False)
        answer, status = done.stdout.rsplit("\n", 1)
        assert status == "201", answer
        assert json.loads(answer)["covered"] is True
        # Ready: the database, the keys and the audit signing key the demo created.
        ready = subprocess.run(["curl", "-s", "-w", "\n%{http_code}",
                                f"http://127.0.0.1:{port}/readyz"],
                               capture_output=True, text=True, timeout=60, check=False)
        assert ready.stdout.rsplit("\n", 1)[1] == "200", ready.stdout

    # The second run reuses the instance: nothing generated or imported again.
    manifest = (data_dir / "population" / "manifest.json").stat().st_mtime_ns
    with running_demo(data_dir, port) as (_process, printed):
        assert "reused" in printed
    assert (data_dir / "population" / "manifest.json").stat().st_mtime_ns == manifest
