"""The small reference files: insurers, guarantees, provider organisations, professionals.

They hold public or business data in clear, and their sizes are bounded by the real
world (a few hundred insurers, about 110,000 organisations), so each file is checked
against the existing rows held in memory and applied with plain inserts and updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from rempart.core.care import CareCategory, GuaranteeKind, Profession
from rempart.core.errors import InvalidIdentifier
from rempart.core.identifiers import validate_finess, validate_rpps, validate_siret
from rempart.ingest import fields as f
from rempart.ingest.errors import FieldError, Problems
from rempart.ingest.formats import FileKind
from rempart.population.models import Guarantee, Insurer
from rempart.providers.models import Organisation, Professional

Row = dict[str, Any]
_MAX_CENTS = 100_000_000  # one million euros: far above any guarantee


@dataclass(frozen=True)
class ReferenceSpec:
    table: Table
    key: tuple[str, ...]  # the natural key, as column names
    parse: Callable[[list[str], Lookups], Row]


class Lookups:
    """Ids of rows that reference files point to, read once per file."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._insurers: dict[str, int] | None = None
        self._organisations: dict[str, int] | None = None

    def insurer_id(self, amc: str) -> int:
        if self._insurers is None:
            self._insurers = dict(self._conn.execute(select(Insurer.amc_number, Insurer.id)).all())
        try:
            return self._insurers[amc]
        except KeyError:
            raise FieldError("amc_number", "unknown insurer (not in an insurers file)") from None

    def organisation_id(self, siret: str) -> int:
        if self._organisations is None:
            self._organisations = dict(
                self._conn.execute(select(Organisation.siret, Organisation.id)).all())
        try:
            return self._organisations[siret]
        except KeyError:
            raise FieldError("siret", "unknown organisation (not in an organisations file)"
                             ) from None


def _identifier(name: str, raw: str, validate: Callable[[str], str]) -> str:
    try:
        return validate(f.required(name, raw))
    except InvalidIdentifier as exc:
        raise FieldError(name, exc.reason) from None


def _insurer(values: list[str], _lookups: Lookups) -> Row:
    amc, name = values
    return {"amc_number": f.amc_number("amc_number", amc), "name": f.text("name", name,
                                                                            max_length=200)}


def _guarantee(values: list[str], lookups: Lookups) -> Row:
    (amc, tier, category, kind, rate, amount, allowance, period, third_party, valid_from,
     valid_to) = values
    row: Row = {
        "insurer_id": lookups.insurer_id(f.amc_number("amc_number", amc)),
        "tier": f.tier("tier", tier),
        "category": f.choice("category", category, CareCategory).value,
        "kind": f.choice("kind", kind, GuaranteeKind).value,
        "rate_bp": f.optional_integer("rate_bp", rate, low=0, high=100_000),
        "amount_cents": f.optional_integer("amount_cents", amount, low=0, high=_MAX_CENTS),
        "allowance_cents": f.optional_integer("allowance_cents", allowance, low=0,
                                              high=_MAX_CENTS),
        "period_months": f.optional_integer("period_months", period, low=1, high=120),
        "third_party": f.flag("third_party", third_party),
        "valid_from": f.date("valid_from", valid_from),
        "valid_to": f.optional_date("valid_to", valid_to),
    }
    if row["kind"] == GuaranteeKind.BASE_SHARE and row["rate_bp"] is None:
        raise FieldError("rate_bp", "is required for a base_share guarantee")
    if row["kind"] != GuaranteeKind.BASE_SHARE and row["amount_cents"] is None:
        raise FieldError("amount_cents", "is required for a flat or ceiling guarantee")
    if (row["allowance_cents"] is None) != (row["period_months"] is None):
        raise FieldError("period_months", "allowance_cents and period_months go together")
    if row["valid_to"] is not None and row["valid_to"] < row["valid_from"]:
        raise FieldError("valid_to", "is before valid_from")
    return row


def _organisation(values: list[str], _lookups: Lookups) -> Row:
    siret, finess, name, profession, postcode, departement = values
    return {
        "siret": _identifier("siret", siret, validate_siret),
        "finess": _identifier("finess", finess, validate_finess) if finess else None,
        "name": f.text("name", name, max_length=200),
        "profession": f.choice("profession", profession, Profession).value,
        "postcode": f.postcode("postcode", postcode),
        "departement": f.departement("departement", departement),
    }


