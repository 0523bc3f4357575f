"""`rempart drill --target`: the instance `--prepare` made, served by a real server process
with the normal command on loopback, driven over real HTTP in real time; and targets
outside loopback refused before any request, with nothing made or changed."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.bench.server import free_port, running_server
from rempart.cli.main import app

# With this seed one of the four accounts is a small practice that works at the portal.
SEED = "4"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("drill") / "instance"
    origin = f"http://127.0.0.1:{free_port()}"
    made = CliRunner().invoke(app, ["drill", "--prepare", "--instance", str(directory),
                                    "--target", origin, "--population", "120",
                                    "--accounts", "4", "--seed", SEED])
    assert made.exit_code == 0, made.output
    lines = (directory / "serve.env").read_text(encoding="utf-8").splitlines()
    env = dict(line.split("=", 1) for line in lines)
    with running_server(env=env, log_file=directory.parent / "server.log",
                        port=int(origin.rsplit(":", 1)[1])):
        yield origin, directory


def test_a_small_drill_against_a_running_server(served: tuple[str, Path]) -> None:
    origin, directory = served
    result = CliRunner().invoke(app, ["drill", "--json", "--target", origin, "--instance",
                                      str(directory), "--scenario", "S1,S9", "--minutes", "1",
                                      "--seed", SEED])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["target"] == origin
    assert set(body["scenarios"]) == {"S1", "S9"}
    for name in ("S1", "S9"):
        score = body["scenarios"][name]
        assert score["records_attempted"] > 0
        assert score["records_disclosed"] == 0
        assert score["time_to_detect_s"] is not None
    legit = body["legit"]
    assert legit["covered_answers"] > 0
    assert legit["portal_checks"] > 0  # through the portal's forms, not only the API
    assert legit["claims"] > 0
    assert legit["claims_answered_2xx"] == legit["claims"]
    assert legit["accounts_suspended"] == 0
    # The server, not an in-process app, answered: its own database holds the checks.
    with sqlite3.connect(directory / "instance" / "rempart.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM checks").fetchone()
    assert stored >= legit["checks"]


def _lan_address() -> str:
    """This machine's address on its outward interface (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), "this test needs an interface outside loopback"
    return address


@pytest.mark.parametrize(("template", "message"), [
    ("http://{lan}:{port}", "not on loopback"),
    ("http://[::ffff:{lan}]:{port}", "not on loopback"),
    ("http://drill-target.invalid:{port}", "not on loopback"),
    ("http://10.0.0.1:{port}", "not on loopback"),
    ("ftp://127.0.0.1:{port}", "http:// or https://"),
])
def test_targets_outside_loopback_are_refused_and_change_nothing(
        tmp_path: Path, template: str, message: str) -> None:
    lan = _lan_address()
    with socket.socket() as listener:
        listener.bind((lan, 0))
        listener.listen()
        target = template.format(lan=lan, port=listener.getsockname()[1])
        existing = tmp_path / "existing"
        existing.mkdir()
        (existing / "drill-accounts.json").write_text("{}", encoding="utf-8")
        runs = (["--prepare", "--instance", str(tmp_path / "fresh")],
                ["--instance", str(existing)])
        for extra in runs:
            result = CliRunner().invoke(app, ["drill", "--json", "--target", target, *extra])
            assert result.exit_code == 2, result.output
            assert message in " ".join(result.output.split())
            assert "{" not in result.stdout
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()  # no connection was attempted
    assert not (tmp_path / "fresh").exists()
    assert [p.name for p in existing.iterdir()] == ["drill-accounts.json"]
    assert (existing / "drill-accounts.json").read_text(encoding="utf-8") == "{}"


@pytest.mark.parametrize(("args", "message"), [
    (["--scenario", "S1,S5"], "S5 keeps to the victims' opening hours"),
    (["--scenario", "S7"], "S7 is scored on a stolen copy"),
    (["--baseline"], "--baseline cannot switch a running instance's guard off"),
    (["--minutes", "0"], "--minutes"),
])
def test_what_cannot_run_against_a_running_instance_is_refused(
        tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["drill", "--target", "http://127.0.0.1:9",
                                      "--instance", str(tmp_path / "d"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())  # the terminal wraps long lines
    assert not (tmp_path / "d").exists()
