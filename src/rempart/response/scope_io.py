"""Scope files: the JSON document and the CSV list, written and read back with validation.

JSON (`rempart-breach-scope/1`) is the complete document, with derived counts that are
checked on load so an edited or cut file is caught. CSV is the same scope for a
spreadsheet, framed like the import files (docs/breach-response.md):

    #rempart:breach-scope:v1
    #meta;<key>;<value>            one line per scope attribute
    person_id;insurer_amc;fields_disclosed;first_seen;last_seen;disclosures
    ... one row per person ...
    #end:<number of person rows>   a truncated file has no valid trailer

Errors name the file, the line or entry and the field, never a value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from rempart.response.errors import InvalidScope, ScopeFileError
from rempart.response.output import write_private_file
from rempart.response.scope import Scope, ScopedPerson, Selector, Window

T = TypeVar("T")
DIGITS = re.compile(r"[0-9]{1,19}")
_NOT_A_TIME = "is not an ISO 8601 date and time with a UTC offset"

JSON_FORMAT = "rempart-breach-scope/1"
CSV_HEADER = "#rempart:breach-scope:v1"
CSV_META = "#meta"
CSV_TRAILER = "#end:"
CSV_DELIMITER = ";"
CSV_COLUMNS = ("person_id", "insurer_amc", "fields_disclosed", "first_seen", "last_seen",
               "disclosures")
META_KEYS = ("detected_at", "computed_at", "since", "until", "accounts", "sessions",
             "addresses")


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def _person_doc(person: ScopedPerson) -> dict[str, Any]:
    return {"person_id": person.person_id, "insurer_amc": person.insurer_amc,
            "fields_disclosed": sorted(person.fields_disclosed),
            "first_seen": _iso(person.first_seen), "last_seen": _iso(person.last_seen),
            "disclosures": person.disclosures}


def scope_to_json(scope: Scope) -> bytes:
    counts = scope.counts
    return orjson.dumps({
        "format": JSON_FORMAT,
        "selector": {"accounts": list(scope.selector.accounts),
                     "sessions": list(scope.selector.sessions),
                     "addresses": list(scope.selector.addresses)},
        "window": {"since": _iso(scope.window.since), "until": _iso(scope.window.until)},
        "detected_at": _iso(scope.detected_at),
        "computed_at": _iso(scope.computed_at),
        "counts": {"persons": counts.persons, "disclosures": counts.disclosures,
                   "by_insurer": counts.by_insurer, "by_field": counts.by_field},
        "persons": [_person_doc(p) for p in scope.persons],
    }, option=orjson.OPT_INDENT_2)


def scope_to_csv(scope: Scope) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\n")
    out.write(CSV_HEADER + "\n")
    meta = {"detected_at": _iso(scope.detected_at), "computed_at": _iso(scope.computed_at),
            "since": _iso(scope.window.since), "until": _iso(scope.window.until),
            "accounts": " ".join(str(a) for a in scope.selector.accounts),
            "sessions": " ".join(scope.selector.sessions),
            "addresses": " ".join(scope.selector.addresses)}
    for key in META_KEYS:
        writer.writerow([CSV_META, key, meta[key]])
    writer.writerow(CSV_COLUMNS)
    for p in scope.persons:
        writer.writerow([p.person_id, p.insurer_amc, " ".join(sorted(p.fields_disclosed)),
                         _iso(p.first_seen), _iso(p.last_seen), p.disclosures])
    out.write(f"{CSV_TRAILER}{len(scope.persons)}\n")
    return out.getvalue()


def load_scope(path: Path) -> Scope:
    """Read a scope file (JSON or CSV, told apart by content) or raise ScopeFileError."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScopeFileError(source, f"cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScopeFileError(source, "is not UTF-8 text") from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        return scope_from_json(text, source=source)
    if stripped.startswith(CSV_HEADER):
        return scope_from_csv(text, source=source)
    raise ScopeFileError(source, f"is neither a {JSON_FORMAT} JSON document nor a "
                                 f"{CSV_HEADER} CSV file")


# ---- JSON ------------------------------------------------------------------------------

