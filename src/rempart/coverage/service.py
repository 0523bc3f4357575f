"""The check service: look up through the vault, decide in the pure rules, record, answer.

Every check does the same work whatever its outcome: the same query (the candidate
look-up, with the allowance used under each guarantee row or a neutral one), one
decryption (of a dummy row when nothing matched), the same comparisons, the same two
inserts (through the journal's group commit). A negative answer carries nothing but its
reference, whatever the reason.
"""

from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy import Engine

from rempart.clock import Clock
from rempart.core.calculation import Bill
from rempart.core.care import CareCategory
from rempart.coverage import check_store, ledger
from rempart.coverage.answers import (
    MAX_PAGE_SIZE,
    CalculationAnswer,
    CheckAnswer,
    CheckSummary,
    GuaranteeView,
    Page,
    as_utc,
)
from rempart.coverage.check_reads import CheckReads
from rempart.coverage.errors import UnknownReference
from rempart.coverage.journal import CheckJournal, PendingCheck
from rempart.coverage.matching import Matcher
from rempart.coverage.query import CheckRequest, validate_request
from rempart.coverage.references import new_reference
from rempart.coverage.rules import (
    CheckOutcome,
    GuaranteeRow,
    decide_check,
    latest_guarantee,
    remaining_allowance,
)
from rempart.disclosure import Disclosure, DisclosureEvent, DisclosureRecorder, Requester
from rempart.guard import LookupOutcome
from rempart.guard.gate import CheckGate
from rempart.storage.thread_connections import ThreadConnections
from rempart.vault import Vault


