"""`rempart insurers`: register, list and revoke link keys (audited), and sign a link
without the member number ever reaching the terminal."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from typer.testing import CliRunner

from member_support import private_pem, public_pem
from rempart.audit import AuditLog
from rempart.auth.replay import DbReplayCache
from rempart.cli.main import app
from rempart.clock import SystemClock
from rempart.member.insurer_keys import InsurerKeys
from rempart.member.links import MemberLinkVerifier
from rempart.population.models import Insurer
from rempart.runtime import Runtime
from rempart.settings import Settings

AMC = "12345678"


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    data_dir = tmp_path / "instance"
    with Runtime.open(Settings.load(data_dir=data_dir), create_keys=True) as runtime, \
            runtime.engine.begin() as conn:
        conn.execute(Insurer.__table__.insert().values(amc_number=AMC, name="Mutuelle A"))
    return data_dir


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["insurers", *args], input=stdin)
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def audit_events(data_dir: Path) -> list[str]:
    with Runtime.open(Settings.load(data_dir=data_dir)) as runtime, \
            runtime.engine.connect() as conn:
        return list(conn.execute(text("SELECT event FROM audit_entries ORDER BY position"))
                    .scalars())


def test_keys_are_added_listed_and_revoked_with_an_audit_entry_each(
        instance: Path, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "a.pub").write_bytes(public_pem(key))
    code, output = run("add-key", "--amc", AMC, "--public-key", str(tmp_path / "a.pub"),
                       "--data-dir", str(instance))
    assert code == 0, output
    key_id = output.split("added key ")[1].split()[0]
    code, output = run("keys", "--data-dir", str(instance))
    assert f"{key_id} insurer {AMC}" in output
    assert "active" in output
    code, output = run("revoke-key", key_id, "--data-dir", str(instance))
    assert code == 0, output
    assert "revoked" in run("keys", "--data-dir", str(instance))[1]
    assert audit_events(instance) == ["config.insurer_key_added", "config.insurer_key_revoked"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot be read"),
    (b"hello", "not a PEM public key"),
    ("private", "private key"),
])
def test_a_bad_key_file_is_refused_and_changes_nothing(instance: Path, tmp_path: Path,
                                                       content: bytes | str | None,
                                                       message: str) -> None:
    path = tmp_path / "key.pem"
    if content == "private":
        path.write_bytes(private_pem(Ed25519PrivateKey.generate()))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    code, output = run("add-key", "--amc", AMC, "--public-key", str(path),
                       "--data-dir", str(instance))
    assert code == 2
    assert message in output
    assert audit_events(instance) == []


def test_sign_link_writes_a_private_file_and_prints_no_member_number(
        instance: Path, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "a.key").write_bytes(private_pem(key))
    (tmp_path / "a.pub").write_bytes(public_pem(key))
    assert run("add-key", "--amc", AMC, "--public-key", str(tmp_path / "a.pub"),
               "--data-dir", str(instance))[0] == 0
    out = tmp_path / "link.txt"
    code, output = run("sign-link", "--amc", AMC, "--private-key", str(tmp_path / "a.key"),
                       "--out", str(out), "--lifetime", "120", stdin="MX7781234\n")
    assert code == 0, output
    assert "MX7781234" not in output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with Runtime.open(Settings.load(data_dir=instance)) as runtime, \
            AuditLog(engine=runtime.engine, clock=SystemClock()) as audit:
        verifier = MemberLinkVerifier(
            keys=InsurerKeys(engine=runtime.engine, clock=SystemClock(), audit=audit),
            replay=DbReplayCache(engine=runtime.engine, clock=SystemClock()),
            clock=SystemClock())
        link = verifier.verify(out.read_text())
    assert (link.insurer_amc, link.member_number) == (AMC, "MX7781234")
    assert link.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=120)
    code, output = run("sign-link", "--amc", AMC, "--private-key", str(tmp_path / "a.key"),
                       "--out", str(out), stdin="MX7781234\n")
    assert code == 2
    assert "already exists" in output
