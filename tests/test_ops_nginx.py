"""deploy/nginx.conf with Debian's real nginx: TLS on loopback with a test certificate, in
front of two uvicorn workers on PostgreSQL and Redis; checks made through it."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from checks_support import Population
from ops_support import REDIS_URL, free_port, require_service, sample
from rempart.bench.server import server_command
from rempart.runtime import Runtime
from rempart.web.identity import DEMO_HEADER
from server_support import postgres_instance, process, wait_for, worker_env
from tls_support import LoopbackCertificates, make_certificates

pytestmark = pytest.mark.postgres

NGINX = Path("/usr/sbin/nginx")
SHIPPED = Path(__file__).parent.parent / "deploy" / "nginx.conf"
CHECKS = 20


@pytest.fixture
def instance(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Population]]:
    if not NGINX.exists():
        require_service("nginx", FileNotFoundError(str(NGINX)))
    with postgres_instance(postgres_url, tmp_path / "instance") as served:
        yield served


def two_worker_env(runtime: Runtime) -> dict[str, str]:
    return worker_env(runtime, REMPART_THROTTLE_STORAGE=REDIS_URL,
                      REMPART_TRUSTED_PROXIES="127.0.0.1/32", REMPART_WORKERS="2")


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
    return sample(httpx.get(metrics_url, timeout=5).text,
                  "rempart_http_request_duration_seconds_count", route="/api/v1/checks")


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
            two_worker_env(runtime))) for index, port in enumerate(upstreams)]
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
