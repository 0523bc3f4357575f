"""Load for the failure drills: clients sending checks to a real server without pause,
every answer kept (when, status, body), until told to stop; and an API client
authenticated with DPoP."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
from joserfc.jwk import ECKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from checks_support import Population
from rempart.audit import AuditLog
from rempart.audit.security_sink import AuditSecurityEventSink
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.tokens import ContactFields, new_token
from rempart.bench.dpop_requests import ApiSoftware, fetch_token
from rempart.cli.main import app as cli
from rempart.core.identifiers import build_siret
from rempart.coverage.models import Check
from rempart.providers.models import Organisation
from rempart.runtime import Runtime
from server_support import demo_headers

TRANSPORT_ERROR = 0  # the status kept when no answer came (connection refused or cut)


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic() when the answer arrived
    status: int
    body: str
    retry_after: str | None

    @property
    def code(self) -> str:
        return str(json.loads(self.body)["error"]["code"])


@dataclass
class CheckLoad:
    """`clients` concurrent clients, each check its own provider session and network, the
    checks spread over many organisations: one session or one small pharmacy firing
    checks back to back is what the exfiltration guard slows down, and these drills are
    not about the guard."""

    base_url: str
    population: Population
    organisation_ids: Sequence[int]
    clients: int = 8
    # A connection per check: the kernel then spreads checks over a server's workers.
    fresh_connections: bool = False
    answers: list[Answer] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # of the checks answered 201
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def since(self, moment: float) -> list[Answer]:
        return [answer for answer in self.answers if answer.at >= moment]

    def created(self) -> set[str]:
        return set(self.references)

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, (
                "the load never reached the expected state: "
                f"{Counter((a.status, a.body[:80]) for a in self.answers).most_common(6)}")
            await asyncio.sleep(0.02)

    async def wait_for_status(self, status: int, count: int, *, since: float,
                              timeout_s: float = 30) -> None:
        """Until `count` answers with `status` arrived at or after `since`."""
        await self.wait_for(
            lambda: sum(answer.status == status for answer in self.since(since)) >= count,
            timeout_s)

    async def get(self, path: str) -> httpx.Response:
        """One GET from the server under load (its /readyz, say), on a connection of its own."""
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.get(path)

    async def run(self, scenario: Callable[[CheckLoad], Awaitable[None]]) -> None:
        """The clients, for as long as the scenario runs."""
        async def drive() -> None:
            try:
                await scenario(self)
            finally:
                self._stop.set()

        await asyncio.gather(drive(), *(self._client() for _ in range(self.clients)))

    async def _client(self) -> None:
        payload = self.population.alice.payload(care_date=dt.date.today())
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            while not self._stop.is_set():
                number = next(self._numbers)
                organisation = self.organisation_ids[number % len(self.organisation_ids)]
                headers = demo_headers(organisation, f"drill-{number}",
                                       f"10.{number % 250}.{number // 250 % 250}.1")
                if self.fresh_connections:
                    headers["connection"] = "close"
                try:
                    response = await http.post("/api/v1/checks", json=payload,
                                               headers=headers)
                except httpx.TransportError:
                    self.answers.append(Answer(time.monotonic(), TRANSPORT_ERROR, "", None))
                    await asyncio.sleep(0.05)
                    continue
                self.answers.append(Answer(time.monotonic(), response.status_code,
                                           response.text, response.headers.get("retry-after")))
                if response.status_code == 201:
                    self.references.append(response.json()["reference"])
                else:
                    await asyncio.sleep(0.05)  # a refused client waits a little, as asked


def many_organisations(runtime: Runtime, count: int = 100) -> list[int]:
    """`count` more pharmacies to spread the load over (the guard's ceilings are per
    organisation: a pharmacy's busiest hour is a few hundred checks)."""
    with Session(runtime.engine) as session:
        added = [Organisation(siret=build_siret(siren_body=51000000 + i, establishment=1),
                              finess=None, name=f"Pharmacie d'essai {i}",
                              profession="pharmacy", postcode="69003", departement="69")
                 for i in range(count)]
        session.add_all(added)
        session.commit()
        return [organisation.id for organisation in added]


@dataclass(frozen=True)
class DpopCaller:
    """Practice software with an access token bound to its DPoP key: each request carries
    a fresh proof, which the server records in its replay cache (a database write on the
    worker's own per-thread driver connection)."""

    software: ApiSoftware
    token: str
    base_url: str

    @classmethod
    def register(cls, runtime: Runtime, organisation_id: int, base_url: str) -> DpopCaller:
        with AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
            auth = AuthServices.build(runtime, events=AuditSecurityEventSink(audit=audit))
            admin = auth.accounts.create_account(
                contact=ContactFields("drill-admin@example.invalid", "Drill operator"),
                password=new_token(), role=Role.OPERATOR_ADMIN, organisation_id=None)
            registered = auth.api_clients.register(
                actor=admin.actor, organisation_id=organisation_id, name="drill")
        software = ApiSoftware(client_id=registered.info.client_id,
                               client_secret=registered.client_secret,
                               key=ECKey.generate_key("P-256", private=True))
        return cls(software, fetch_token(software, base_url), base_url)

    async def get(self, path: str) -> httpx.Response:
        url = self.base_url + path
        proof = self.software.dpop.proof("GET", url, access_token=self.token)
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.get(url, headers={"authorization": f"DPoP {self.token}",
                                                "dpop": proof})


def audit_verify(runtime: Runtime) -> tuple[int, str]:
    """`rempart audit verify` on the served instance, as an operator runs it (in process:
    a new interpreter would cost seconds of imports); its exit code and output."""
    result = CliRunner().invoke(cli, ["audit", "verify"], env={
        "REMPART_DATABASE_URL": runtime.settings.database_url,
        "REMPART_DATA_DIR": str(runtime.settings.data_dir),
        "REMPART_KEY_FILE": str(runtime.settings.key_file)})
    return result.exit_code, result.output


def checks_and_entries(runtime: Runtime) -> tuple[set[str], list[str]]:
    """The references of the stored check rows, and those of the `check.answered` audit
    entries (a list: an entry written twice shows as a repeat)."""
    with runtime.engine.connect() as conn:
        stored = set(conn.execute(select(Check.reference)).scalars())
        details = conn.execute(text(
            "SELECT detail FROM audit_entries WHERE event = 'check.answered'")).scalars()
        return stored, [json.loads(detail)["reference"] for detail in details]
