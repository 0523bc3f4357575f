"""Breach scoping from the audit log alone: by account, session or address range, within
a window, each person once with the fields disclosed, counts by insurer and by field;
the export is audited; bad input is refused before anything is written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from checks_support import AMC_A, AMC_B, NOW, Person, Population, build_population
from rempart.alerts.store import AlertSource, AlertStore
from rempart.audit import AuditLog, Checkpointer, SigningKey, TrustedKeys, Verifier
from rempart.audit.recorder import AuditDisclosureRecorder
from rempart.coverage.claims import ClaimService, ClaimSubmission
from rempart.coverage.query import CheckRequest
from rempart.coverage.service import CheckService
from rempart.response import InvalidScope, OutputNotEmpty, Selector, Window, load_scope
from rempart.response.address_filter import AddressFilter
from rempart.response.scope_bench import Shape, fill_audit_log, measure_scopes
from rempart.response.scoping import BreachScoper
from rempart.runtime import Runtime

HOUR = 3600


def at(hours: float) -> dt.datetime:
    return NOW + dt.timedelta(hours=hours)


DETECTED = at(30)


@dataclasses.dataclass
class Story:
    runtime: Runtime
    population: Population
    audit: AuditLog
    scoper: BreachScoper
    references: dict[str, str]

    def scope(self, *, accounts: tuple[int, ...] = (), sessions: tuple[str, ...] = (),
              addresses: tuple[str, ...] = (), since: float = 0, until: float = 24,
              detected: dt.datetime | None = DETECTED) -> Any:
        return self.scoper.compute(
            selector=Selector(accounts=accounts, sessions=sessions, addresses=addresses),
            window=Window(since=at(since), until=at(until)), detected_at=detected)


def _request(person: Person, category: str) -> CheckRequest:
    body = person.payload(category)
    return CheckRequest(nir=body["nir"], birth_date=dt.date.fromisoformat(body["birth_date"]),
                        birth_rank=body["birth_rank"], amc_number=body["amc_number"],
                        member_number=body["member_number"], category=category,
                        care_date=NOW.date())


@pytest.fixture
def story(runtime: Runtime) -> Story:
    """Account 100 (session s-a, 203.0.113.7) and account 101 (session s-b, from two
    addresses) check people over a day and a bit; a claim follows Alice's check."""
    population = build_population(runtime)
    clock = runtime.clock
    audit = AuditLog(engine=runtime.engine, clock=clock)
    recorder = AuditDisclosureRecorder(audit=audit)
    checks = CheckService(engine=runtime.engine, vault=runtime.vault, clock=clock,
                          recorder=recorder)
    claims = ClaimService(engine=runtime.engine, clock=clock, recorder=recorder)
    a = dataclasses.replace(population.identity(0), session_id="s-a",
                            client_address="203.0.113.7")
    b = dataclasses.replace(population.identity(1), session_id="s-b",
                            client_address="198.51.100.20")
    references = {}
    plan = [(0, a, population.alice, "pharmacy", "alice"),
            (1, a, population.bob, "pharmacy", "bob"),           # contract ended: nothing
            (2, b, population.carol, "pharmacy", "carol"),
            (3, dataclasses.replace(b, client_address="2001:db8::5"), population.leo,
             "optical", "leo"),
            (25, a, population.alice, "dental", "alice-later")]  # after the window
    for hours, who, person, category, name in plan:
        clock.advance(hours * HOUR - (clock.now() - NOW).total_seconds())  # type: ignore[attr-defined]
        references[name] = checks.check(requester=who, request=_request(person, category)).reference
        if name == "alice":
            clock.advance(60)  # type: ignore[attr-defined]
            claims.submit(requester=who, submission=ClaimSubmission(
                check_reference=references["alice"], category="pharmacy",
                care_date=NOW.date(), billed_cents=1_000, base_tariff_cents=1_000,
                amo_rate_bp=6_000, amc_cents=400))
    clock.advance(30 * HOUR - (clock.now() - NOW).total_seconds())  # type: ignore[attr-defined]
    return Story(runtime=runtime, population=population, audit=audit,
                 scoper=BreachScoper(engine=runtime.engine, clock=clock, audit=audit),
                 references=references)


