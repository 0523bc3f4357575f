"""The instance under drill and what the drill's agents know of it.

`World` is what every agent sees: where to send HTTP, the time, the ground truth about
people, the session timeouts a person expects. `build_instance` makes the in-process
kind: a fresh SQLite instance in a work directory, loaded with a synthetic population
through the real importer, on a simulated clock, with the real app. Its configuration is
production's, with three stated differences: the public origin and token issuer are the
in-process address, and the database is a temporary file; a baseline run also switches
the exfiltration guard off (a setting, not drill code).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

import pyotp
from sqlalchemy import select

from rempart.auth.client import ClientInfo
from rempart.auth.config import AuthSettings
from rempart.auth.events import MemoryEventSink, SecurityEventSink
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.tokens import ContactFields
from rempart.clock import Clock, ManualClock
from rempart.drill.agents import BROWSER_AGENT
from rempart.drill.clocks import DrillClock, SimulatedTime
from rempart.drill.endpoint import IN_PROCESS_URL, Endpoint, InProcess
from rempart.drill.errors import DrillError
from rempart.drill.truth import Person, outsiders, read_members
from rempart.ingest.service import Importer
from rempart.providers.models import Organisation
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.synth import generate_population
from rempart.web import create_app

START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)  # a Monday, before opening


@dataclass(frozen=True)
class Account:
    """One provider account the drill created; the password and TOTP secret are what a
    phishing kit or an infostealer would take."""

    account_id: int
    email: str
    password: str
    totp_secret: str
    organisation_id: int
    profession: str
    departement: str
    client_id: str
    client_secret: str


@dataclass
class World:
    endpoint: Endpoint
    clock: DrillClock
    members: list[Person]
    outsiders: list[Person]
    # The session timeouts a person at the portal expects (a sign-in after them is routine).
    session_idle_s: int
    session_absolute_s: int


def make_world(endpoint: Endpoint, clock: DrillClock, *, members: list[Person], seed: int,
               auth: AuthSettings) -> World:
    if not members:
        raise DrillError("the synthetic population has no members")
    return World(endpoint=endpoint, clock=clock, members=members,
                 outsiders=outsiders(random.Random(seed), members, max(10, len(members) // 5)),
                 session_idle_s=auth.session_idle_seconds,
                 session_absolute_s=auth.session_absolute_seconds)


@dataclass
class Instance:
    """An in-process instance: the world its agents see, and the runtime behind it."""

    world: World
    runtime: Runtime
    auth: AuthServices
    organisations: list[tuple[int, str, str]]  # id, profession, departement

    @property
    def database(self) -> Path:
        return Path(self.runtime.settings.database_url.removeprefix("sqlite:///"))

    def close(self) -> None:
        self.runtime.close()


def build_instance(*, workdir: Path, people: int, seed: int,
                   events: SecurityEventSink | None = None, guard: bool = True) -> Instance:
    population = workdir / "population"
    generate_population(out=population, people=people, seed=seed, today=START.date())
    instance = workdir / "instance"
    settings = Settings.load(data_dir=instance, database_url=f"sqlite:///{instance / 'r.db'}",
                             key_file=instance / "keyring.json")
    settings = dataclasses.replace(settings, auth=dataclasses.replace(
        settings.auth, origins=(IN_PROCESS_URL,), token_issuer=IN_PROCESS_URL),
        guard_enabled=guard)
    clock = SimulatedTime(START)
    runtime = Runtime.open(settings, clock=clock, create_keys=True)
    try:
        Importer(engine=runtime.engine, vault=runtime.vault, clock=clock,
                 workers=1).import_paths(paths=[population])
        auth = AuthServices.build(runtime, events=events or MemoryEventSink())
        app = create_app(runtime, auth=auth)
        world = make_world(InProcess(app), clock,
                           members=read_members(population, today=START.date()), seed=seed,
                           auth=settings.auth)
    except Exception:
        runtime.close()
        raise
    return Instance(world=world, runtime=runtime, auth=auth,
                    organisations=organisations_of(runtime))


def organisations_of(runtime: Runtime) -> list[tuple[int, str, str]]:
    with runtime.engine.connect() as conn:
        return [(int(r.id), str(r.profession), str(r.departement))
                for r in conn.execute(select(Organisation.id, Organisation.profession,
                                             Organisation.departement))]


def open_account(auth: AuthServices, clock: Clock, *, number: int,
                 organisation: tuple[int, str, str], next_step: bool = True) -> Account:
    """An organisation admin with TOTP enrolled and an API client, made through the
    domain services (the account set-up is not what the drill measures)."""
    org_id, profession, departement = organisation
    email = f"compte{number}@officine.example"
    password = f"Officine-{secrets.token_urlsafe(12)}"
    view = auth.accounts.create_account(contact=ContactFields(email, "Titulaire"),
                                        password=password, role=Role.ORGANISATION_ADMIN,
                                        organisation_id=org_id)
    client = ClientInfo(address=f"10.1.{number // 250}.{number % 250 + 1}",
                        user_agent=BROWSER_AGENT, device_token=None)
    first = auth.login.password_login(login=email, password=password, client=client)
    device = ClientInfo(client.address, client.user_agent, first.session.device_token)
    enrolment = auth.enrolment.begin_totp(session_token=first.session.token, client=device)
    auth.enrolment.confirm_totp(session_token=first.session.token, client=device,
                                code=pyotp.TOTP(enrolment.secret).at(clock.now()))
    registered = auth.api_clients.register(actor=auth.accounts.get(view.id).actor,
                                           organisation_id=org_id, name="Logiciel métier")
    if next_step and isinstance(clock, ManualClock):
        clock.advance(31)  # the next TOTP code belongs to a later time step
    return Account(account_id=view.id, email=email, password=password,
                   totp_secret=enrolment.secret, organisation_id=org_id,
                   profession=profession, departement=departement,
                   client_id=registered.info.client_id,
                   client_secret=registered.client_secret)