class CheckService:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock,
                 recorder: DisclosureRecorder, offload: bool = False,
                 gate: CheckGate | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._recorder = recorder
        self._matcher = Matcher(vault)
        # One connection per thread for the look-up and for the journal's commits: on
        # SQLite a commit from another connection would empty the look-up's page cache;
        # on PostgreSQL a batch then needs no pooled connection (no checkout, no ping).
        # Where commits run (loop or thread) is the journal's: see CheckJournal.
        connections = ThreadConnections(engine, autocommit=True)
        self._reads = CheckReads(engine, connections=connections)
        self._journal = CheckJournal(engine=engine, recorder=recorder, connections=connections)
        self._offload = offload
        self._gate = gate  # the exfiltration guard; None only where settings turn it off

    def check(self, *, requester: Requester, request: CheckRequest) -> CheckAnswer:
        """Answer whether the presented person is covered for the category on the date."""
        answer, pending = self._look_up(requester, request)
        self._journal.write(pending)
        return answer

    async def check_async(self, *, requester: Requester, request: CheckRequest) -> CheckAnswer:
        """The same check for an event loop: the write joins the journal's next commit.

        The look-up runs inline on SQLite (a local call shorter than a hop to a thread)
        and in a worker thread with a database server (`offload`); the journal
        commits on the loop or in a worker thread (see CheckJournal).
        """
        if self._offload:
            answer, pending = await asyncio.to_thread(self._look_up, requester, request)
        else:
            answer, pending = self._look_up(requester, request)
        await self._journal.write_async(pending)
        return answer

    async def drain(self) -> None:
        """Wait for the commits of checks already answered or waiting (at shutdown)."""
        await self._journal.drain()

    def _look_up(self, requester: Requester,
                 request: CheckRequest) -> tuple[CheckAnswer, PendingCheck]:
        now = self._clock.now()
        query = validate_request(request, today=now.date())
        identity = self._matcher.identity_indexes(query)
        member = self._matcher.member_indexes(query)
        reference = new_reference(at=now)
        # The guard decides before anything is disclosed (CheckWithheld otherwise).
        guarded = self._gate.before(requester, at=now) if self._gate else None
        lookup = self._reads.find(identity=identity, member=member,
                                  category=query.category.value, care_date=query.care_date)
        candidates = lookup.candidates
        found, place = self._matcher.match_placed(candidates, query)
        guarantee = latest_guarantee(found.guarantees) if found else None
        outcome = decide_check(matched=found is not None,
                               contract=found.contract if found else None,
                               guarantee=guarantee, care_date=query.care_date)
        covered = outcome is CheckOutcome.COVERED
        if self._gate is not None and guarded is not None:
            self._gate.after(guarded, requester, LookupOutcome(
                matched=found is not None, departement=place, covered=covered,
                person_key=identity[0].hex() if candidates else None,
                near_miss=bool(candidates) and found is None,
                attempt_key=_attempt_key(identity[0], member[0], query.birth_rank)
                if found is None else None,
                check_reference=reference))
        applied = guarantee if covered else None
        third_party = bool(applied and found and applied.third_party
                           and found.contract_third_party)
        answer = CheckAnswer(
            reference=reference, covered=covered, category=query.category,
            care_date=query.care_date, checked_at=now, third_party_payment=third_party,
            guarantee=_view(applied, lookup.used(found, applied)) if applied and found
            else None)
        row = {
            "reference": reference,
            "organisation_id": requester.organisation_id,
            "account_id": requester.account_id,
            "professional_id": requester.professional_id,
            "beneficiary_id": found.beneficiary_id if found else None,
            "guarantee_id": applied.id if applied else None,
            "category": query.category.value,
            "care_date": query.care_date,
            "outcome": outcome.value,
            "covered": covered,
            "third_party": third_party,
            "created_at": now,
        }
        disclosed_person = found.beneficiary_id if found and covered else None
        # A match compared the AMC number, so the recorder needs no look-up for it.
        disclosure = Disclosure(
            event=DisclosureEvent.CHECK, occurred_at=now, requester=requester,
            person_id=disclosed_person, fields=answer.disclosed_fields, reference=reference,
            insurer_amc=query.amc_number if disclosed_person is not None else None)
        return answer, PendingCheck(row=row, disclosure=disclosure)

    def calculate(self, *, requester: Requester, reference: str,
                  bill: Bill) -> CalculationAnswer:
        """Split a bill under the guarantee that the provider's own check found."""
        now = self._clock.now()
        with self._engine.begin() as conn:
            stored = check_store.find_own_check(conn, reference=reference,
                                                organisation_id=requester.organisation_id)
            if stored is None:
                raise UnknownReference("check")
            guarantee = stored.guarantee if stored.covered else None
            remaining = None
            if guarantee is not None and stored.beneficiary_id is not None:
                remaining = ledger.remaining_on(
                    conn, guarantee=guarantee, beneficiary_id=stored.beneficiary_id,
                    category=stored.category, care_date=stored.care_date)
            split = ledger.split_under(bill, guarantee, remaining)
            fields: tuple[str, ...] = ()
            if guarantee is not None:
                fields = ("amc_cents",) if remaining is None else (
                    "amc_cents", "allowance_remaining_cents")
            self._recorder.record(conn, [Disclosure(
                event=DisclosureEvent.CALCULATION, occurred_at=now, requester=requester,
                person_id=stored.beneficiary_id if fields else None, fields=fields,
                reference=reference)])
        return CalculationAnswer(
            reference=reference, billed_cents=split.billed_cents, amo_cents=split.amo_cents,
            amc_cents=split.amc_cents, patient_cents=split.patient_cents,
            allowance_remaining_cents=split.allowance_remaining_cents)

    def list_checks(self, *, requester: Requester, limit: int,
                    after: str | None = None) -> Page[CheckSummary]:
        """The organisation's own checks, newest first."""
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        with self._engine.connect() as conn:
            rows = check_store.list_own_checks(
                conn, organisation_id=requester.organisation_id, limit=limit + 1, after=after)
        items = [CheckSummary(reference=r[0], category=CareCategory(r[1]), care_date=r[2],
                              covered=r[3], checked_at=as_utc(r[4])) for r in rows[:limit]]
        next_cursor = items[-1].reference if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)


def _attempt_key(identity: bytes, member: bytes, birth_rank: int) -> str:
    """The details a failed check was tried with, as an opaque key (from blind indexes)."""
    return hashlib.blake2b(identity + member + bytes((birth_rank,)), digest_size=8).hexdigest()


def _view(guarantee: GuaranteeRow, used_cents: int) -> GuaranteeView:
    return GuaranteeView(
        kind=guarantee.kind, rate_bp=guarantee.rate_bp, amount_cents=guarantee.amount_cents,
        allowance_period_months=guarantee.period_months if guarantee.has_allowance else None,
        allowance_remaining_cents=remaining_allowance(guarantee, used_cents))
