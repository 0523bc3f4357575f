"""Appending: one gapless chain, group commit, async and in-transaction appends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from audit_support import START, AuditBed, make_bed
from rempart.audit import AuditLogClosed, AuditWriteFailed, InvalidAuditRecord
from rempart.audit.models import AuditEntry, AuditHead
from rempart.audit.records import to_micros
from rempart.runtime import Runtime


@pytest.fixture
def bed(runtime: Runtime) -> Iterator[AuditBed]:
    bed = make_bed(runtime)
    try:
        yield bed
    finally:
        bed.log.close()


def _count(bed: AuditBed) -> int:
    with bed.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def test_entries_take_consecutive_positions_and_the_chain_verifies(bed: AuditBed) -> None:
    receipts = bed.fill(12)
    assert [r.position for r in receipts] == list(range(1, 13))
    assert bed.row(12)["entry_hash"] == receipts[-1].entry_hash
    assert bed.row(7)["prev_hash"] == receipts[5].entry_hash
    with bed.engine.connect() as conn:
        head = conn.execute(select(AuditHead.position, AuditHead.entry_hash)).one()
    assert (head[0], bytes(head[1])) == (12, receipts[-1].entry_hash)
    report = bed.verify()
    assert report.ok, report.summary()
    assert report.entries_checked == 12


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_time_comes_from_the_injected_clock(bed: AuditBed) -> None:
    bed.clock.advance(3600)
    receipt = bed.log.append(event="auth.login", account_id=5)
    assert bed.row(receipt.position)["occurred_at_us"] == to_micros(START) + 3600 * 1_000_000


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_a_bad_entry_writes_nothing(bed: AuditBed) -> None:
    bed.fill(2)
    with pytest.raises(InvalidAuditRecord):
        bed.log.append(event="check.answered", detail={"nir": "x"})
    assert _count(bed) == 2
    assert bed.log.append(event="check.answered").position == 3


def test_concurrent_threads_share_commits_and_keep_one_order(bed: AuditBed) -> None:
    threads, each = 8, 40
    positions: list[int] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        mine = [bed.log.append(event="check.answered", account_id=worker + 1,
                               subject_id=n + 1).position for n in range(each)]
        with lock:
            positions.extend(mine)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert sorted(positions) == list(range(1, threads * each + 1))
    assert bed.log.batches_written < threads * each  # some commits carried several entries
    assert bed.verify().ok


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_async_appends_wait_for_their_commit(bed: AuditBed) -> None:
    async def many() -> list[int]:
        receipts = await asyncio.gather(*(
            bed.log.append_async(event="check.answered", subject_id=n + 1) for n in range(30)))
        return [r.position for r in receipts]

    assert sorted(asyncio.run(many())) == list(range(1, 31))
    assert _count(bed) == 30
    assert bed.verify().ok


def test_in_transaction_appends_commit_and_roll_back_with_the_caller(bed: AuditBed) -> None:
    record = bed.log.record(event="check.answered", subject_id=9, fields=["coverage"])
    with bed.engine.connect() as conn, conn.begin() as transaction:
        bed.log.append_in_transaction(conn, [record])
        transaction.rollback()
    assert _count(bed) == 0
    with bed.engine.begin() as conn:
        receipts = bed.log.append_in_transaction(conn, [record, record])
    assert [r.position for r in receipts] == [1, 2]
    assert bed.log.append(event="check.answered").position == 3
    assert bed.verify().ok


def test_a_failed_write_is_reported_to_the_caller(bed: AuditBed) -> None:
    bed.fill(1)
    with bed.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(AuditWriteFailed):
        bed.log.append(event="check.answered")
    assert _count(bed) == 1


def test_in_transaction_statements_are_seen_and_fail_as_sqlalchemy_errors(bed: AuditBed) -> None:
    """The append runs on the driver's cursor: the engine's listeners must still see its
    statements, and a driver error must surface as SQLAlchemy's, the transaction undone."""
    bed.fill(2)
    record = bed.log.record(event="check.answered", subject_id=9, fields=["covered"])
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(bed.engine, "before_cursor_execute", count)
    try:
        with bed.engine.begin() as conn:
            bed.log.append_in_transaction(conn, [record, record])
    finally:
        event.remove(bed.engine, "before_cursor_execute", count)
    assert seen == ["UPDATE", "INSERT", "UPDATE"]
    with bed.engine.begin() as conn:
        conn.execute(text("CREATE TABLE audit_entries_kept AS SELECT * FROM audit_entries"))
        conn.execute(text("DROP TABLE audit_entries"))
    with pytest.raises(DBAPIError), bed.engine.begin() as conn:
        bed.log.append_in_transaction(conn, [record])
    with bed.engine.connect() as conn:
        assert conn.execute(select(AuditHead.position)).scalar_one() == 4


def test_an_append_first_on_a_connection_commits_with_its_commit(bed: AuditBed) -> None:
    record = bed.log.record(event="check.answered")
    with bed.engine.connect() as conn:
        bed.log.append_in_transaction(conn, [record])
        conn.commit()
    assert _count(bed) == 1
    assert bed.verify().ok


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_a_closed_log_takes_no_more_entries(bed: AuditBed) -> None:
    bed.fill(1)
    bed.log.close()
    with pytest.raises(AuditLogClosed):
        bed.log.append(event="check.answered")
