"""Rows as text, in COLUMNS order: flags are 1/0, dates ISO, absent values empty.

Values never hold the `;` separator or a line break (the tables are checked when loaded,
everything else is generated), so fields are joined without quoting.
"""

from __future__ import annotations

import datetime as dt

from rempart.ingest.formats import MemberOp
from rempart.synth.contracts import Contract
from rempart.synth.days import Days
from rempart.synth.guarantees import GuaranteeRow
from rempart.synth.households import Household
from rempart.synth.insurers import InsurerProfile
from rempart.synth.providers import OrganisationRow, ProfessionalRow

UPSERT = MemberOp.UPSERT.value
_SMALL = tuple(str(i) for i in range(100))
_TWO = tuple(f"{i:02d}" for i in range(100))


def flag(value: bool) -> str:
    return "1" if value else "0"


def optional(value: int | str | dt.date | None) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def insurer_line(profile: InsurerProfile) -> str:
    return f"{profile.amc_number};{profile.name}\n"


def guarantee_line(row: GuaranteeRow) -> str:
    level = row.level
    return (f"{row.amc_number};{row.tier.value};{row.category.value};{level.kind.value};"
            f"{optional(level.rate_bp)};{optional(level.amount_cents)};"
            f"{optional(level.allowance_cents)};{optional(level.period_months)};"
            f"{flag(row.third_party)};{row.valid_from.isoformat()};{optional(row.valid_to)}\n")


def organisation_line(row: OrganisationRow) -> str:
    return (f"{row.siret};{optional(row.finess)};{row.name};{row.profession.value};"
            f"{row.postcode};{row.departement}\n")


def professional_line(row: ProfessionalRow) -> str:
    return f"{row.rpps};{row.siret};{row.profession.value}\n"


def household_lines(household: Household, contract: Contract, days: Days) -> str:
    """One members row per member of the household, all on the household's contract."""
    iso = days.iso
    number = contract.number
    end = "" if contract.end is None else iso[contract.end]
    paid = "1" if contract.third_party else "0"
    head = (f"{UPSERT};{contract.profile.amc_number};{number};{contract.tier};"
            f"{iso[contract.start]};{end};{paid};")
    tail = f";{household.postcode};{household.home.code}\n"
    return "".join([
        f"{head}{number}{_TWO[m.rank]};{_SMALL[m.rank]};{m.nir};{iso[m.born]};"
        f"{_SMALL[m.birth_rank]};{m.last_name};{m.first_name};{m.marital}{tail}"
        for m in household.members
    ])
