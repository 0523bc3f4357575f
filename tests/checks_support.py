"""A small sealed population for the check, claim and API tests, built straight through
the models and rempart.population.sealing (no importer), plus app and identity helpers.

Insurer A (12345678), tier "confort": pharmacy 100 % BR, optical flat 150 EUR with an
allowance of 400 EUR per 24 months, dental ceiling 300 EUR without third-party payment,
consultation 200 % BR with an allowance of 100 EUR per 12 months; nothing for hospital.
Alice (holder) and Leo (rank 2, Alice's NIR, a twin's birth rank) are on an active
contract; Bob's contract ended on 2025-12-31. Insurer B (87654321) covers Carol.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from rempart.clock import ManualClock
from rempart.core.care import GuaranteeKind
from rempart.core.identifiers import build_nir, build_siret
from rempart.population import sealing
from rempart.population.models import Beneficiary, Contract, Guarantee, Insurer
from rempart.providers.models import Organisation
from rempart.runtime import Runtime
from rempart.web import ProviderIdentity, StaticIdentity, create_app

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
AMC_A = "12345678"
AMC_B = "87654321"


@dataclass(frozen=True)
class Person:
    beneficiary_id: int
    nir: str
    birth_date: dt.date
    birth_rank: int
    amc_number: str
    member_number: str

    def payload(self, category: str = "pharmacy", care_date: dt.date = TODAY,
                **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "nir": self.nir, "birth_date": self.birth_date.isoformat(),
            "birth_rank": self.birth_rank, "amc_number": self.amc_number,
            "member_number": self.member_number, "category": category,
            "care_date": care_date.isoformat(),
        }
        body.update(changes)
        return body

    def secrets(self) -> list[str]:
        """The values that must never appear in an answer, an error or a log."""
        return [self.nir, self.nir[:13], self.birth_date.isoformat(), self.member_number]


@dataclass(frozen=True)
class Population:
    alice: Person
    leo: Person
    bob: Person
    carol: Person
    stranger: Person  # valid identifiers, nobody in the database
    organisation_ids: tuple[int, int]

    def identity(self, which: int = 0) -> ProviderIdentity:
        return ProviderIdentity(
            account_id=100 + which, organisation_id=self.organisation_ids[which],
            professional_id=None, profession="pharmacy", session_id=f"session-{which}",
            client_address=None, device_id=f"device-{which}")


def build_population(runtime: Runtime) -> Population:
    """Insert the population; set the runtime's clock to NOW."""
    runtime.clock = ManualClock(NOW)
    vault = runtime.vault
    with Session(runtime.engine) as session:
        insurer_a = Insurer(amc_number=AMC_A, name="Mutuelle Alpha")
        insurer_b = Insurer(amc_number=AMC_B, name="Mutuelle Beta")
        orgs = [Organisation(siret=build_siret(siren_body=73282932 + i, establishment=1),
                             finess=None, name=f"Pharmacie {i}", profession="pharmacy",
                             postcode="75011", departement="75") for i in range(2)]
        session.add_all([insurer_a, insurer_b, *orgs])
        session.flush()
        since = dt.date(2020, 1, 1)
        session.add_all([
            _guarantee(insurer_a.id, "confort", "pharmacy", GuaranteeKind.BASE_SHARE,
                       rate_bp=10_000, valid_from=since),
            _guarantee(insurer_a.id, "confort", "optical", GuaranteeKind.FLAT,
                       amount_cents=15_000, allowance_cents=40_000, period_months=24,
                       valid_from=since),
            _guarantee(insurer_a.id, "confort", "dental", GuaranteeKind.CEILING,
                       amount_cents=30_000, third_party=False, valid_from=since),
            _guarantee(insurer_a.id, "confort", "consultation", GuaranteeKind.BASE_SHARE,
                       rate_bp=20_000, allowance_cents=10_000, period_months=12,
                       valid_from=since),
            _guarantee(insurer_b.id, "base", "pharmacy", GuaranteeKind.BASE_SHARE,
                       rate_bp=10_000, valid_from=since),
        ])
        active = _contract(session, vault, insurer_a.id, "CA-0001", "confort", since, None)
        ended = _contract(session, vault, insurer_a.id, "CA-0002", "confort", since,
                          dt.date(2025, 12, 31))
        other = _contract(session, vault, insurer_b.id, "CB-0001", "base", since, None)
        alice_nir = build_nir(sex=2, birth_year=1985, birth_month=5, place="75111", serial=42)
        alice = _person(session, vault, insurer_a.id, AMC_A, active, 1, alice_nir,
                        dt.date(1985, 5, 17), 1, "MA0001")
        leo = _person(session, vault, insurer_a.id, AMC_A, active, 2, alice_nir,
                      dt.date(2015, 9, 3), 2, "MA0002")
        bob = _person(session, vault, insurer_a.id, AMC_A, ended, 1,
                      build_nir(sex=1, birth_year=1970, birth_month=2, place="69123", serial=7),
                      dt.date(1970, 2, 11), 1, "MA0003")
        carol = _person(session, vault, insurer_b.id, AMC_B, other, 1,
                        build_nir(sex=2, birth_year=1990, birth_month=12, place="13055",
                                  serial=300),
                        dt.date(1990, 12, 1), 1, "MB0001")
        session.commit()
        stranger = Person(0, build_nir(sex=1, birth_year=1988, birth_month=7, place="33063",
                                       serial=99), dt.date(1988, 7, 4), 1, AMC_A, "MA9999")
        return Population(alice=alice, leo=leo, bob=bob, carol=carol, stranger=stranger,
                          organisation_ids=(orgs[0].id, orgs[1].id))


