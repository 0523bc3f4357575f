"""`rempart doctor`: a production-shaped deployment passes; each misconfiguration is
found and named with its fix, and the command exits non-zero."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine.url import make_url
from typer.testing import CliRunner

from ops_support import free_port
from rempart.audit.signing import SigningKey
from rempart.auth.config import AuthSettings
from rempart.cli.main import app
from rempart.guard.shared import parse_entries
from rempart.observability.doctor import Finding, diagnose
from rempart.observability.doctor_instance import diagnose_instance
from rempart.portal.demo import ensure_demo_account
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.storage.connection_budget import ConnectionBudget
from rempart.vault import Keyring

SERVER = os.environ.get("REMPART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_ENV = {"REMPART_GUARD_STORAGE": "redis://127.0.0.1:6379/1"}


@pytest.fixture
def production(postgres_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Two workers on PostgreSQL and Redis behind a TLS proxy, keys on their own volume."""
    keys = tmp_path / "secrets"
    settings = Settings.load(
        data_dir=tmp_path / "data", database_url=postgres_url, key_file=keys / "keyring.json",
        audit_signing_key_file=keys / "audit-signing.key", workers=2,
        trusted_proxies=("10.0.0.5/32",),
        auth=dataclasses.replace(
            AuthSettings(), origins=("https://rempart.example",),
            token_issuer="https://rempart.example", throttle_storage="redis://127.0.0.1:6379/0"))
    SigningKey.generate().save(settings.audit_signing_key)
    with Runtime.open(settings, create_keys=True):
        yield settings


def checks(findings: list[Finding]) -> list[str]:
    return [finding.check for finding in findings]


def test_a_production_deployment_passes(production: Settings) -> None:
    assert diagnose(production, REDIS_ENV) == []
    assert diagnose_instance(production) == []


def test_key_files_missing_or_readable_by_others(production: Settings) -> None:
    production.key_file.chmod(0o644)
    production.audit_signing_key.chmod(0o640)
    findings = diagnose(production, REDIS_ENV)
    assert checks(findings) == ["data_keys", "audit_signing_key"]
    assert findings[0].fix == f"run `chmod 600 {production.key_file}`"
    production.key_file.unlink()
    missing = diagnose(production, REDIS_ENV)[0]
    assert "does not exist" in missing.problem
    assert "rempart keys init" in missing.fix


def test_keys_beside_the_sqlite_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings.load(data_dir=data, database_url=f"sqlite:///{data / 'rempart.db'}",
                             key_file=data / "keyring.json")
    SigningKey.generate().save(settings.audit_signing_key)
    with Runtime.open(settings, create_keys=True):
        pass
    findings = [f for f in diagnose(settings, {}) if f.check != "tls"]
    assert checks(findings) == ["data_keys", "audit_signing_key"]
    assert all("database's directory" in f.problem for f in findings)


def test_keys_from_the_environment_need_no_file(production: Settings) -> None:
    production.key_file.unlink()
    production.audit_signing_key.unlink()
    env = {**REDIS_ENV, "REMPART_KEYRING": Keyring.generate().to_json(),
           "REMPART_AUDIT_SIGNING_KEY": SigningKey.generate().to_pem().decode()}
    assert diagnose(production, env) == []
    assert checks(diagnose(production, {**env, "REMPART_AUDIT_SIGNING_KEY": "nope",
                                        "REMPART_KEYRING": "{}"})) == [
        "data_keys", "audit_signing_key"]


def test_demo_switches(production: Settings) -> None:
    assert checks(diagnose(production, {**REDIS_ENV, "REMPART_DEMO_MODE": "1"})) == [
        "demo_mode"]
    demo = dataclasses.replace(production, demo_mode=True)
    assert checks(diagnose(demo, REDIS_ENV)) == ["demo_mode"]


def test_several_workers_need_postgres_and_redis(production: Settings,
                                                 tmp_path: Path) -> None:
    local = dataclasses.replace(
        production, database_url=f"sqlite:///{tmp_path / 'other' / 'rempart.db'}",
        auth=dataclasses.replace(production.auth, throttle_storage="memory://"))
    assert checks(diagnose(local, {})) == ["database", "redis", "redis"]
    assert diagnose(dataclasses.replace(local, workers=1), {}) == []
    # The one switch, REMPART_REDIS_URL, puts both the throttle and the guard on Redis.
    switch = {"REMPART_REDIS_URL": "redis://127.0.0.1:6379/0"}
    switched = dataclasses.replace(production, auth=dataclasses.replace(
        production.auth, throttle_storage=AuthSettings.from_env(switch).throttle_storage))
    assert switched.auth.throttle_storage == switch["REMPART_REDIS_URL"]
    assert diagnose(switched, switch) == []


def test_tls(production: Settings) -> None:
    plain = dataclasses.replace(production, cookie_secure=False, auth=dataclasses.replace(
        production.auth, origins=("http://rempart.example",),
        token_issuer="http://rempart.example"))
    findings = diagnose(plain, REDIS_ENV)
    assert checks(findings) == ["tls", "tls", "tls"]
    assert "http://rempart.example" in findings[0].problem


def test_trusted_proxies(production: Settings) -> None:
    def proxies(*values: str) -> list[str]:
        return checks(diagnose(dataclasses.replace(production, trusted_proxies=values),
                               REDIS_ENV))

    assert proxies() == ["trusted_proxies"]  # behind TLS, every client would look alike
    assert proxies("0.0.0.0/0") == ["trusted_proxies"]
    assert proxies("::/0", "10.0.0.5") == ["trusted_proxies"]
    assert proxies("proxy.example") == ["trusted_proxies"]
    assert proxies("10.0.0.0/29", "fd00::5") == []
    # The AS header is read from trusted proxies only: without any, it is never read.
    header = dataclasses.replace(production, network_header="x-rempart-asn")
    assert checks(diagnose(header, REDIS_ENV)) == []
    assert checks(diagnose(dataclasses.replace(header, trusted_proxies=()), REDIS_ENV)) == [
        "trusted_proxies", "network_header"]


