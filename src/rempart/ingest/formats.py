"""The file formats rempart imports (documented in docs/import-format.md).

Every file is UTF-8 text, `;`-separated, with three framing lines:

    #rempart:<kind>:v1:<mode>        first line: kind and mode (full or delta)
    <column names, in the order below>
    ... data rows ...
    #end:<number of data rows>       last line: a truncated file has no valid trailer

Kinds are applied in KIND_ORDER, so referenced rows exist before the rows that use them.
"""

from __future__ import annotations

import enum


class FileKind(enum.StrEnum):
    INSURERS = "insurers"
    GUARANTEES = "guarantees"
    ORGANISATIONS = "organisations"
    PROFESSIONALS = "professionals"
    MEMBERS = "members"


class FileMode(enum.StrEnum):
    FULL = "full"
    DELTA = "delta"


class MemberOp(enum.StrEnum):
    UPSERT = "upsert"  # add a beneficiary (and its contract) or change it
    TERMINATE = "terminate"  # end a contract on contract_end


FORMAT_VERSION = "v1"
DELIMITER = ";"
HEADER_PREFIX = "#rempart:"
TRAILER_PREFIX = "#end:"

COLUMNS: dict[FileKind, tuple[str, ...]] = {
    FileKind.INSURERS: ("amc_number", "name"),
    FileKind.GUARANTEES: (
        "amc_number", "tier", "category", "kind", "rate_bp", "amount_cents",
        "allowance_cents", "period_months", "third_party", "valid_from", "valid_to",
    ),
    FileKind.ORGANISATIONS: ("siret", "finess", "name", "profession", "postcode", "departement"),
    FileKind.PROFESSIONALS: ("rpps", "siret", "profession"),
    FileKind.MEMBERS: (
        "op", "amc_number", "contract_number", "tier", "contract_start", "contract_end",
        "third_party", "member_number", "rank", "nir", "birth_date", "birth_rank",
        "last_name", "first_name", "marital_status", "postcode", "departement",
    ),
}

KIND_ORDER: tuple[FileKind, ...] = (
    FileKind.INSURERS,
    FileKind.GUARANTEES,
    FileKind.ORGANISATIONS,
    FileKind.PROFESSIONALS,
    FileKind.MEMBERS,
)


def header_line(kind: FileKind, mode: FileMode) -> str:
    return f"{HEADER_PREFIX}{kind.value}:{FORMAT_VERSION}:{mode.value}"


def trailer_line(rows: int) -> str:
    return f"{TRAILER_PREFIX}{rows}"