def make_app(runtime: Runtime, population: Population, which: int = 0, *,
             guard: bool = False) -> Any:
    """The app over one provider. The guard is off unless asked for: these tests send
    many checks at one frozen instant, which the guard rightly takes for a machine
    (tests/test_check_guard.py tests it on the check path)."""
    runtime.settings = dataclasses.replace(runtime.settings, guard_enabled=guard)
    return create_app(runtime, identity_source=StaticIdentity(population.identity(which)))


class AppClient:
    """A synchronous client that calls the ASGI app in-process (httpx's ASGI transport)."""

    def __init__(self, app: Any) -> None:
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://rempart.test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def with_identity(identity: ProviderIdentity, **changes: Any) -> ProviderIdentity:
    return dataclasses.replace(identity, **changes)


def _guarantee(insurer_id: int, tier: str, category: str, kind: GuaranteeKind, *,
               valid_from: dt.date, rate_bp: int | None = None, amount_cents: int | None = None,
               allowance_cents: int | None = None, period_months: int | None = None,
               third_party: bool = True) -> Guarantee:
    return Guarantee(insurer_id=insurer_id, tier=tier, category=category, kind=kind.value,
                     rate_bp=rate_bp, amount_cents=amount_cents,
                     allowance_cents=allowance_cents, period_months=period_months,
                     third_party=third_party, valid_from=valid_from, valid_to=None)


def _contract(session: Session, vault: Any, insurer_id: int, number: str, tier: str,
              start: dt.date, end: dt.date | None) -> Contract:
    amc = session.get(Insurer, insurer_id).amc_number  # type: ignore[union-attr]
    number_idx = sealing.contract_index(vault, amc, number)
    contract = Contract(
        insurer_id=insurer_id, number_idx=number_idx, key_version=vault.current_version,
        sealed=sealing.seal_contract_number(vault, number, number_idx=number_idx),
        content_mac=vault.index(b"test-content", number), tier=tier, start_date=start,
        end_date=end, third_party=True, updated_at=NOW)
    session.add(contract)
    session.flush()
    return contract


def _person(session: Session, vault: Any, insurer_id: int, amc: str, contract: Contract,
            rank: int, nir: str, birth_date: dt.date, birth_rank: int,
            member_number: str) -> Person:
    fields = sealing.PersonFields(
        nir=nir, birth_date=birth_date, birth_rank=birth_rank, last_name="Zorglubova",
        first_name="Quentinette", marital_status="married", member_number=member_number,
        postcode="75011", departement="75")
    member_idx = sealing.member_index(vault, amc, member_number)
    row = Beneficiary(
        insurer_id=insurer_id, contract_id=contract.id, rank=rank, member_idx=member_idx,
        identity_idx=sealing.identity_index(vault, nir, birth_date),
        key_version=vault.current_version,
        sealed=sealing.seal_person(vault, fields, member_idx=member_idx),
        content_mac=vault.index(b"test-content", *fields.as_strings()), updated_at=NOW)
    session.add(row)
    session.flush()
    return Person(row.id, nir, birth_date, birth_rank, amc, member_number)