def test_a_shared_network_holding_a_trusted_proxy(production: Settings) -> None:
    def listed(*cidrs: str) -> list[Finding]:
        guard = dataclasses.replace(production.guard, shared_networks=parse_entries(
            {"network": [{"label": "hosted", "cidrs": list(cidrs)}]}))
        return diagnose(dataclasses.replace(production, guard=guard), REDIS_ENV)

    assert listed("192.0.2.0/24", "2001:db8::/48") == []
    found = listed("10.0.0.0/24")  # the proxy, 10.0.0.5, is in it
    assert checks(found) == ["shared_networks"]
    assert "'hosted' (10.0.0.0/24) holds the trusted proxy 10.0.0.5/32" in found[0].problem


def test_unreachable_database_is_named_without_its_password(production: Settings) -> None:
    gone = dataclasses.replace(
        production, database_url=f"postgresql+psycopg://u:pw-hidden@127.0.0.1:{free_port()}/x")
    [finding] = diagnose_instance(gone)
    assert finding.check == "database"
    assert "pw-hidden" not in finding.problem


def test_demo_account_is_found(production: Settings) -> None:
    with Runtime.open(production) as runtime:
        ensure_demo_account(runtime)
    assert checks(diagnose_instance(production)) == ["demo_account"]


def test_the_command_exits_non_zero_and_says_what_to_fix(
        production: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**REDIS_ENV, "REMPART_DATABASE_URL": production.database_url,
           "REMPART_KEY_FILE": str(production.key_file),
           "REMPART_AUDIT_SIGNING_KEY_FILE": str(production.audit_signing_key),
           "REMPART_WORKERS": "2", "REMPART_TRUSTED_PROXIES": "10.0.0.5/32",
           "REMPART_ORIGINS": "https://rempart.example",
           "REMPART_TOKEN_ISSUER": "https://rempart.example",
           "REMPART_THROTTLE_STORAGE": "redis://127.0.0.1:6379/0"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    good = runner.invoke(app, ["doctor", "--data-dir", str(production.data_dir)])
    assert good.exit_code == 0, good.output
    assert "no problem found" in good.output
    monkeypatch.delenv("REMPART_TRUSTED_PROXIES")
    monkeypatch.setenv("REMPART_WORKERS", "two")
    refused = runner.invoke(app, ["doctor", "--data-dir", str(production.data_dir)])
    assert refused.exit_code == 2
    assert "REMPART_WORKERS must be a positive integer" in refused.output
    monkeypatch.setenv("REMPART_WORKERS", "2")
    bad = runner.invoke(app, ["doctor", "--data-dir", str(production.data_dir)])
    assert bad.exit_code == 1
    assert "trusted_proxies:" in bad.output
    assert "fix: set REMPART_TRUSTED_PROXIES" in bad.output
    monkeypatch.setenv("REMPART_TRUSTED_PROXIES", "10.0.0.5/32")
    monkeypatch.setenv("REMPART_WORKERS", "3")
    crowded = runner.invoke(app, ["doctor", "--data-dir", str(production.data_dir)])
    assert crowded.exit_code == 1
    assert "database_connections:" in crowded.output
    monkeypatch.setenv("REMPART_DB_THREADS", "4")
    assert runner.invoke(app, ["doctor", "--data-dir", str(production.data_dir)]).exit_code == 0


def test_workers_whose_connections_do_not_fit_the_server(production: Settings) -> None:
    # The local server: max_connections 100, 3 kept for superusers. Two workers with the
    # proofs' replays in the database (47 each) and the tools fit; three do not.
    assert diagnose_instance(production) == []
    budget = ConnectionBudget.for_settings(production)
    assert budget is not None
    assert budget.per_worker == 47
    [finding] = diagnose_instance(dataclasses.replace(production, workers=3))
    assert finding.check == "database_connections"
    assert "3 worker(s) x 47 PostgreSQL connections each" in finding.problem
    assert "= 143, more than the 97 clients may open" in finding.problem
    assert "raise max_connections by at least 46" in finding.fix
    # Fewer threads per worker: three fit again (15 + 4 x 4 = 31 each).
    assert diagnose_instance(dataclasses.replace(production, workers=3, db_threads=4)) == []


def test_a_database_connection_limit_is_counted(production: Settings) -> None:
    database = make_url(production.database_url).database
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 40')
    [finding] = diagnose_instance(dataclasses.replace(production, workers=1))
    assert finding.check == "database_connections"
    assert "more than the 40 clients may open (the database's CONNECTION LIMIT 40)" \
        in finding.problem
    assert diagnose_instance(dataclasses.replace(production, workers=1, db_threads=4)) == []


def test_a_malformed_password_list(production: Settings, tmp_path: Path) -> None:
    listed = tmp_path / "pwned.txt"
    listed.write_text("00096:5C0ACD3516888D3\n")
    good = dataclasses.replace(production, auth=dataclasses.replace(
        production.auth, password_list_file=str(listed)))
    assert diagnose(good, REDIS_ENV) == []
    listed.write_text("00096:5C0ACD3516888D3\npassword123\n")
    found = diagnose(good, REDIS_ENV)
    assert checks(found) == ["password_list"]
    assert "line 2" in found[0].problem
    assert "password123" not in found[0].problem
