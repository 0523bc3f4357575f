"""Article 34 letters: what each person is told, grouping, mail merge, escaping, permissions."""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from rempart.clock import ManualClock
from rempart.response import (
    CATALOGUE,
    BreachReporter,
    ContactPoint,
    Language,
    OutputNotEmpty,
    PersonNotInDirectory,
    Scope,
)
from rempart.response.article34 import mail_merge_columns
from response_factory import (
    FakeDirectory,
    ParsedLetter,
    at,
    fake_addressee,
    parse_letters,
    person,
    scope,
)

DPO = ContactPoint(name="Fake DPO", contact="dpo@example.test")
LABELS = {lang: {info.name: info.label(lang) for info in CATALOGUE} for lang in Language}


def _scope() -> Scope:
    return scope(person(1, "111", "nir", "birth_date", disclosures=4),
                 person(2, "111", "coverage", "care_category", first=2, last=20),
                 person(3, "111", "last_name"),
                 person(4, "222", "member_number", "insurer", "guarantee"),
                 person(5, "333", "postcode", "marital_status"))


def _write(s: Scope, out: Path, directory: FakeDirectory | None = None,
           languages: tuple[Language, ...] = (Language.FR, Language.EN),
           letters_per_file: int = 500) -> FakeDirectory:
    directory = directory or FakeDirectory.for_scope(s)
    reporter = BreachReporter(directory=directory, clock=ManualClock(at(40)),
                              letters_per_file=letters_per_file)
    reporter.write_report(scope=s, out=out, contact=DPO, languages=languages)
    return directory


def _letters(out: Path, amc: str, lang: str) -> dict[str, ParsedLetter]:
    letters = {}
    for path in sorted((out / "letters" / amc / lang).glob("letters-*.html")):
        for letter in parse_letters(path.read_text(encoding="utf-8")).letters:
            letters[letter.reference] = letter
    return letters


@pytest.mark.parametrize("lang", list(Language))
def test_each_letter_lists_exactly_what_was_and_was_not_seen(tmp_path: Path,
                                                             lang: Language) -> None:
    s = _scope()
    _write(s, tmp_path / "out")
    for p in s.persons:
        letters = _letters(tmp_path / "out", p.insurer_amc, lang.value)
        letter = letters[f"{p.insurer_amc}-{p.person_id}"]
        seen = {LABELS[lang][name] for name in p.fields_disclosed}
        assert set(letter.seen) == seen
        assert set(letter.not_seen) == set(LABELS[lang].values()) - seen


def test_letter_says_it_in_words_and_addresses_the_person(tmp_path: Path) -> None:
    s = _scope()
    _write(s, tmp_path / "out")
    fr = _letters(tmp_path / "out", "111", "fr")["111-1"]
    en = _letters(tmp_path / "out", "111", "en")["111-1"]
    assert fr.seen == ["Votre numéro de sécurité sociale (NIR)", "Votre date de naissance"]
    assert en.seen == ["Your social security number (NIR)", "Your date of birth"]
    for letter in (fr, en):
        text = " ".join(letter.text.split())
        assert "Fakefirst1 Fakelast1" in text
        assert "FAKEM00001" in text
        assert "Fake DPO" in text
        assert "dpo@example.test" in text
    fr_text = " ".join(fr.text.split())
    en_text = " ".join(en.text.split())
    assert "Le 1er février 2024" in fr_text
    assert "ne contient aucun lien" in fr_text
    assert "numéro inscrit sur votre carte" in fr_text
    assert "coordonnées bancaires" in fr_text
    assert "contains no link" in en_text
    assert "number printed on your insurance card" in en_text
    assert "Never give a code" in en_text
    # The consequences follow what was seen: identity data, but no care data for person 1.
    assert "Your social security number and date of birth do not change" in en_text
    assert "something about your health" not in en_text
    care = " ".join(_letters(tmp_path / "out", "111", "en")["111-2"].text.split())
    assert "something about your health" in care
    assert "Between 1 February 2024 and 2 February 2024" in care


def test_letters_are_grouped_by_insurer_and_batched_with_page_breaks(tmp_path: Path) -> None:
    s = _scope()
    directory = _write(s, tmp_path / "out", letters_per_file=2)
    letters = tmp_path / "out" / "letters"
    assert sorted(p.name for p in letters.iterdir()) == ["111", "222", "333"]
    assert sorted(p.name for p in (letters / "111" / "fr").iterdir()) == [
        "letters-0001.html", "letters-0002.html"]
    for amc in ("111", "222", "333"):
        for lang in ("fr", "en"):
            refs = set(_letters(tmp_path / "out", amc, lang))
            assert refs == {f"{amc}-{p.person_id}" for p in s.persons if p.insurer_amc == amc}
    first = (letters / "111" / "fr" / "letters-0001.html").read_text(encoding="utf-8")
    assert first.count('<article class="letter"') == 2
    assert "break-after: page" in first
    # The directory is asked in batches, one insurer at a time.
    assert directory.calls == [[1, 2], [3], [4], [5]]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def test_mail_merge_csv_per_insurer(tmp_path: Path) -> None:
    s = _scope()
    _write(s, tmp_path / "out", letters_per_file=2)
    path = tmp_path / "out" / "letters" / "111" / "mail-merge.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read UTF-8
    rows = _read_csv(path)
    assert list(rows[0]) == mail_merge_columns([Language.FR, Language.EN])
    assert [r["reference"] for r in rows] == ["111-1", "111-2", "111-3"]
    first = rows[0]
    assert (first["member_number"], first["last_name"], first["first_name"]) == (
        "FAKEM00001", "Fakelast1", "Fakefirst1")
    assert first["fields_seen"] == "nir birth_date"
    assert first["seen_fr"] == "Votre numéro de sécurité sociale (NIR); Votre date de naissance"
    assert "Your date of birth" not in first["not_seen_en"]
    assert "Your surname" in first["not_seen_en"]
    assert first["disclosures"] == "4"
    assert (rows[2]["letter_file_fr"], rows[2]["letter_page_fr"]) == ("fr/letters-0002.html", "1")
    assert (rows[1]["letter_file_en"], rows[1]["letter_page_en"]) == ("en/letters-0001.html", "2")
    assert len(_read_csv(tmp_path / "out" / "letters" / "222" / "mail-merge.csv")) == 1


