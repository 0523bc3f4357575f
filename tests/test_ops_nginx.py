"""deploy/nginx.conf with Debian's real nginx: TLS on loopback with a test certificate, in
front of two uvicorn workers on PostgreSQL and Redis; checks made through it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from checks_support import Population, build_population
from ops_support import REDIS_URL, free_port, require_service, with_signing_key
from rempart.bench.server import server_command
from rempart.clock import SystemClock
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.web.identity import DEMO_HEADER
from settings_support import sqlite_settings
from tls_support import LoopbackCertificates, make_certificates

pytestmark = pytest.mark.postgres

NGINX = Path("/usr/sbin/nginx")
SHIPPED = Path(__file__).parent.parent / "deploy" / "nginx.conf"
CHECKS = 20


@pytest.fixture
def instance(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Population]]:
    if not NGINX.exists():
        require_service("nginx", FileNotFoundError(str(NGINX)))
    base = sqlite_settings(tmp_path / "instance")
    settings = Settings.load(data_dir=base.data_dir, database_url=postgres_url,
                             key_file=base.key_file)
    with Runtime.open(settings, create_keys=True) as runtime:
        population = build_population(runtime)
        runtime.clock = SystemClock()
        yield with_signing_key(runtime), population


def worker_env(runtime: Runtime) -> dict[str, str]:
    settings = runtime.settings
    return {**os.environ, "REMPART_DATABASE_URL": settings.database_url,
            "REMPART_DATA_DIR": str(settings.data_dir), "REMPART_KEY_FILE": str(settings.key_file),
            "REMPART_THROTTLE_STORAGE": REDIS_URL, "REMPART_TRUSTED_PROXIES": "127.0.0.1/32",
            "REMPART_DEMO_MODE": "1", "REMPART_WORKERS": "2"}


@contextmanager
def process(command: list[str], log: Path, env: dict[str, str] | None = None,
            stop: signal.Signals = signal.SIGTERM) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        running = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield running
    finally:
        if running.poll() is None:
            os.killpg(running.pid, stop)
            try:
                running.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(running.pid, signal.SIGKILL)
                running.wait()


def wait_for(url: str, running: subprocess.Popen[bytes], *, status: int = 200,
             verify: ssl.SSLContext | bool = True) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert running.poll() is None, f"{running.args[0]} exited"
        try:
            if httpx.get(url, timeout=2, verify=verify).status_code == status:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {status}")


def nginx_config(directory: Path, certificates: LoopbackCertificates, *, upstreams: list[int],
                 http_port: int, tls_port: int) -> Path:
    """The shipped site configuration on loopback ports, inside a minimal main file."""
    site = SHIPPED.read_text()
    for old, new in {
        "server 127.0.0.1:8001": f"server 127.0.0.1:{upstreams[0]}",
        "server 127.0.0.1:8002": f"server 127.0.0.1:{upstreams[1]}",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{tls_port} ssl http2;",
        "/etc/ssl/rempart/fullchain.pem": str(certificates.chain),
        "/etc/ssl/rempart/privkey.pem": str(certificates.key),
        "/var/log/nginx/rempart.access.log": str(directory / "access.log"),
    }.items():
        assert site.count(old) == 1, old
        site = site.replace(old, new)
    (directory / "rempart.conf").write_text(site)
    temp = directory / "temp"
    temp.mkdir(mode=0o1777)
    temp.chmod(0o1777)  # nginx's workers may run as another user
    main = directory / "nginx.conf"
    main.write_text(f"""
pid {directory / 'nginx.pid'};
error_log {directory / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory / 'rempart.conf'};
}}
""")
    return main


def checks_served(metrics_url: str) -> float:
    scrape = httpx.get(metrics_url, timeout=5).text
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if (sample.name == "rempart_http_request_duration_seconds_count"
                    and sample.labels.get("route") == "/api/v1/checks"):
                return float(sample.value)
    return 0.0


def test_checks_through_nginx_over_tls(instance: tuple[Runtime, Population],
                                       tmp_path: Path) -> None:
    runtime, population = instance
    certificates = make_certificates(tmp_path)
    upstreams = [free_port(), free_port()]
    http_port, tls_port = free_port(), free_port()
    config = nginx_config(tmp_path, certificates, upstreams=upstreams, http_port=http_port,
                          tls_port=tls_port)
    with ExitStack() as stack:
        workers = [stack.enter_context(process(
            server_command("uvicorn", port=port, workers=1), tmp_path / f"worker{index}.log",
            worker_env(runtime))) for index, port in enumerate(upstreams)]
        for port, worker in zip(upstreams, workers, strict=True):
            wait_for(f"http://127.0.0.1:{port}/readyz", worker)
        nginx = stack.enter_context(process(
            [str(NGINX), "-c", str(config), "-p", str(tmp_path), "-g", "daemon off;"],
            tmp_path / "nginx.out", stop=signal.SIGQUIT))
        base = f"https://localhost:{tls_port}"
        tls = certificates.client_context()
        wait_for(f"{base}/healthz", nginx, verify=tls)
        with httpx.Client(base_url=base, verify=tls, timeout=10) as client:
            answers = [client.post(
                "/api/v1/checks", json=population.alice.payload(care_date=dt.date.today()),
                headers={DEMO_HEADER: str(population.organisation_ids[0]),
                         "x-forwarded-for": "6.6.6.6"})  # forged: nginx replaces it
                for _ in range(CHECKS)]
            oversized = client.post("/api/v1/checks", content=b"{" + b" " * 100_000 + b"}",
                                    headers={"content-type": "application/json"})
            hidden = client.get("/metrics")
            ready = client.get("/readyz")
        plain = httpx.get(f"http://127.0.0.1:{http_port}/api/v1/checks", timeout=5)
        served = [checks_served(f"http://127.0.0.1:{port}/metrics") for port in upstreams]
    assert [answer.status_code for answer in answers] == [201] * CHECKS
    assert all(answer.json()["covered"] for answer in answers)
    first = answers[0]
    assert first.headers["strict-transport-security"] == "max-age=63072000"
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])  # nginx's own id
    assert "server" not in first.headers or "nginx/" not in first.headers["server"]
    assert oversized.status_code == 413
    assert hidden.status_code == 404
    assert ready.status_code == 200
    assert json.loads(ready.text)["components"]["redis"] == "ok"
    assert plain.status_code == 308
    assert plain.headers["location"].startswith("https://")
    assert all(count > 0 for count in served), served  # both workers took checks
    with runtime.engine.connect() as conn:
        addresses = conn.execute(text(
            "SELECT client_address, count(*) FROM audit_entries "
            "WHERE event = 'check.answered' GROUP BY client_address")).all()
    assert [tuple(row) for row in addresses] == [("127.0.0.1", CHECKS)]
