"""Migration 0008f on a database that already holds a population (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import alembic_config, upgrade

NOW = "2026-03-02 09:00:00"


def _populate(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO insurers (id, amc_number, name) VALUES "
                          "(1, '999000001', 'A'), (2, '999000002', 'B')"))
        conn.execute(text(
            "INSERT INTO contracts (id, insurer_id, number_idx, key_version, sealed, "
            "content_mac, tier, start_date, end_date, third_party, updated_at) VALUES "
            "(1, 1, :idx, 1, :blob, :mac, 'T', '2021-01-01', NULL, true, :now)"),
            {"idx": b"\x01" * 16, "blob": b"\x02" * 40, "mac": b"\x03" * 16, "now": NOW})
        conn.execute(text(
            "INSERT INTO beneficiaries (id, insurer_id, contract_id, rank, member_idx, "
            "identity_idx, key_version, sealed, content_mac, updated_at) VALUES "
            "(1, 1, 1, 1, :idx, :identity, 1, :blob, :mac, :now)"),
            {"idx": b"\x04" * 16, "identity": b"\x05" * 16, "blob": b"\x06" * 40,
             "mac": b"\x07" * 16, "now": NOW})


def test_the_beneficiary_key_migration_keeps_rows_and_refuses_another_insurer(
        settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        command.upgrade(alembic_config(engine), "0007w")
        _populate(engine)
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM beneficiaries")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM contracts")).scalar_one() == 1
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE beneficiaries SET insurer_id = 2 WHERE id = 1"))
    finally:
        engine.dispose()
