"""Scope files: JSON and CSV round-trips, and every malformed or cut file refused clearly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rempart.response import (
    FIELD_NAMES,
    InvalidScope,
    OutputNotEmpty,
    Scope,
    ScopedPerson,
    ScopeFileError,
    Selector,
    Window,
    load_scope,
    scope_to_csv,
    scope_to_json,
    write_scope_files,
)
from rempart.response.scope_io import scope_from_csv, scope_from_json
from response_factory import T0, at, person, scope

NIR_LIKE = "1840275123456"  # planted where a value would be echoed by a careless error


@st.composite
def scopes(draw: st.DrawFn) -> Scope:
    hours = st.integers(min_value=0, max_value=47 * 3600)
    ids = draw(st.lists(st.integers(1, 2**40), unique=True, max_size=12))
    persons = []
    for person_id in ids:
        a, b = sorted((draw(hours), draw(hours)))
        persons.append(ScopedPerson(
            person_id=person_id, insurer_amc=draw(st.sampled_from(["100", "2A7", "999999999"])),
            fields_disclosed=frozenset(draw(st.sets(st.sampled_from(sorted(FIELD_NAMES)),
                                                    min_size=1))),
            first_seen=T0 + dt.timedelta(seconds=a, microseconds=draw(st.integers(0, 999))),
            last_seen=T0 + dt.timedelta(seconds=b, microseconds=999),
            disclosures=draw(st.integers(1, 10**6))))
    selector = draw(st.sampled_from([
        Selector(accounts=(5,)), Selector(sessions=("s-1", "s:2")),
        Selector(accounts=(3, 1), addresses=("2001:db8::/32", "198.51.100.7/32")),
    ]))
    return Scope(selector=selector, window=Window(since=T0, until=at(48)),
                 detected_at=at(draw(st.integers(0, 100))), computed_at=at(101),
                 persons=tuple(persons))


@settings(max_examples=50)
@given(scopes())
def test_json_round_trip_keeps_every_fact(s: Scope) -> None:
    back = scope_from_json(scope_to_json(s).decode())
    assert back == s
    assert back.counts == s.counts


@settings(max_examples=50)
@given(scopes())
def test_csv_round_trip_keeps_every_fact(s: Scope) -> None:
    assert scope_from_csv(scope_to_csv(s)) == s


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=50)
@given(scopes(), st.data())
def test_any_truncated_file_is_refused(s: Scope, data: st.DataObject) -> None:
    for text, parse in ((scope_to_json(s).decode(), scope_from_json),
                        (scope_to_csv(s), scope_from_csv)):
        complete = len(text.rstrip())
        cut = data.draw(st.integers(0, complete - 1))
        with pytest.raises(ScopeFileError):
            parse(text[:cut])


def test_counts_are_derived_by_insurer_and_by_field() -> None:
    s = scope(person(1, "111", "nir", "birth_date", disclosures=3),
              person(2, "111", "coverage"), person(3, "222", "nir", disclosures=2))
    assert s.counts.persons == 3
    assert s.counts.disclosures == 6
    assert s.counts.by_insurer == {"111": 2, "222": 1}
    assert s.counts.by_field == {"birth_date": 1, "coverage": 1, "nir": 2}


def test_load_scope_tells_json_from_csv(tmp_path: Path) -> None:
    s = scope(person(7, "111", "nir"))
    written = write_scope_files(s, json_path=tmp_path / "s.json", csv_path=tmp_path / "s.csv")
    assert [load_scope(path) for path in written] == [s, s]
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in written)


# ---- the scope refuses inconsistent content -------------------------------------------

@pytest.mark.parametrize(("build", "where"), [
    (lambda: Window(since=at(5), until=at(5)), "window"),
    (lambda: Window(since=at(5), until=at(1)), "window"),
    (lambda: Window(since=at(0).replace(tzinfo=None), until=at(1)), "window.since"),
    (lambda: Selector(), "selector"),
    (lambda: Selector(addresses=("10.0.0.300/8",)), "selector.addresses[0]"),
    (lambda: Selector(accounts=(0,)), "selector.accounts[0]"),
    (lambda: Selector(sessions=("a b",)), "selector.sessions[0]"),
    (lambda: person(1, "../etc", "nir"), "insurer_amc"),
    (lambda: person(1, "111"), "fields_disclosed"),
    (lambda: person(1, "111", "bank_account"), "fields_disclosed"),
    (lambda: person(1, "111", "nir", first=3, last=2), "last_seen"),
    (lambda: person(1, "111", "nir", disclosures=0), "disclosures"),
    (lambda: person(0, "111", "nir"), "person_id"),
    (lambda: scope(person(1, "111", "nir"), person(1, "222", "nir")), "person id 1"),
    (lambda: scope(person(1, "111", "nir", last=30)), "person id 1"),
])
def test_inconsistent_scope_is_refused_naming_the_field(build: Callable[[], object],
                                                        where: str) -> None:
    with pytest.raises(InvalidScope) as caught:
        build()
    assert caught.value.where == where


# ---- malformed files ---------------------------------------------------------------------

Doc = dict[str, Any]


def _json_doc() -> Doc:
    s = scope(person(1, "111", "nir"), person(2, "222", "coverage"))
    doc: Doc = orjson.loads(scope_to_json(s))
    return doc


def _mutations() -> list[tuple[str, Callable[[Doc], Doc], str]]:
    def set_(path: list[Any], value: object) -> Callable[[Doc], Doc]:
        def apply(doc: Doc) -> Doc:
            target: Any = doc
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            return doc
        return apply

    def drop_person(doc: Doc) -> Doc:
        doc["persons"].pop()
        return doc

    return [
        ("format", set_(["format"], "something-else/1"), "document"),
        ("naive time", set_(["detected_at"], "2024-02-01T10:00:00"), "detected_at"),
        ("bad time", set_(["persons", 0, "first_seen"], NIR_LIKE), "persons[0].first_seen"),
        ("string id", set_(["persons", 0, "person_id"], NIR_LIKE), "persons[0].person_id"),
        ("unknown field", set_(["persons", 1, "fields_disclosed"], [NIR_LIKE]),
         "persons[1].fields_disclosed"),
        ("path in amc", set_(["persons", 0, "insurer_amc"], "../../x"), "persons[0].insurer_amc"),
        ("inverted window", set_(["window", "until"], "2024-01-01T00:00:00+00:00"), "window"),
        ("no selector", set_(["selector"], {"accounts": [], "sessions": [], "addresses": []}),
         "selector"),
        ("person dropped", drop_person, "counts.persons"),
        ("count edited", set_(["counts", "by_field", "nir"], 5), "counts.by_field"),
    ]


@pytest.mark.parametrize(("label", "mutate", "where"), _mutations(),
                         ids=[m[0] for m in _mutations()])
def test_malformed_json_is_refused_naming_where_never_the_value(
        tmp_path: Path, label: str, mutate: Callable[[Doc], Doc], where: str) -> None:
    path = tmp_path / "scope.json"
    path.write_bytes(orjson.dumps(mutate(_json_doc())))
    with pytest.raises(ScopeFileError) as caught:
        load_scope(path)
    message = str(caught.value)
    assert str(path) in message
    assert where in message
    assert NIR_LIKE not in message
    assert "../" not in message


def _csv_lines() -> list[str]:
    return scope_to_csv(scope(person(1, "111", "nir"), person(2, "222", "coverage"))).splitlines()


@pytest.mark.parametrize(("label", "edit", "expected"), [
    ("no trailer", lambda lines: lines[:-1], "trailer"),
    ("row count", lambda lines: [*lines[:-1], "#end:3"], "row count"),
    ("extra column", lambda lines: [*lines[:-3], lines[-3] + ";x", *lines[-2:]],
     "line 10: expected 6 columns"),
    ("bad id", lambda lines: [*lines[:-3], NIR_LIKE + "x" + lines[-3][1:], *lines[-2:]],
     "line 10, person_id"),
    ("unknown field", lambda lines: [*lines[:-3], lines[-3].replace(";nir;", f";{NIR_LIKE};"),
                                     *lines[-2:]], "line 10, fields_disclosed"),
    ("missing meta", lambda lines: [lines[0], *lines[2:]], "missing for: detected_at"),
    ("repeated meta", lambda lines: [lines[0], lines[1], *lines[1:]], "line 3"),
    ("bad header", lambda lines: ["#rempart:breach-scope:v9", *lines[1:]], "scope file"),
    ("bad column line", lambda lines: [*lines[:8], "a;b;c", *lines[9:]], "line 9"),
])
def test_malformed_csv_is_refused_naming_the_line(
        tmp_path: Path, label: str, edit: Callable[[list[str]], list[str]],
        expected: str) -> None:
    path = tmp_path / "scope.csv"
    path.write_text("\n".join(edit(_csv_lines())) + "\n", encoding="utf-8")
    with pytest.raises(ScopeFileError) as caught:
        load_scope(path)
    assert expected in str(caught.value)
    assert NIR_LIKE not in str(caught.value)


@pytest.mark.parametrize(("content", "expected"), [
    (b"\xff\xfe{", "not UTF-8"),
    (b"person_id;insurer\n1;2\n", "neither"),
    (b"", "neither"),
    (b'{"format": "rempart-breach-scope/1", "persons": [', "not valid JSON"),
])
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "scope"
    path.write_bytes(content)
    with pytest.raises(ScopeFileError, match=expected):
        load_scope(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScopeFileError, match="cannot be read"):
        load_scope(tmp_path / "absent.json")


def test_names_the_audit_log_records_map_to_the_catalogue() -> None:
    p = person(1, "111", "covered", "guarantee_rate_bp", "third_party_payment", "claim_status")
    assert p.fields_disclosed == {"coverage", "identity_confirmed", "guarantee", "third_party",
                                  "claim"}
    back = scope_from_json(scope_to_json(scope(p)).decode())
    assert back.persons[0].fields_disclosed == p.fields_disclosed


def test_scope_files_are_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("earlier")
    with pytest.raises(OutputNotEmpty):
        write_scope_files(scope(person(7, "111", "nir")), json_path=path)
    assert path.read_text() == "earlier"