def test_one_language_only(tmp_path: Path) -> None:
    s = _scope()
    _write(s, tmp_path / "out", languages=(Language.EN,))
    assert sorted(p.name for p in (tmp_path / "out" / "letters" / "111").iterdir()) == [
        "en", "mail-merge.csv"]
    rows = _read_csv(tmp_path / "out" / "letters" / "111" / "mail-merge.csv")
    assert not any(column.endswith("_fr") for column in rows[0])


def test_hostile_names_are_escaped_in_letters_and_neutralised_in_csv(tmp_path: Path) -> None:
    s = scope(person(1, "111", "nir"))
    hostile = "<script>alert('x')</script>"
    directory = FakeDirectory.for_scope(s, first_name=hostile)
    formula = fake_addressee(s.persons[0], first_name="=HYPERLINK(\"http://evil.example\")")
    _write(s, tmp_path / "out", directory)
    for lang in ("fr", "en"):
        html = (tmp_path / "out" / "letters" / "111" / lang / "letters-0001.html").read_text(
            encoding="utf-8")
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
        assert "<a " not in html
        assert "href" not in html
        assert "default-src 'none'" in html
    _write(s, tmp_path / "out2", FakeDirectory({1: formula}))
    row = _read_csv(tmp_path / "out2" / "letters" / "111" / "mail-merge.csv")[0]
    assert row["first_name"] == "'=HYPERLINK(\"http://evil.example\")"


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)  # the report must not rely on a careful umask
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_every_file_is_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "new" / "report"
    _write(_scope(), out)
    paths = [out.parent, out, *out.rglob("*")]
    files = [p for p in paths if p.is_file()]
    # 3 article 33 files, the manifest, and per insurer (3): a CSV and a file per language
    assert len(files) == 3 + 1 + 3 * (1 + 2)
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o600 if path.is_file() else 0o700), path


def test_manifest_lists_every_file_with_its_digest(tmp_path: Path) -> None:
    import hashlib

    out = tmp_path / "out"
    _write(_scope(), out)
    manifest = orjson.loads((out / "MANIFEST.json").read_bytes())
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"MANIFEST.json"}
    for relative, digest in listed.items():
        assert hashlib.sha256((out / relative).read_bytes()).hexdigest() == digest


def test_person_missing_from_directory_leaves_nothing(tmp_path: Path) -> None:
    s = _scope()
    directory = FakeDirectory.for_scope(s)
    del directory.people[5]  # the last insurer's person: most files are already written
    with pytest.raises(PersonNotInDirectory, match="person id 5"):
        _write(s, tmp_path / "out", directory)
    assert list(tmp_path.iterdir()) == []


def test_person_filed_under_another_insurer_is_refused(tmp_path: Path) -> None:
    s = _scope()
    directory = FakeDirectory.for_scope(s)
    directory.people[4] = fake_addressee(person(4, "999", "nir"))
    with pytest.raises(PersonNotInDirectory, match="another insurer"):
        _write(s, tmp_path / "out", directory)
    assert list(tmp_path.iterdir()) == []


def test_a_report_never_overwrites_another(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("keep me")
    with pytest.raises(OutputNotEmpty):
        _write(_scope(), out)
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    _write(_scope(), empty)  # an empty directory is fine
    assert (empty / "article33.json").exists()


def test_empty_scope_writes_the_draft_and_no_letters(tmp_path: Path) -> None:
    _write(scope(), tmp_path / "out")
    doc = orjson.loads((tmp_path / "out" / "article33.json").read_bytes())
    assert doc["nature"]["data_subjects"]["count"] == 0
    assert not (tmp_path / "out" / "letters").exists()


def test_a_positive_check_tells_the_person_their_identifiers_were_confirmed(
        tmp_path: Path) -> None:
    s = scope(person(1, "111", "covered", "guarantee_kind"), person(2, "111", "postcode"))
    _write(s, tmp_path / "out")
    letters = _letters(tmp_path / "out", "111", "en")
    confirmed, other = letters["111-1"], letters["111-2"]
    assert confirmed.seen == [
        LABELS[Language.EN]["identity_confirmed"], LABELS[Language.EN]["coverage"],
        LABELS[Language.EN]["guarantee"]]
    assert "whoever made the check typed them in" in " ".join(confirmed.text.split())
    assert "whoever made the check typed them in" not in " ".join(other.text.split())
    fr = _letters(tmp_path / "out", "111", "fr")["111-1"]
    assert "les a saisis elle-même" in " ".join(fr.text.split())


def test_when_everything_was_seen_the_letter_says_so(tmp_path: Path) -> None:
    everything = [info.name for info in CATALOGUE]
    _write(scope(person(1, "111", *everything)), tmp_path / "out")
    letter = _letters(tmp_path / "out", "111", "en")["111-1"]
    assert len(letter.seen) == len(CATALOGUE)
    assert letter.not_seen == []
    assert "All the data this service holds about you was seen." in letter.text
