"""French identifiers used by rempart, validated through python-stdnum.

NIR (social security number, with its two-digit key), SIREN/SIRET, RPPS (11 digits
with a Luhn key) and FINESS (9 characters, Luhn key where the département is numeric).
python-stdnum checks formats and keys; this module adds the few domain rules it
leaves out (sex digit, month range, consistency with the date of birth) and the
builders that the synthetic population uses.
"""

from __future__ import annotations

import datetime as dt
import re

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from rempart.core.errors import InvalidIdentifier

# 1/2: born in France or registered; 3/4: temporary numbers; 7/8: temporary (NIA).
_NIR_SEX_DIGITS = frozenset("123478")
_FINESS_RE = re.compile(r"^(?:\d{2}|2A|2B)\d{7}$")
_RPPS_RE = re.compile(r"^\d{11}$")
# Already compact (as in insurer files): stdnum's clean-up step is most of its cost.
_COMPACT_NIR_RE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}")  # ASCII digits only


# A compact NIR (Corsica as 2A/2B) whose sex digit and month pass the checks below, as a regular
# expression for bulk validation (the key is still checked by nir_key_ok). Group
# `nir_yy` is the birth year; `nir_mm` the month when it is a real one (01-12), unset
# for the unknown or fictitious months; BIRTH_DATE_AGREEING_PATTERN refers to both.
NIR_QUICK_PATTERN = ("[" + "".join(sorted(_NIR_SEX_DIGITS)) + "](?P<nir_yy>[0-9]{2})"
                     "(?:(?P<nir_mm>0[1-9]|1[0-2])|[23][0-9]|4[0-2]|[5-9][0-9])"
                     "(?:[0-9]{2}|2A|2B)[0-9]{8}")
# A YYYY-MM-DD date (not checked against the calendar) that nir_matches_birth_date
# accepts for the NIR matched before it by NIR_QUICK_PATTERN.
BIRTH_DATE_AGREEING_PATTERN = "[0-9]{2}(?P=nir_yy)-(?(nir_mm)(?P=nir_mm)|[0-9]{2})-[0-9]{2}"


def nir_key_ok(compact: str) -> bool:
    """Whether a compact 15-character NIR's last two digits are its key (python-stdnum)."""
    return bool(stdnum_nir.calc_check_digits(compact) == compact[13:])


def _nir_month_ok(month: str) -> bool:
    # INSEE allows 20-42 and 50-99 for unknown or fictitious months.
    value = int(month)
    return 1 <= value <= 12 or 20 <= value <= 42 or 50 <= value <= 99


def validate_nir(value: str) -> str:
    """Return the compact 15-character NIR (13 characters and the key) or raise."""
    if _COMPACT_NIR_RE.fullmatch(value):
        # The same checks as stdnum_nir.validate once compacted, the key by stdnum itself.
        number = value
        if not nir_key_ok(number):
            raise InvalidIdentifier("NIR", "bad check digits")
    else:
        try:
            number = stdnum_nir.validate(value)
        except ValidationError as exc:
            raise InvalidIdentifier("NIR", _reason(exc)) from None
    if number[0] not in _NIR_SEX_DIGITS:
        raise InvalidIdentifier("NIR", "first digit is not a valid sex code")
    if not _nir_month_ok(number[3:5]):
        raise InvalidIdentifier("NIR", "month of birth out of range")
    return number


def nir_matches_birth_date(nir: str, birth_date: dt.date) -> bool:
    """True when the NIR's year (and month, when known) agree with the date of birth."""
    if int(nir[1:3]) != birth_date.year % 100:
        return False
    month = int(nir[3:5])
    return not (1 <= month <= 12) or month == birth_date.month


def build_nir(*, sex: int, birth_year: int, birth_month: int, place: str, serial: int) -> str:
    """Build a valid NIR from its parts; `place` is 5 characters (département + commune)."""
    if sex not in (1, 2):
        raise ValueError("sex must be 1 or 2")
    if len(place) != 5:
        raise ValueError("place must be 5 characters")
    if not 1 <= serial <= 999:
        raise ValueError("serial must be within 1..999")
    body = f"{sex}{birth_year % 100:02d}{birth_month:02d}{place}{serial:03d}"
    return body + stdnum_nir.calc_check_digits(body)


def validate_siren(value: str) -> str:
    try:
        return str(stdnum_siren.validate(value))
    except ValidationError as exc:
        raise InvalidIdentifier("SIREN", _reason(exc)) from None


def validate_siret(value: str) -> str:
    try:
        return str(stdnum_siret.validate(value))
    except ValidationError as exc:
        raise InvalidIdentifier("SIRET", _reason(exc)) from None


# La Poste's establishments (all but its head office) carry a SIRET whose digits sum to
# a multiple of 5 instead of a Luhn key: the rule python-stdnum applies.
_LA_POSTE_SIREN = "356000000"
_LA_POSTE_HEAD_OFFICE = "35600000000048"


def build_siret(*, siren_body: int, establishment: int) -> str:
    """A valid SIRET from an 8-digit SIREN body and a 4-digit establishment number."""
    siren = f"{siren_body:08d}"
    siren += luhn.calc_check_digit(siren)
    body = f"{siren}{establishment:04d}"
    if siren == _LA_POSTE_SIREN and body != _LA_POSTE_HEAD_OFFICE[:-1]:
        return body + str(-sum(map(int, body)) % 5)
    return body + luhn.calc_check_digit(body)


def validate_rpps(value: str) -> str:
    number = value.strip().replace(" ", "")
    if not _RPPS_RE.match(number):
        raise InvalidIdentifier("RPPS", "must be 11 digits")
    if not luhn.is_valid(number):
        raise InvalidIdentifier("RPPS", "bad Luhn key")
    return number


def build_rpps(body: int) -> str:
    """A valid RPPS from a 10-digit body (RPPS numbers start with 1)."""
    digits = f"1{body % 10**9:09d}"
    return digits + luhn.calc_check_digit(digits)


def validate_finess(value: str) -> str:
    """FINESS: 2-character département, 6 digits, one key.

    The key is a Luhn digit over the first eight characters. For Corsica (2A/2B) no
    public rule says how letters enter the key, so only the format is checked there.
    """
    number = value.strip().replace(" ", "").upper()
    if not _FINESS_RE.match(number):
        raise InvalidIdentifier("FINESS", "must be 9 characters: département and 7 digits")
    if number[:2] in ("2A", "2B"):
        return number
    if not luhn.is_valid(number):
        raise InvalidIdentifier("FINESS", "bad Luhn key")
    return number


def build_finess(*, departement: str, body: int) -> str:
    prefix = f"{departement}{body % 10**6:06d}"
    if departement in ("2A", "2B"):
        return prefix + "0"
    return prefix + luhn.calc_check_digit(prefix)


def _reason(exc: ValidationError) -> str:
    return {
        "InvalidLength": "wrong length",
        "InvalidFormat": "wrong format",
        "InvalidChecksum": "bad check digits",
        "InvalidComponent": "invalid component",
    }.get(type(exc).__name__, "invalid")
