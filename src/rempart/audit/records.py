"""One audit entry: what it may contain, and its canonical bytes (pure, no I/O).

An entry says who (account, organisation, session, device, client address), when
(microseconds since the Unix epoch, UTC), which person (an internal id, never an
identifier), which fields reached the caller, and a small flat JSON detail. Nothing in
it is personal data in clear, and the detail is checked for the obvious mistakes
(personal field names as keys, long digit runs such as a NIR as values).

The canonical bytes that are hashed are the JSON document below with sorted keys, no
insignificant whitespace, integers only (no floats), strings in UTF-8: the subset on
which RFC 8785 (JCS) and orjson agree, so another implementation can recompute them.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from rempart.audit.errors import InvalidAuditRecord

FORMAT_VERSION = 1
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_MICROSECOND = dt.timedelta(microseconds=1)

EVENT_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")  # e.g. check.answered
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")  # field names and detail keys
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._:~-]{1,64}")  # session and device ids
LONG_DIGITS = re.compile(r"\d{13}")  # a NIR has 13 digits (plus its key)
# An IPv4 address already in its normal form (no leading zeros): ipaddress would give
# the same string back, at ten times the cost of this match.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
NORMAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
MAX_FIELDS = 40
MAX_DETAIL_KEYS = 20
MAX_DETAIL_STRING = 200
MAX_DETAIL_BYTES = 2048
MAX_ID = 2**63 - 1

# Keys that would only ever carry personal data: refused outright in a detail.
PERSONAL_KEYS = frozenset({
    "nir", "ssn", "name", "names", "first_name", "last_name", "birth_name", "usual_name",
    "given_name", "family_name", "birth_date", "date_of_birth", "dob", "birth_rank",
    "address", "street", "postcode", "city", "email", "phone", "member_number",
    "contract_number", "marital_status", "identity",
})

DetailValue = str | int | bool | None


class AuditRecord(NamedTuple):
    """A validated entry, not yet placed in the chain; immutable, built by `create`.

    A named tuple rather than a frozen dataclass: one is built for every check, on the
    check's path, and a frozen dataclass pays a `object.__setattr__` per field.
    """

    event: str
    occurred_at_us: int
    account_id: int | None
    organisation_id: int | None
    session_id: str | None
    device_id: str | None
    client_address: str | None
    subject_id: int | None
    fields: tuple[str, ...]
    detail: Mapping[str, DetailValue]
    detail_json: str  # the detail's canonical JSON, as stored

    @classmethod
    def create(
        cls,
        *,
        event: str,
        occurred_at: dt.datetime,
        account_id: int | None = None,
        organisation_id: int | None = None,
        session_id: str | None = None,
        device_id: str | None = None,
        client_address: str | None = None,
        subject_id: int | None = None,
        fields: Sequence[str] = (),
        detail: Mapping[str, DetailValue] | None = None,
    ) -> AuditRecord:
        """Validate and normalise; raise InvalidAuditRecord naming the field at fault."""
        if not isinstance(event, str) or not _is_event(event):
            raise InvalidAuditRecord("event must look like 'domain.action' in lower case")
        clean_detail, detail_json = _detail(detail or {})
        return cls(
            event=event,
            occurred_at_us=to_micros(occurred_at),
            account_id=_internal_id("account_id", account_id),
            organisation_id=_internal_id("organisation_id", organisation_id),
            session_id=_token("session_id", session_id),
            device_id=_token("device_id", device_id),
            client_address=_address(client_address),
            subject_id=_internal_id("subject_id", subject_id),
            fields=_fields(fields),
            detail=MappingProxyType(clean_detail), detail_json=detail_json,
        )

    @property
    def fields_text(self) -> str:
        return ",".join(self.fields)

    def canonical_bytes(self, position: int) -> bytes:
        """`entry_bytes` of this record, made without sorting again (written for every
        check): the keys in their sorted order, the detail as its canonical JSON already
        made for storage. tests/test_audit_records.py holds the two equal."""
        return orjson.dumps({
            "account_id": self.account_id, "client_address": self.client_address,
            "detail": orjson.Fragment(self.detail_json), "device_id": self.device_id,
            "event": self.event, "fields": self.fields, "occurred_at_us": self.occurred_at_us,
            "organisation_id": self.organisation_id, "position": position,
            "session_id": self.session_id, "subject_id": self.subject_id, "v": FORMAT_VERSION,
        })


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def entry_bytes(*, position: Any, event: Any, occurred_at_us: Any, account_id: Any,
                organisation_id: Any, session_id: Any, device_id: Any, client_address: Any,
                subject_id: Any, fields: Any, detail: Any) -> bytes:
    """The canonical bytes of an entry at a position (values as stored, unchecked)."""
    return canonical_json({
        "v": FORMAT_VERSION,
        "position": position,
        "event": event,
        "occurred_at_us": occurred_at_us,
        "account_id": account_id,
        "organisation_id": organisation_id,
        "session_id": session_id,
        "device_id": device_id,
        "client_address": client_address,
        "subject_id": subject_id,
        "fields": fields,
        "detail": detail,
    })


def to_micros(moment: dt.datetime) -> int:
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise InvalidAuditRecord("occurred_at must be a timezone-aware datetime")
    return (moment - EPOCH) // ONE_MICROSECOND  # exact: integer timedelta arithmetic


def from_micros(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


def _internal_id(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidAuditRecord(f"{name} must be a positive integer id")
    return value


def _token(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not TOKEN_PATTERN.fullmatch(value):
        raise InvalidAuditRecord(f"{name} must be 1 to 64 characters from [A-Za-z0-9._:~-]")
    return value


def _address(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAuditRecord("client_address must be an IPv4 or IPv6 address")
    return _normal_address(value)


@functools.lru_cache(maxsize=4096)  # a session keeps its address: parse it once
def _normal_address(value: str) -> str:
    if NORMAL_IPV4.fullmatch(value):
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidAuditRecord("client_address must be an IPv4 or IPv6 address") from None


# The validations below are cached: every entry of a kind repeats the same event, field
# names and detail keys, and entries are written on the check's commit path.
@functools.lru_cache(maxsize=256)
def _is_event(event: str) -> bool:
    return EVENT_PATTERN.fullmatch(event) is not None and len(event) <= 64


@functools.lru_cache(maxsize=1024)
def _is_name(value: str) -> bool:
    return NAME_PATTERN.fullmatch(value) is not None


def _fields(values: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise InvalidAuditRecord("fields must be a list of field names, not one string")
    try:
        key = tuple(values)
        hash(key)
    except TypeError:  # not iterable, or unhashable names: validate without the cache
        return _sorted_fields.__wrapped__(values)
    return _sorted_fields(key)


@functools.lru_cache(maxsize=1024)
def _sorted_fields(values: Sequence[str]) -> tuple[str, ...]:
    names = set()
    for value in values:
        if not isinstance(value, str) or not _is_name(value):
            raise InvalidAuditRecord("fields: each name must match [a-z][a-z0-9_]{0,39}")
        names.add(value)
    if len(names) > MAX_FIELDS:
        raise InvalidAuditRecord(f"fields: at most {MAX_FIELDS} names")
    return tuple(sorted(names))


def _detail(detail: Mapping[str, DetailValue]) -> tuple[dict[str, DetailValue], str]:
    if type(detail) is not dict and not isinstance(detail, Mapping):  # dict: the usual, quick
        raise InvalidAuditRecord("detail must be a flat mapping")
    if len(detail) > MAX_DETAIL_KEYS:
        raise InvalidAuditRecord(f"detail: at most {MAX_DETAIL_KEYS} keys")
    _check_detail_keys(tuple(detail))
    clean = {key: _detail_value(key, value) for key, value in detail.items()}
    encoded = canonical_json(clean)
    if len(encoded) > MAX_DETAIL_BYTES:
        raise InvalidAuditRecord(f"detail: more than {MAX_DETAIL_BYTES} bytes once encoded")
    return clean, encoded.decode("utf-8")


@functools.lru_cache(maxsize=256)  # entries of a kind repeat the same keys
def _check_detail_keys(keys: tuple[object, ...]) -> None:
    for key in keys:
        if not isinstance(key, str) or not _is_name(key):
            raise InvalidAuditRecord("detail: each key must match [a-z][a-z0-9_]{0,39}")
        if key in PERSONAL_KEYS:
            raise InvalidAuditRecord(f"detail key '{key}' would carry personal data")


def _detail_value(key: str, value: object) -> DetailValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -MAX_ID <= value <= MAX_ID:
            raise InvalidAuditRecord(f"detail value for key '{key}' is out of the 64-bit range")
        return value
    if isinstance(value, str):
        if len(value) > MAX_DETAIL_STRING:
            raise InvalidAuditRecord(f"detail value for key '{key}' is longer than "
                                     f"{MAX_DETAIL_STRING} characters")
        if len(value) >= 13 and LONG_DIGITS.search(value):
            raise InvalidAuditRecord(f"detail value for key '{key}' holds a run of 13 or more "
                                     "digits, which could be an identifier")
        return value
    raise InvalidAuditRecord(f"detail value for key '{key}' must be a string, an integer, "
                             "a boolean or null")