def _professional(values: list[str], lookups: Lookups) -> Row:
    rpps, siret, profession = values
    return {
        "rpps": _identifier("rpps", rpps, validate_rpps),
        "organisation_id": lookups.organisation_id(_identifier("siret", siret, validate_siret)),
        "profession": f.choice("profession", profession, Profession).value,
    }


SPECS: dict[FileKind, ReferenceSpec] = {
    FileKind.INSURERS: ReferenceSpec(Insurer.__table__, ("amc_number",), _insurer),  # type: ignore[arg-type]
    FileKind.GUARANTEES: ReferenceSpec(
        Guarantee.__table__, ("insurer_id", "tier", "category", "valid_from"), _guarantee),  # type: ignore[arg-type]
    FileKind.ORGANISATIONS: ReferenceSpec(Organisation.__table__, ("siret",), _organisation),  # type: ignore[arg-type]
    FileKind.PROFESSIONALS: ReferenceSpec(Professional.__table__, ("rpps",), _professional),  # type: ignore[arg-type]
}
_UNIQUE_EXTRA = {FileKind.ORGANISATIONS: ("finess",)}  # other unique columns to check


@dataclass
class ReferenceOutcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def apply_reference_file(conn: Connection, kind: FileKind,
                         rows: Iterable[tuple[int, list[str]]], problems: Problems,
                         on_rows: Callable[[int], None]) -> ReferenceOutcome:
    """Validate every row, then insert new rows and update changed ones (if no problem)."""
    spec = SPECS[kind]
    lookups = Lookups(conn)
    columns = [c.name for c in spec.table.columns if c.name != "id"]
    existing = {
        tuple(r[k] for k in spec.key): r
        for r in (row._asdict() for row in conn.execute(select(spec.table)))
    }
    seen: dict[tuple[Any, ...], int] = {}
    extra_seen: dict[str, dict[Any, int]] = {c: {} for c in _UNIQUE_EXTRA.get(kind, ())}
    extra_owner = {c: {r[c]: k for k, r in existing.items() if r[c] is not None}
                   for c in extra_seen}
    inserts: list[Row] = []
    updates: list[Row] = []
    outcome = ReferenceOutcome()
    for line, values in rows:
        on_rows(1)
        try:
            row = spec.parse(values, lookups)
        except FieldError as exc:
            problems.add(line, exc.field, exc.reason)
            continue
        key = tuple(row[k] for k in spec.key)
        if key in seen:
            problems.add(line, spec.key[-1], f"duplicate of line {seen[key]} in this file")
            continue
        seen[key] = line
        if _duplicate_extra(row, key, line, extra_seen, extra_owner, problems):
            continue
        old = existing.get(key)
        if old is None:
            inserts.append(row)
        elif any(old[c] != row[c] for c in columns):
            updates.append({"b_id": old["id"], **{f"v_{c}": row[c] for c in columns}})
        else:
            outcome.unchanged += 1
    if problems:
        return outcome
    if inserts:
        conn.execute(insert(spec.table), inserts)
    if updates:
        stmt = update(spec.table).where(spec.table.c.id == bindparam("b_id"))
        conn.execute(stmt.values({c: bindparam(f"v_{c}") for c in columns}), updates)
    outcome.inserted, outcome.updated = len(inserts), len(updates)
    return outcome


def _duplicate_extra(row: Row, key: tuple[Any, ...], line: int,
                     extra_seen: dict[str, dict[Any, int]],
                     extra_owner: dict[str, dict[Any, tuple[Any, ...]]],
                     problems: Problems) -> bool:
    """A second unique column (an organisation's FINESS) must not repeat either."""
    for column, seen in extra_seen.items():
        value = row[column]
        if value is None:
            continue
        if value in seen:
            problems.add(line, column, f"duplicate of line {seen[value]} in this file")
            return True
        owner = extra_owner[column].get(value)
        if owner is not None and owner != key:
            problems.add(line, column, "already belongs to another stored row")
            return True
        seen[value] = line
    return False
