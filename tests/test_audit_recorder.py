"""Every disclosure and security event is an audit entry: checks, calculations, claims
submitted and read, authentication events, guard alerts, key rotation. The entries of
concurrent workers form one chain that verifies, and a disclosure whose entry cannot be
written does not happen."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from audit_disclosures import recorded_disclosures
from checks_support import AMC_A, AppClient, Population, build_population, make_app
from rempart.alerts.models import AlertRow
from rempart.alerts.store import StoredAlertSink
from rempart.audit import (
    AuditLog,
    AuditSchemaMissing,
    AuditWriteFailed,
    Checkpointer,
    SigningKey,
    TrustedKeys,
    Verifier,
)
from rempart.audit.recorder import AuditDisclosureRecorder
from rempart.audit.security_sink import AuditSecurityEventSink
from rempart.auth.events import EventKind, MemoryEventSink, SecurityEvent
from rempart.auth.services import AuthServices
from rempart.cli.main import app as cli
from rempart.coverage.models import Check
from rempart.coverage.query import CheckRequest
from rempart.coverage.service import CheckService
from rempart.guard.alerts import Alert
from rempart.guard.context import Channel
from rempart.guard.decision import Action
from rempart.runtime import Runtime
from rempart.storage.base import Base
from rempart.storage.engine import make_engine


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population)) as c:
        yield c


def verify(runtime: Runtime) -> Any:
    key = SigningKey.generate()
    Checkpointer(engine=runtime.engine, clock=runtime.clock, signing_key=key).checkpoint()
    return Verifier(engine=runtime.engine, trusted_keys=TrustedKeys([key.verify_key])).verify()


def request_of(body: dict[str, Any]) -> CheckRequest:
    return CheckRequest(nir=body["nir"], birth_date=dt.date.fromisoformat(body["birth_date"]),
                        birth_rank=body["birth_rank"], amc_number=body["amc_number"],
                        member_number=body["member_number"], category=body["category"],
                        care_date=dt.date.fromisoformat(body["care_date"]))


def test_checks_calculations_and_claims_are_entries_of_one_verified_chain(
        client: AppClient, population: Population, runtime: Runtime) -> None:
    covered = client.post("/api/v1/checks", json=population.alice.payload("optical")).json()
    missed = client.post("/api/v1/checks", json=population.stranger.payload()).json()
    client.post(f"/api/v1/checks/{covered['reference']}/calculation",
                json={"billed_cents": 50_000, "base_tariff_cents": 1_000, "amo_rate_bp": 6000})
    claim = client.post("/api/v1/claims", json={
        "check_reference": covered["reference"], "category": "optical",
        "care_date": covered["care_date"], "billed_cents": 50_000, "base_tariff_cents": 1_000,
        "amo_rate_bp": 6000, "amc_cents": 15_000}).json()
    assert client.get(f"/api/v1/claims/{claim['reference']}").status_code == 200
    assert client.get("/api/v1/claims").status_code == 200

    entries = recorded_disclosures(runtime.engine)
    assert [e.event for e in entries] == ["check.answered", "check.answered", "check.calculated",
                                          "claim.submitted", "claim.read", "claim.read"]
    hit, miss = entries[0], entries[1]
    alice = population.alice.beneficiary_id
    assert (hit.reference, hit.person_id, hit.detail["amc"]) == (covered["reference"], alice,
                                                                  AMC_A)
    assert "covered" in hit.fields
    assert "guarantee_kind" in hit.fields
    assert (hit.account_id, hit.organisation_id, hit.session_id, hit.device_id) == (
        100, population.organisation_ids[0], "session-0", "device-0")
    assert (miss.reference, miss.person_id, miss.fields) == (missed["reference"], None, ())
    assert "amc" not in miss.detail
    assert all(e.person_id == alice for e in entries[2:])
    assert entries[4].fields == ("claim_reason", "claim_status")
    assert entries[4].reference == entries[5].reference == claim["reference"]

    report = verify(runtime)
    assert report.ok, report.problems
    assert report.entries_checked == len(entries)


def test_the_audit_log_holds_no_identifier(client: AppClient, population: Population,
                                           runtime: Runtime) -> None:
    for person in (population.alice, population.bob, population.stranger):
        assert client.post("/api/v1/checks", json=person.payload()).status_code == 201
    with runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_entries")).all()
    dumped = repr(rows)
    for person in (population.alice, population.bob, population.stranger):
        for secret in person.secrets():
            assert secret not in dumped


def test_concurrent_workers_write_one_verifiable_order(runtime: Runtime,
                                                       population: Population) -> None:
    """Two workers (each its own engine, journal and recorder) checking at once."""
    workers, per_worker = 2, 30
    bodies = [population.alice.payload(), population.stranger.payload(),
              population.leo.payload("optical")]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        engine = make_engine(runtime.settings)
        try:
            audit = AuditLog(engine=engine, clock=runtime.clock)
            service = CheckService(engine=engine, vault=runtime.vault, clock=runtime.clock,
                                   recorder=AuditDisclosureRecorder(audit=audit),
                                   offload=not runtime.settings.is_sqlite)
            requester = population.identity(index)

            async def run_all() -> None:
                await asyncio.gather(*(
                    service.check_async(requester=requester,
                                        request=request_of(bodies[n % len(bodies)]))
                    for n in range(per_worker)))

            asyncio.run(run_all())
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with runtime.engine.connect() as conn:
        positions = list(conn.execute(text("SELECT position FROM audit_entries ORDER BY position"))
                         .scalars())
        checks = conn.execute(select(func.count()).select_from(Check)).scalar_one()
    assert positions == list(range(1, workers * per_worker + 1))
    assert checks == workers * per_worker
    report = verify(runtime)
    assert report.ok, report.problems


def test_no_answer_leaves_when_its_entry_cannot_be_written(population: Population,
                                                           runtime: Runtime) -> None:
    service: CheckService = make_app(runtime, population).state.check_service
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(AuditSchemaMissing):
        service.check(requester=population.identity(),
                      request=request_of(population.alice.payload()))
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Check)).scalar_one() == 0


def test_an_unrecordable_identity_detail_is_left_out_without_failing_the_batch(
        runtime: Runtime, population: Population) -> None:
    audit = AuditLog(engine=runtime.engine, clock=runtime.clock)
    service = CheckService(engine=runtime.engine, vault=runtime.vault, clock=runtime.clock,
                           recorder=AuditDisclosureRecorder(audit=audit))
    odd = dataclasses.replace(population.identity(), session_id="has spaces",
                              client_address="not-an-address")

    async def both() -> None:
        await asyncio.gather(
            service.check_async(requester=odd, request=request_of(population.alice.payload())),
            service.check_async(requester=population.identity(1),
                                request=request_of(population.alice.payload())))

    asyncio.run(both())
    first, second = recorded_disclosures(runtime.engine)
    assert (first.session_id, first.client_address) == (None, None)
    assert first.detail["unrecordable"] == "session_id,client_address"
    assert first.device_id == "device-0"
    assert second.session_id == "session-1"
    assert "unrecordable" not in second.detail


def test_security_events_are_entries_without_anything_personal(runtime: Runtime) -> None:
    assert isinstance(AuthServices.build(runtime).events, AuditSecurityEventSink)
    forwarded = MemoryEventSink()
    with AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        sink = AuditSecurityEventSink(audit=audit, forward_to=forwarded)
        sink.emit(SecurityEvent(
            EventKind.SECOND_FACTOR_SUCCEEDED, runtime.clock.now(), account_id=12,
            organisation_id=3, session_id=77, address="2001:DB8::1", reason="totp",
            details={"step_up": "true", "nir": "1850575111042", "note": "ref 1850575111042",
                     "Bad Key": "x"}))
        sink.emit(SecurityEvent(EventKind.ACCOUNT_SUSPENDED, runtime.clock.now(),
                                account_id=12, reason="guard", address="bogus"))
    with runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT event, account_id, organisation_id, session_id, "
                                 "client_address, detail FROM audit_entries "
                                 "ORDER BY position")).all()
    first, second = rows
    assert tuple(first[:5]) == ("auth.second_factor_succeeded", 12, 3, "portal:77",
                                "2001:db8::1")
    assert orjson.loads(first[5]) == {"reason": "totp", "step_up": "true"}
    assert (second[0], second[4], orjson.loads(second[5])) == (
        "auth.account_suspended", None, {"reason": "guard"})
    assert [e.kind for e in forwarded.events] == [EventKind.SECOND_FACTOR_SUCCEEDED,
                                                  EventKind.ACCOUNT_SUSPENDED]


def test_a_security_event_that_cannot_be_recorded_fails(runtime: Runtime) -> None:
    forwarded = MemoryEventSink()
    with runtime.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_entries"))
    with AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        sink = AuditSecurityEventSink(audit=audit, forward_to=forwarded)
        with pytest.raises(AuditWriteFailed):
            sink.emit(SecurityEvent(EventKind.LOGIN_SUCCEEDED, runtime.clock.now(),
                                    account_id=1))
    assert forwarded.events == []


def _alert(runtime: Runtime, account: int) -> Alert:
    return Alert(account_id=account, organisation_id=3, session_id="sess-9",
                 action=Action.SUSPEND_ACCOUNT, reasons=("42 new patients in 10 minutes",),
                 score=31.7, at=runtime.clock.now(), channel=Channel.PORTAL)


def test_guard_alerts_are_stored_and_audited_and_survive_an_outage(runtime: Runtime) -> None:
    with AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        sink = StoredAlertSink(engine=runtime.engine, audit=audit)
        with runtime.engine.begin() as conn:
            conn.execute(text("DROP TABLE alert_outbox"))
            conn.execute(text("DROP TABLE alerts"))
        sink.emit(_alert(runtime, 12))  # the database refuses: kept, not raised
        assert sink.pending == 1
        Base.metadata.tables["alerts"].create(runtime.engine)
        Base.metadata.tables["alert_outbox"].create(runtime.engine)
        sink.emit(_alert(runtime, 13))
        assert sink.pending == 0
    with runtime.engine.connect() as conn:
        stored = conn.execute(select(AlertRow.account_id, AlertRow.action, AlertRow.severity)
                              .order_by(AlertRow.id)).all()
        audited = conn.execute(text("SELECT account_id, session_id, detail FROM audit_entries "
                                    "WHERE event = 'guard.alert' ORDER BY position")).all()
    assert [tuple(r) for r in stored] == [("12", "suspend_account", "critical"),
                                          ("13", "suspend_account", "critical")]
    assert [(r[0], r[1]) for r in audited] == [(12, "sess-9"), (13, "sess-9")]
    assert orjson.loads(audited[0][2]) == {"action": "suspend_account", "severity": "critical",
                                           "score": 32, "channel": "portal", "reasons": 1}


def test_key_rotation_is_audited(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMPART_DATABASE_URL", runtime.settings.database_url)
    result = CliRunner().invoke(cli, ["keys", "rotate", "--data-dir",
                                      str(runtime.settings.data_dir)])
    assert result.exit_code == 0, result.output
    with runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT event, detail FROM audit_entries "
                                 "ORDER BY position")).all()
    assert [(r[0], orjson.loads(r[1])) for r in rows] == [
        ("keys.rotation_started", {"from_version": 1}),
        ("keys.rotated", {"to_version": 2, "contracts": 0, "beneficiaries": 0,
                          "retired": True})]