def persons(scope: Any) -> dict[int, tuple[str, frozenset[str], int]]:
    return {p.person_id: (p.insurer_amc, p.fields_disclosed, p.disclosures)
            for p in scope.persons}


def test_an_account_scope_lists_each_person_once_with_the_fields_disclosed(
        story: Story) -> None:
    scope = story.scope(accounts=(100,))
    alice = story.population.alice.beneficiary_id
    assert persons(scope) == {alice: (AMC_A, frozenset({
        "coverage", "identity_confirmed", "guarantee", "third_party", "claim"}), 2)}
    [person] = scope.persons
    assert person.first_seen == at(0)
    assert person.last_seen == at(0) + dt.timedelta(seconds=60)
    assert scope.counts.by_insurer == {AMC_A: 1}
    assert scope.counts.by_field["claim"] == 1
    assert scope.detected_at == at(30)


def test_a_session_scope_and_counts_by_insurer(story: Story) -> None:
    scope = story.scope(sessions=("s-b",))
    population = story.population
    assert set(persons(scope)) == {population.carol.beneficiary_id,
                                   population.leo.beneficiary_id}
    assert scope.counts.by_insurer == {AMC_A: 1, AMC_B: 1}
    assert scope.counts.disclosures == 2


ADDRESS_CASES = [
    ("203.0.113.0/24", "alice"), ("203.0.113.7/32", "alice"), ("203.0.0.0/12", "alice"),
    ("198.51.100.0/25", "carol"), ("198.51.100.128/25", None), ("2001:db8::/32", "leo"),
    ("2001:db8:0:1::/64", None), ("::/0", "leo"), ("0.0.0.0/0", "both"),
]


def test_address_range_scopes(story: Story) -> None:
    population = story.population
    expected = {"alice": {population.alice.beneficiary_id},
                "carol": {population.carol.beneficiary_id},
                "leo": {population.leo.beneficiary_id}, None: set(),
                "both": {population.alice.beneficiary_id, population.carol.beneficiary_id}}
    for cidr, who in ADDRESS_CASES:
        assert set(persons(story.scope(addresses=(cidr,)))) == expected[who], cidr


def test_selectors_combine_without_counting_an_entry_twice(story: Story) -> None:
    both = story.scope(accounts=(100,), sessions=("s-a",), addresses=("203.0.113.0/24",))
    assert persons(both) == persons(story.scope(accounts=(100,)))


def test_the_window_includes_since_and_excludes_until(story: Story) -> None:
    alice = story.population.alice.beneficiary_id
    assert persons(story.scope(accounts=(100,), since=0, until=0.01))[alice][2] == 1
    assert story.scope(accounts=(100,), since=0.02, until=24).persons == ()
    assert persons(story.scope(accounts=(100,), since=0, until=26))[alice][2] == 3


def test_the_detection_time_defaults_to_the_first_alert(story: Story) -> None:
    with pytest.raises(InvalidScope, match="give the detection time"):
        story.scope(accounts=(101,), detected=None)
    with story.runtime.engine.begin() as conn:
        for hours in (-5, 5, 7):  # the alert before the window belongs to something else
            AlertStore.insert(conn, source=AlertSource.GUARD, severity="critical",
                              created_at=at(hours), reasons=["test"], account_id=101)
    assert story.scope(accounts=(101,), detected=None).detected_at == at(5)
    with pytest.raises(InvalidScope, match="later than now"):
        story.scope(accounts=(101,), detected=at(31))


def test_the_insurer_comes_from_the_population_for_entries_that_do_not_name_it(
        story: Story) -> None:
    with story.runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET detail = '{}' WHERE subject_id = :s"),
                     {"s": story.population.carol.beneficiary_id})
    scope = story.scope(sessions=("s-b",))
    assert persons(scope)[story.population.carol.beneficiary_id][0] == AMC_B
    with story.runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET subject_id = 999999 "
                          "WHERE subject_id = :s"), {"s": story.population.carol.beneficiary_id})
    with pytest.raises(InvalidScope, match="no insurer is known"):
        story.scope(sessions=("s-b",))


