"""Tampering with the audit tables, as a database administrator could, and seeing it caught.

Each case alters a COPY of the SQLite file (the original still verifies) or, on
PostgreSQL, the test database itself, then checks that verification fails and names the
right first bad position. The log: 35 entries, checkpoints over 1-10, 11-20, 21-30,
entries 31-35 not yet checkpointed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from audit_support import AuditBed, make_bed, tamper
from rempart.audit import AuditRecord, Checkpoint, SigningKey, TrustedKeys, Verifier
from rempart.audit.hashing import chain_hash, leaf_hash, merkle_root
from rempart.audit.store import iter_entries
from rempart.runtime import Runtime
from rempart.settings import Settings
from settings_support import sqlite_settings

POSTGRES_URL = os.environ.get("REMPART_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
SNAPSHOT = ("audit_entries", "audit_head", "audit_checkpoints", "audit_archives")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def pristine(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditBed]:
    """One log per backend for the whole module (building one per case costs seconds on
    PostgreSQL); each case starts from it unchanged, see `bed`."""
    data_dir = tmp_path_factory.mktemp("tamper") / "instance"
    settings = sqlite_settings(data_dir)
    database = None
    if request.param == "postgres":
        database = f"rempart_t_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as admin:
                admin.execute(f'CREATE DATABASE "{database}"')
        except psycopg.OperationalError as exc:
            if os.environ.get("REMPART_REQUIRE_SERVICES") == "1":
                pytest.fail(f"PostgreSQL unavailable: {exc}")
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        url = POSTGRES_URL.rpartition("/")[0] + f"/{database}"
        settings = Settings.load(data_dir=data_dir, database_url=url,
                                 key_file=settings.key_file)
    runtime = Runtime.open(settings, create_keys=True)
    bed = make_bed(runtime)
    try:
        bed.fill(30)
        assert [(c.first, c.last) for c in bed.checkpoint()] == [(1, 10), (11, 20), (21, 30)]
        bed.fill(5)
        if database:
            with bed.engine.begin() as conn:
                for table in SNAPSHOT:
                    conn.execute(text(f"CREATE TABLE pristine_{table} AS "  # noqa: S608 (constant names)
                                      f"SELECT * FROM {table}"))
        yield bed
    finally:
        bed.log.close()
        runtime.close()
        if database:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def bed(pristine: AuditBed) -> AuditBed:
    """On PostgreSQL the cases alter the test database itself: put it back first."""
    if pristine.engine.dialect.name == "postgresql":
        with pristine.engine.begin() as conn:
            for table in SNAPSHOT:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (constant names)
                conn.execute(text(f"INSERT INTO {table} "  # noqa: S608 (constant names)
                                  f"SELECT * FROM pristine_{table}"))
    return pristine


def _caught(bed: AuditBed, engine: Engine, position: int, words: str) -> None:
    report = bed.verify(engine)
    assert not report.ok
    assert report.first_bad_position == position, report.problems
    messages = [p.message for p in report.problems if p.position == position]
    assert any(words in message for message in messages), messages
    if engine is not bed.engine:  # SQLite: the copy was altered, the original was not
        assert bed.verify().ok


def _recompute_chain(engine: Engine, start: int) -> None:
    """What a careful attacker does after an edit: rehash every later entry and the head."""
    with engine.begin() as conn:
        prev = conn.execute(text("SELECT entry_hash FROM audit_entries WHERE position = :p"),
                            {"p": start - 1}).scalar_one()
        rows = list(iter_entries(conn, after=start - 1, through=10**9))
        for entry in rows:
            new_hash = chain_hash(prev, entry.leaf())
            conn.execute(text("UPDATE audit_entries SET prev_hash = :prev, entry_hash = :h "
                              "WHERE position = :p"),
                         {"prev": prev, "h": new_hash, "p": entry.position})
            prev = new_hash
        conn.execute(text("UPDATE audit_head SET entry_hash = :h"), {"h": prev})


def _forged_row(bed: AuditBed, position: int, prev_hash: bytes) -> dict[str, Any]:
    record = AuditRecord.create(event="check.answered", occurred_at=bed.clock.now(),
                                account_id=1, subject_id=999, fields=["coverage"])
    entry_hash = chain_hash(prev_hash, leaf_hash(record.canonical_bytes(position)))
    return {"p": position, "event": record.event, "at": record.occurred_at_us,
            "account": record.account_id, "subject": record.subject_id,
            "fields": record.fields_text, "detail": record.detail_json, "prev": prev_hash,
            "h": entry_hash}


INSERT = ("INSERT INTO audit_entries (position, event, occurred_at_us, account_id, subject_id, "
          "fields, detail, prev_hash, entry_hash) "
          "VALUES (:p, :event, :at, :account, :subject, :fields, :detail, :prev, :h)")


def test_the_untouched_log_verifies(bed: AuditBed) -> None:
    report = bed.verify()
    assert report.ok, report.summary()
    assert (report.entries_checked, report.checkpoints_checked) == (35, 3)


@pytest.mark.parametrize(("sql", "params", "words"), [
    ("UPDATE audit_entries SET subject_id = 4242 WHERE position = 17", {},
     "does not match its hash"),
    ("UPDATE audit_entries SET fields = 'coverage,nir' WHERE position = 17", {}, "does not match"),
    ("UPDATE audit_entries SET occurred_at_us = occurred_at_us + 1 WHERE position = 17", {},
     "does not match"),
    ("UPDATE audit_entries SET client_address = NULL WHERE position = 17", {}, "does not match"),
    # The same detail, only not in canonical form: still a change to the stored row.
    ("UPDATE audit_entries SET detail = :d WHERE position = 17",
     {"d": '{"outcome": "covered", "n": 17}'}, "malformed"),
    ("UPDATE audit_entries SET detail = 'not json' WHERE position = 17", {}, "malformed"),
])
def test_a_changed_row_is_caught_at_its_position(bed: AuditBed, sql: str,
                                                 params: dict[str, Any], words: str) -> None:
    _caught(bed, tamper(bed, (sql, params)), 17, words)


def test_a_deleted_row_is_caught_at_its_position(bed: AuditBed) -> None:
    engine = tamper(bed, ("DELETE FROM audit_entries WHERE position = 17", {}))
    _caught(bed, engine, 17, "missing")


def test_a_deleted_row_with_the_rest_renumbered_is_caught(bed: AuditBed) -> None:
    engine = tamper(
        bed,
        ("DELETE FROM audit_entries WHERE position = 17", {}),
        ("UPDATE audit_entries SET position = -position WHERE position > 17", {}),
        ("UPDATE audit_entries SET position = -position - 1 WHERE position < 0", {}),
        ("UPDATE audit_head SET position = position - 1", {}),
    )
    _caught(bed, engine, 17, "does not link")


def test_an_inserted_row_with_valid_hashes_is_caught_at_its_position(bed: AuditBed) -> None:
    forged = _forged_row(bed, 17, bed.row(16)["entry_hash"])
    engine = tamper(
        bed,
        ("UPDATE audit_entries SET position = -position WHERE position >= 17", {}),
        ("UPDATE audit_entries SET position = -position + 1 WHERE position < 0", {}),
        (INSERT, forged),
        ("UPDATE audit_head SET position = position + 1", {}),
    )
    _caught(bed, engine, 17, "out of place")


def test_a_row_inserted_past_the_head_is_caught(bed: AuditBed) -> None:
    engine = tamper(bed, (INSERT, _forged_row(bed, 36, bed.row(35)["entry_hash"])))
    _caught(bed, engine, 36, "beyond the head")


def test_reordered_rows_are_caught_at_the_first_of_them(bed: AuditBed) -> None:
    engine = tamper(
        bed,
        ("UPDATE audit_entries SET position = -1 WHERE position = 17", {}),
        ("UPDATE audit_entries SET position = 17 WHERE position = 18", {}),
        ("UPDATE audit_entries SET position = 18 WHERE position = -1", {}),
    )
    _caught(bed, engine, 17, "does not link")


def test_a_rewrite_with_recomputed_hashes_is_caught_by_its_checkpoint(bed: AuditBed) -> None:
    engine = tamper(bed, ("UPDATE audit_entries SET subject_id = 4242 WHERE position = 15", {}))
    _recompute_chain(engine, 15)
    _caught(bed, engine, 11, "do not match signed checkpoint 2")


def test_a_truncated_tail_under_a_checkpoint_is_caught(bed: AuditBed) -> None:
    engine = tamper(
        bed,
        ("DELETE FROM audit_entries WHERE position > 20", {}),
        ("UPDATE audit_head SET position = 20, entry_hash = :h", {"h": bed.row(20)["entry_hash"]}),
    )
    _caught(bed, engine, 21, "checkpoint 3 covers positions up to 30")


def test_an_altered_head_is_caught(bed: AuditBed) -> None:
    engine = tamper(bed, ("UPDATE audit_head SET entry_hash = :h", {"h": bytes(32)}))
    _caught(bed, engine, 35, "head")


def test_a_missing_checkpoint_is_caught(bed: AuditBed) -> None:
    engine = tamper(bed, ("DELETE FROM audit_checkpoints WHERE number = 2", {}))
    _caught(bed, engine, 11, "checkpoint covering positions 11..20 is missing")


def test_a_forged_checkpoint_is_caught(bed: AuditBed) -> None:
    engine = tamper(bed, ("UPDATE audit_checkpoints SET root = :r WHERE number = 2",
                          {"r": bytes(32)}))
    _caught(bed, engine, 11, "checkpoint 2 has an invalid signature")


def test_a_checkpoint_re_signed_with_another_key_is_caught(bed: AuditBed) -> None:
    """The attacker rewrites 11..20 and signs a fresh checkpoint with a key of their own."""
    engine = tamper(bed, ("UPDATE audit_entries SET subject_id = 4242 WHERE position = 15", {}))
    _recompute_chain(engine, 15)
    with engine.connect() as conn:
        entries = list(iter_entries(conn, after=10, through=20))
    forged = Checkpoint(number=2, first=11, last=20, root=merkle_root([e.leaf() for e in entries]),
                        last_entry_hash=entries[-1].entry_hash,
                        created_at_us=0).signed(SigningKey.generate())
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_checkpoints SET root = :r, last_entry_hash = :h, "
                          "key_id = :k, signature = :s WHERE number = 2"),
                     {"r": forged.root, "h": forged.last_entry_hash, "k": forged.key_id,
                      "s": forged.signature})
    _caught(bed, engine, 11, "signed by an unknown key")


def test_deleting_old_rows_dressed_up_as_an_archive_is_caught(bed: AuditBed) -> None:
    engine = tamper(
        bed,
        ("DELETE FROM audit_entries WHERE position <= 10", {}),
        ("UPDATE audit_head SET archived_through = 10", {}),
    )
    _caught(bed, engine, 1, "archived")


def test_verification_needs_the_right_public_key(bed: AuditBed) -> None:
    other = TrustedKeys([SigningKey.generate().verify_key])
    report = Verifier(engine=bed.engine, trusted_keys=other).verify()
    assert report.first_bad_position == 1
    assert "unknown key" in (report.first_problem.message if report.first_problem else "")