def scope_from_json(text: str, *, source: str = "<json>") -> Scope:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ScopeFileError(source, "is not valid JSON (truncated?)") from None
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
        raise ScopeFileError(source, f"is not a {JSON_FORMAT} document")
    reader = _JsonReader(source)
    selector_doc = reader.mapping(doc, "selector")
    window_doc = reader.mapping(doc, "window")
    persons_doc = reader.get(doc, "persons", list)
    persons = tuple(reader.person(entry, i) for i, entry in enumerate(persons_doc))
    scope = reader.build("scope", lambda: Scope(
        selector=Selector(accounts=tuple(reader.get(selector_doc, "accounts", list)),
                          sessions=tuple(reader.get(selector_doc, "sessions", list)),
                          addresses=tuple(reader.get(selector_doc, "addresses", list))),
        window=Window(since=reader.time(window_doc, "since", "window.since"),
                      until=reader.time(window_doc, "until", "window.until")),
        detected_at=reader.time(doc, "detected_at", "detected_at"),
        computed_at=reader.time(doc, "computed_at", "computed_at"),
        persons=persons))
    _check_counts(scope, reader.mapping(doc, "counts"), source)
    return scope


class _JsonReader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, reason: str) -> ScopeFileError:
        return ScopeFileError(self.source, f"{where}: {reason}")

    def get(self, doc: dict[str, Any], key: str, kind: type, where: str | None = None) -> Any:
        if key not in doc:
            raise self.fail(where or key, "is missing")
        value = doc[key]
        if not isinstance(value, kind):
            raise self.fail(where or key, f"must be a JSON {_JSON_KIND.get(kind, kind.__name__)}")
        return value

    def mapping(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        return self.get(doc, key, dict)  # type: ignore[no-any-return]

    def time(self, doc: dict[str, Any], key: str, where: str) -> dt.datetime:
        return _parse_time(self.get(doc, key, str, where), self.fail(where, _NOT_A_TIME))

    def person(self, entry: Any, index: int) -> ScopedPerson:
        where = f"persons[{index}]"
        if not isinstance(entry, dict):
            raise self.fail(where, "must be a JSON object")
        names = self.get(entry, "fields_disclosed", list, f"{where}.fields_disclosed")
        if not all(isinstance(n, str) for n in names):
            raise self.fail(f"{where}.fields_disclosed", "must list field names")
        return self.build(where, lambda: ScopedPerson(
            person_id=self.get(entry, "person_id", int, f"{where}.person_id"),
            insurer_amc=self.get(entry, "insurer_amc", str, f"{where}.insurer_amc"),
            fields_disclosed=frozenset(names),
            first_seen=self.time(entry, "first_seen", f"{where}.first_seen"),
            last_seen=self.time(entry, "last_seen", f"{where}.last_seen"),
            disclosures=self.get(entry, "disclosures", int, f"{where}.disclosures")))

    def build(self, where: str, make: Callable[[], T]) -> T:
        try:
            return make()
        except InvalidScope as exc:
            prefix = "" if exc.where.startswith(where) or where == "scope" else f"{where}."
            raise self.fail(prefix + exc.where, exc.reason) from None


_JSON_KIND = {dict: "object", list: "array", str: "string", int: "integer"}


def _check_counts(scope: Scope, counts: dict[str, Any], source: str) -> None:
    derived = scope.counts
    expected = {"persons": derived.persons, "disclosures": derived.disclosures,
                "by_insurer": derived.by_insurer, "by_field": derived.by_field}
    for key, value in expected.items():
        if counts.get(key) != value:
            raise ScopeFileError(source, f"counts.{key} does not match the persons listed "
                                         "(truncated or edited file?)")


# ---- CSV -------------------------------------------------------------------------------

def scope_from_csv(text: str, *, source: str = "<csv>") -> Scope:
    lines = text.lstrip("\ufeff").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or lines[0].strip() != CSV_HEADER:
        raise ScopeFileError(source, f"line 1: expected {CSV_HEADER}")
    last = lines[-1].strip() if len(lines) > 1 else ""
    if not last.startswith(CSV_TRAILER):
        raise ScopeFileError(source, f"line {len(lines)}: no {CSV_TRAILER}N trailer "
                                     "(truncated file?)")
    rows = list(csv.reader(lines[1:-1], delimiter=CSV_DELIMITER))
    meta: dict[str, str] = {}
    position = 0
    while position < len(rows) and rows[position][:1] == [CSV_META]:
        row = rows[position]
        line = position + 2
        if len(row) != 3 or row[1] not in META_KEYS or row[1] in meta:
            raise ScopeFileError(source, f"line {line}: malformed or repeated {CSV_META} line")
        meta[row[1]] = row[2]
        position += 1
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise ScopeFileError(source, f"{CSV_META} lines missing for: {', '.join(missing)}")
    if position >= len(rows) or tuple(rows[position]) != CSV_COLUMNS:
        raise ScopeFileError(source, f"line {position + 2}: expected the column line "
                                     + CSV_DELIMITER.join(CSV_COLUMNS))
    body = rows[position + 1:]
    first_row_line = position + 3
    declared = last[len(CSV_TRAILER):]
    if not DIGITS.fullmatch(declared) or int(declared) != len(body):
        raise ScopeFileError(source, f"line {len(lines)}: the trailer's row count does not "
                                     "match the rows present (truncated file?)")
    persons = tuple(_csv_person(row, first_row_line + i, source) for i, row in enumerate(body))

    def meta_time(key: str) -> dt.datetime:
        return _parse_time(meta[key], ScopeFileError(source, f"{CSV_META} {key}: {_NOT_A_TIME}"))

    def meta_accounts() -> tuple[int, ...]:
        words = meta["accounts"].split()
        if not all(DIGITS.fullmatch(w) for w in words):
            raise ScopeFileError(source, f"{CSV_META} accounts: must list integer ids")
        return tuple(int(w) for w in words)

    try:
        return Scope(
            selector=Selector(accounts=meta_accounts(), sessions=tuple(meta["sessions"].split()),
                              addresses=tuple(meta["addresses"].split())),
            window=Window(since=meta_time("since"), until=meta_time("until")),
            detected_at=meta_time("detected_at"), computed_at=meta_time("computed_at"),
            persons=persons)
    except InvalidScope as exc:
        raise ScopeFileError(source, str(exc)) from None


def _csv_person(row: list[str], line: int, source: str) -> ScopedPerson:
    def fail(column: str, reason: str) -> ScopeFileError:
        return ScopeFileError(source, f"line {line}, {column}: {reason}")

    if len(row) != len(CSV_COLUMNS):
        raise ScopeFileError(source, f"line {line}: expected {len(CSV_COLUMNS)} columns, "
                                     f"found {len(row)}")
    values = dict(zip(CSV_COLUMNS, row, strict=True))
    for column in ("person_id", "disclosures"):
        if not DIGITS.fullmatch(values[column]):
            raise fail(column, "must be a positive integer")
    times = {column: _parse_time(values[column], fail(column, _NOT_A_TIME))
             for column in ("first_seen", "last_seen")}
    try:
        return ScopedPerson(person_id=int(values["person_id"]),
                            insurer_amc=values["insurer_amc"],
                            fields_disclosed=frozenset(values["fields_disclosed"].split()),
                            first_seen=times["first_seen"], last_seen=times["last_seen"],
                            disclosures=int(values["disclosures"]))
    except InvalidScope as exc:
        raise fail(exc.where, exc.reason) from None


def _parse_time(value: str, error: ScopeFileError) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise error from None
    if parsed.tzinfo is None:
        raise error
    return parsed


def write_scope_files(scope: Scope, *, json_path: Path | None = None,
                      csv_path: Path | None = None) -> list[Path]:
    """Write the scope as JSON and/or CSV, owner-only (a scope is about real persons)."""
    written = []
    if json_path is not None:
        write_private_file(json_path, scope_to_json(scope))
        written.append(json_path)
    if csv_path is not None:
        write_private_file(csv_path, scope_to_csv(scope).encode("utf-8"))
        written.append(csv_path)
    return written
