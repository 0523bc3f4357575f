"""Audit records: what an entry may hold, its canonical bytes, and what it refuses."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.audit import AuditRecord, InvalidAuditRecord
from rempart.audit.records import entry_bytes, from_micros, to_micros

WHEN = dt.datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
NIR = "2850775123456"  # shaped like a NIR: 13 digits


def _record(**changes: object) -> AuditRecord:
    values: dict[str, object] = {
        "event": "check.answered", "occurred_at": WHEN, "account_id": 12,
        "organisation_id": 3, "session_id": "sess-1", "device_id": "dev:9",
        "client_address": "2001:db8::1", "subject_id": 42,
        "fields": ["coverage", "guarantee"], "detail": {"outcome": "covered", "n": 1},
    }
    values.update(changes)
    return AuditRecord.create(**values)  # type: ignore[arg-type]


def test_canonical_bytes_are_sorted_compact_json_with_the_position() -> None:
    data = _record().canonical_bytes(7)
    doc = orjson.loads(data)
    assert doc["position"] == 7
    assert doc["occurred_at_us"] == to_micros(WHEN)
    assert doc["fields"] == ["coverage", "guarantee"]
    assert list(doc) == sorted(doc)
    assert b" " not in data


def test_canonical_bytes_are_exactly_the_documented_format() -> None:
    # Pinned: entries already in a log must keep hashing to what was stored.
    assert _record().canonical_bytes(7) == (
        b'{"account_id":12,"client_address":"2001:db8::1","detail":{"n":1,"outcome":"covered"},'
        b'"device_id":"dev:9","event":"check.answered","fields":["coverage","guarantee"],'
        b'"occurred_at_us":1772353815123456,"organisation_id":3,"position":7,'
        b'"session_id":"sess-1","subject_id":42,"v":1}')


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
                       st.one_of(st.none(), st.booleans(), st.integers(-2**63 + 1, 2**63 - 1),
                                 st.text(max_size=12)), max_size=6),
       st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
                    timezones=st.just(dt.UTC)),
       st.integers(1, 2**40))
def test_written_bytes_are_what_verify_recomputes_from_the_stored_columns(
        detail: dict[str, object], when: dt.datetime, position: int) -> None:
    record = _record(detail=detail, occurred_at=when)
    stored = entry_bytes(
        position=position, event=record.event, occurred_at_us=record.occurred_at_us,
        account_id=record.account_id, organisation_id=record.organisation_id,
        session_id=record.session_id, device_id=record.device_id,
        client_address=record.client_address, subject_id=record.subject_id,
        fields=record.fields_text.split(","), detail=orjson.loads(record.detail_json))
    assert record.canonical_bytes(position) == stored
    assert from_micros(record.occurred_at_us) == when


@given(st.ip_addresses(v=4))
def test_ipv4_addresses_are_kept_in_their_normal_form(address: object) -> None:
    assert _record(client_address=str(address)).client_address == str(address)


@pytest.mark.parametrize("address", ["10.01.2.3", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1.2.3.4 ",
                                     "\u0661.2.3.4"])
def test_ipv4_lookalikes_are_refused(address: str) -> None:
    with pytest.raises(InvalidAuditRecord, match="client_address"):
        _record(client_address=address.encode().decode("unicode_escape"))


def test_the_same_entry_at_another_position_hashes_differently() -> None:
    assert _record().canonical_bytes(1) != _record().canonical_bytes(2)


@given(st.permutations(["coverage", "guarantee", "third_party", "tier"]),
       st.permutations([("a", 1), ("b", "x"), ("c", True), ("d", None)]))
def test_canonical_bytes_ignore_the_order_things_were_given_in(
        fields: list[str], detail: list[tuple[str, object]]) -> None:
    reference = _record(fields=sorted(fields), detail=dict(sorted(detail)))
    shuffled = _record(fields=fields, detail=dict(detail))
    assert shuffled.canonical_bytes(5) == reference.canonical_bytes(5)


def test_time_is_kept_to_the_microsecond_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    record = _record(occurred_at=WHEN.astimezone(paris))
    assert from_micros(record.occurred_at_us) == WHEN


def test_addresses_are_normalised() -> None:
    assert _record(client_address="2001:0db8:0000::0001").client_address == "2001:db8::1"


@pytest.mark.parametrize(("changes", "names"), [
    ({"event": "Check Answered"}, "event"),
    ({"occurred_at": dt.datetime(2026, 3, 1)}, "occurred_at"),  # naive
    ({"account_id": -1}, "account_id"),
    ({"subject_id": True}, "subject_id"),
    ({"session_id": "has space"}, "session_id"),
    ({"client_address": "not-an-ip"}, "client_address"),
    ({"fields": "coverage"}, "fields"),
    ({"fields": ["Coverage"]}, "fields"),
    ({"fields": ["nir,name"]}, "fields"),
    ({"detail": {"nir": "x"}}, "nir"),
    ({"detail": {"last_name": "x"}}, "last_name"),
    ({"detail": {"ref": NIR}}, "ref"),
    ({"detail": {"ref": f"card {NIR}12"}}, "ref"),
    ({"detail": {"amount": 1.5}}, "amount"),
    ({"detail": {"nested": {"a": 1}}}, "nested"),
    ({"detail": {"big": 2**64}}, "big"),
    ({"detail": {"long": "x" * 201}}, "long"),
    ({"detail": {f"k{i}": i for i in range(21)}}, "detail"),
])
def test_bad_entries_are_refused_naming_the_field_never_the_value(
        changes: dict[str, object], names: str) -> None:
    with pytest.raises(InvalidAuditRecord) as caught:
        _record(**changes)
    message = str(caught.value)
    assert names in message
    assert NIR not in message
    assert "has space" not in message
    assert "not-an-ip" not in message
