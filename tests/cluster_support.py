"""Two application workers as an operator runs them: separate uvicorn processes, each on
its own port, both on one PostgreSQL database and one Redis (REMPART_REDIS_URL, under a
key prefix of the test's own), and a browser-like client that addresses each worker
explicitly while keeping one cookie jar, as a browser behind a load balancer would."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp

from auth_support import BROWSER, PASSWORD, SoftAuthenticator, backend_settings
from checks_support import Person, Population
from guard_fixtures import redis_prefix
from ops_support import REDIS_URL, free_port
from portal_support import csrf_of, meta_csrf_of, totp_secret_of
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.tokens import ContactFields
from rempart.bench.server import server_command
from rempart.runtime import Runtime
from server_support import postgres_instance, process, wait_for, worker_env


@dataclass
class Cluster:
    runtime: Runtime
    population: Population
    auth: AuthServices
    urls: tuple[str, str]  # worker A, worker B
    env: dict[str, str]  # what the workers read (for the CLI too)
    _accounts: int = 0

    def account(self, *, role: Role = Role.PROVIDER_USER) -> tuple[int, str]:
        """An active account with the test password (made in the database directly)."""
        self._accounts += 1
        email = f"comptoir{self._accounts}-{uuid.uuid4().hex[:6]}@pharmacie.example"
        view = self.auth.accounts.create_account(
            contact=ContactFields(email, "Camille Comptoir"), password=PASSWORD, role=role,
            organisation_id=None if role.is_operator else self.population.organisation_ids[0])
        return view.id, email


@contextmanager
def two_workers(directory: Path) -> Iterator[Cluster]:
    """A PostgreSQL instance with the check population and two uvicorn workers on it."""
    with ExitStack() as stack:
        settings = stack.enter_context(backend_settings("postgres", directory / "db"))
        runtime, population = stack.enter_context(
            postgres_instance(settings.database_url, directory / "instance"))
        prefix = stack.enter_context(redis_prefix(REDIS_URL))
        env = worker_env(runtime, REMPART_REDIS_URL=REDIS_URL, REMPART_REDIS_PREFIX=prefix,
                         REMPART_WORKERS="2", REMPART_TRUSTED_PROXIES="127.0.0.1/32",
                         REMPART_COOKIE_SECURE="0",  # plain HTTP on loopback
                         # A throttled login waits long enough for a slow machine to
                         # send the next attempt before the wait is over.
                         REMPART_THROTTLE_BASE_DELAY_SECONDS="20")
        ports = (free_port(), free_port())
        servers = [stack.enter_context(process(
            server_command("uvicorn", port=port, workers=1), directory / f"worker-{name}.log",
            env)) for name, port in zip("ab", ports, strict=True)]
        urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
        for url, server in zip(urls, servers, strict=True):
            wait_for(f"{url}/readyz", server)
        auth = AuthServices.build(runtime)
        yield Cluster(runtime=runtime, population=population, auth=auth, urls=urls, env=env)


@dataclass
class Visitor:
    """One browser (one cookie jar, one client address) whose every request names the
    worker it goes to."""

    cluster: Cluster
    address: str  # sent as X-Forwarded-For: the workers trust the loopback proxy
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=30, follow_redirects=False, headers={
            "user-agent": BROWSER, "x-forwarded-for": self.address})

    def close(self) -> None:
        self.http.close()

    def get(self, worker: int, path: str) -> httpx.Response:
        return self.http.get(self.cluster.urls[worker] + path)

    def form(self, worker: int, path: str, page: httpx.Response,
             fields: dict[str, str]) -> httpx.Response:
        """Post a form with the CSRF token the page carried."""
        return self.http.post(self.cluster.urls[worker] + path,
                              data={"csrf_token": csrf_of(page), **fields})

    def json(self, worker: int, path: str, page: httpx.Response,
             body: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.cluster.urls[worker] + path, json=body,
                              headers={"x-csrf-token": meta_csrf_of(page)})

    def password_login(self, worker: int, email: str,
                       password: str = PASSWORD) -> httpx.Response:
        return self.form(worker, "/portal/login", self.get(worker, "/portal/login"),
                         {"login": email, "password": password})

    def enrol_totp(self, email: str, *, begin: int, finish: int) -> str:
        """First login with TOTP enrolment, begun on one worker and confirmed on another
        (or the same); returns the secret."""
        answer = self.password_login(begin, email)
        assert answer.headers.get("location") == "/portal/enrol", answer.status_code
        shown = self.form(begin, "/portal/enrol/totp", self.get(begin, "/portal/enrol"), {})
        secret = totp_secret_of(shown)
        done = self.form(finish, "/portal/enrol/totp/confirm", shown,
                         {"code": pyotp.TOTP(secret).now()})
        assert done.status_code == 200, done.status_code
        assert "recovery-codes" in done.text
        return secret

    def enrol_passkey(self, email: str, *, begin: int, finish: int) -> SoftAuthenticator:
        """First login with a passkey enrolment (the software authenticator), the
        ceremony begun on one worker and finished on another (or the same)."""
        self.password_login(begin, email)
        page = self.get(begin, "/portal/enrol")
        started = self.json(begin, "/portal/webauthn/register/begin", page, {})
        authenticator = SoftAuthenticator()
        credential = authenticator.create(json.dumps(started.json()["options"]))
        done = self.json(finish, "/portal/webauthn/register/finish", page, {
            "ceremony_id": started.json()["ceremony_id"], "credential": credential,
            "label": "Poste SOC"})
        assert done.status_code == 200, done.text
        return authenticator

    def passkey_login(self, authenticator: SoftAuthenticator, *, begin: int,
                      finish: int) -> httpx.Response:
        """A username-less passkey login, begun on one worker and finished on another."""
        page = self.get(begin, "/portal/login")
        started = self.json(begin, "/portal/webauthn/login/begin", page, {})
        assertion = authenticator.get(json.dumps(started.json()["options"]))
        return self.json(finish, "/portal/webauthn/login/finish", page, {
            "ceremony_id": started.json()["ceremony_id"], "credential": assertion})

    def portal_check(self, worker: int, person: Person) -> httpx.Response:
        """The check form, filled in with what the patient presents."""
        page = self.get(worker, "/portal/check")
        if page.status_code != 200:
            return page
        fields = person.payload(care_date=dt.date.today())
        return self.form(worker, "/portal/check", page, {k: str(v) for k, v in fields.items()})