def test_the_export_is_audited_and_never_overwrites(story: Story, tmp_path: Path) -> None:
    scope = story.scope(accounts=(100, 101))
    files = story.scoper.export(scope=scope, out=tmp_path / "scope")
    assert load_scope(files.json) == scope
    assert load_scope(files.csv).persons == scope.persons
    assert oct(files.json.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(OutputNotEmpty):
        story.scoper.export(scope=scope, out=tmp_path / "scope")
    with story.runtime.engine.connect() as conn:
        exported = conn.execute(text("SELECT detail FROM audit_entries "
                                     "WHERE event = 'breach.scope_exported'")).scalars().all()
    assert len(exported) == 1
    assert '"persons":3' in exported[0]


@pytest.mark.parametrize(("make", "where"), [
    (lambda: Selector(), "selector"),
    (lambda: Selector(addresses=("203.0.113.0/33",)), "selector.addresses[0]"),
    (lambda: Selector(addresses=("not-a-range",)), "selector.addresses[0]"),
    (lambda: Window(since=at(5), until=at(5)), "window"),
    (lambda: Window(since=at(5), until=at(1)), "window"),
    (lambda: Window(since=at(1).replace(tzinfo=None), until=at(5)), "window.since"),
])
def test_bad_selectors_and_windows_are_refused(make: Any, where: str) -> None:
    with pytest.raises(InvalidScope) as caught:
        make()
    assert caught.value.where == where


@given(prefix=st.integers(0, 32), address=st.integers(0, 2**32 - 1),
       other=st.integers(0, 2**32 - 1))
def test_ipv4_patterns_cover_exactly_the_range(prefix: int, address: int, other: int) -> None:
    network = ipaddress.IPv4Network((address, prefix), strict=False)
    ranges = AddressFilter((network,))
    patterns = ranges.patterns()
    assert len(patterns) <= 128

    def like(value: str) -> bool:
        return any(value.startswith(p[:-1]) if p.endswith("%") and p != "%.%" else
                   ("." in value if p == "%.%" else value == p) for p in patterns)

    inside = str(network.network_address + (other % network.num_addresses))
    assert ranges.matches(inside)
    assert like(inside)
    outside = ipaddress.IPv4Address(other)
    assert ranges.matches(str(outside)) == (outside in network)
    assert not ranges.matches("2001:db8::1")


@given(prefix=st.integers(0, 128), address=st.integers(0, 2**128 - 1),
       other=st.integers(0, 2**64))
def test_ipv6_patterns_cover_the_range(prefix: int, address: int, other: int) -> None:
    network = ipaddress.IPv6Network((address, prefix), strict=False)
    ranges = AddressFilter((network,))
    [pattern] = ranges.patterns()
    inside = str(network.network_address + (other % network.num_addresses))
    assert ranges.matches(inside)
    assert ":" in inside
    assert pattern == "%:%" or inside.startswith(pattern[:-1])


def test_the_benchmark_log_is_a_valid_chain_that_scopes_read(runtime: Runtime) -> None:
    shape = Shape(entries=3000, start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), accounts=50,
                  persons=500)
    fill_audit_log(runtime.engine, shape)
    key = SigningKey.generate()
    Checkpointer(engine=runtime.engine, clock=runtime.clock, signing_key=key).checkpoint()
    report = Verifier(engine=runtime.engine, trusted_keys=TrustedKeys([key.verify_key])).verify()
    assert report.ok, report.problems
    assert report.entries_checked == 3000
    figures = measure_scopes(runtime.engine, shape, runtime.clock)
    assert [f["scope"] for f in figures] == ["3 accounts, 7 days", "1 session",
                                             "50 accounts, 30 days", "address /24, 7 days",
                                             "address /24, 30 days"]
    assert figures[2]["persons"] > 0  # every account of the small log: most persons
    print(figures)
