"""SQL of the claims: insert, decide, pay, find and list an organisation's own claims."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, exists, insert, select, update

from rempart.coverage.check_store import AnyRow
from rempart.coverage.models import Check, Claim
from rempart.coverage.rules import CONSUMING
from rempart.population.models import Beneficiary

_COLUMNS = (Claim.reference, Check.reference, Claim.status, Claim.reason, Claim.category,
            Claim.care_date, Claim.billed_cents, Claim.base_tariff_cents, Claim.amo_rate_bp,
            Claim.amo_cents, Claim.amc_cents, Claim.patient_cents, Claim.received_at,
            Claim.decided_at, Claim.paid_at, Claim.beneficiary_id)
BENEFICIARY_COLUMN = len(_COLUMNS) - 1  # after the view's columns: the person, for the audit
_SELECT = select(*_COLUMNS).join(Check, Check.id == Claim.check_id)

_LOCK_BENEFICIARY = (select(Beneficiary.id).where(Beneficiary.id == bindparam("id"))
                     .with_for_update())
_ALREADY_CLAIMED = select(exists().where(
    Claim.check_id == bindparam("check_id"),
    Claim.status.in_(CONSUMING),
    Claim.id != bindparam("claim_id"),
))


def insert_claim(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(Claim).values(values).returning(Claim.id)).scalar_one())


def lock_beneficiary(conn: Connection, beneficiary_id: int) -> None:
    """Serialise claims on one person (PostgreSQL row lock; SQLite already has one writer)."""
    conn.execute(_LOCK_BENEFICIARY, {"id": beneficiary_id})


def already_claimed(conn: Connection, *, check_id: int, claim_id: int) -> bool:
    return bool(conn.execute(_ALREADY_CLAIMED,
                             {"check_id": check_id, "claim_id": claim_id}).scalar_one())


def update_claim(conn: Connection, claim_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(Claim).where(Claim.id == claim_id).values(values))


def find_claim(conn: Connection, *, reference: str,
               organisation_id: int | None) -> AnyRow | None:
    """A claim by reference; within one organisation unless organisation_id is None."""
    stmt = _SELECT.where(Claim.reference == reference)
    if organisation_id is not None:
        stmt = stmt.where(Claim.organisation_id == organisation_id)
    return conn.execute(stmt).first()


def claim_id_and_status(conn: Connection, reference: str) -> AnyRow | None:
    return conn.execute(select(Claim.id, Claim.status).where(Claim.reference == reference)
                        .with_for_update()).first()


def list_own_claims(conn: Connection, *, organisation_id: int, limit: int,
                    after: str | None) -> list[AnyRow]:
    """Newest first; `after` is the reference of the last item of the previous page."""
    stmt = (_SELECT.where(Claim.organisation_id == organisation_id)
            .order_by(Claim.id.desc()).limit(limit))
    if after is not None:
        anchor = (select(Claim.id)
                  .where(Claim.reference == after, Claim.organisation_id == organisation_id)
                  .scalar_subquery())
        stmt = stmt.where(Claim.id < anchor)
    return list(conn.execute(stmt).all())
