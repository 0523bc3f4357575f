"""Letters to the persons concerned (GDPR article 34), and their mail-merge lists.

Each letter says, for that person, exactly which of their data was seen and which was
not (the catalogue, minus what was disclosed), the likely consequences, what was done,
whom to ask, and how to recognise phishing that uses this data. Letters are grouped by
insurer, because the insurer is who writes to its members, and printed in batches: one
HTML file holds up to `letters_per_file` letters separated by page breaks, so a scope of
a million persons is a few thousand print jobs rather than a million files. The same
facts go into a mail-merge CSV per insurer, for the insurer's own template and its own
address file (rempart holds no postal address).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rempart.response.article33 import ContactPoint
from rempart.response.directory import Addressee
from rempart.response.fields import (
    CATALOGUE,
    DataCategory,
    FieldInfo,
    Language,
    categories_of,
    in_catalogue_order,
)
from rempart.response.rendering import PARIS, html_environment
from rempart.response.scope import ScopedPerson

MAIL_MERGE_BASE_COLUMNS = (
    "reference", "person_id", "insurer_amc", "insurer_name", "member_number", "last_name",
    "first_name", "first_seen", "last_seen", "disclosures", "fields_seen",
)
MAIL_MERGE_LANGUAGE_COLUMNS = ("seen", "not_seen", "letter_file", "letter_page")
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Letter:
    """One person's letter: the addressee and what was, and was not, seen."""

    reference: str
    addressee: Addressee
    person: ScopedPerson
    seen: tuple[FieldInfo, ...]
    not_seen: tuple[FieldInfo, ...]
    categories: frozenset[DataCategory]

    def discloses_any(self, *names: str) -> bool:
        return not self.person.fields_disclosed.isdisjoint(names)

    def seen_labels(self, language: Language) -> list[str]:
        return [info.label(language) for info in self.seen]

    def not_seen_labels(self, language: Language) -> list[str]:
        return [info.label(language) for info in self.not_seen]

    @property
    def first_day(self) -> dt.date:
        return self.person.first_seen.astimezone(PARIS).date()

    @property
    def last_day(self) -> dt.date:
        return self.person.last_seen.astimezone(PARIS).date()


def compose_letter(person: ScopedPerson, addressee: Addressee) -> Letter:
    seen = tuple(in_catalogue_order(person.fields_disclosed))
    not_seen = tuple(info for info in CATALOGUE if info.name not in person.fields_disclosed)
    return Letter(reference=f"{person.insurer_amc}-{person.person_id}", addressee=addressee,
                  person=person, seen=seen, not_seen=not_seen,
                  categories=frozenset(categories_of(person.fields_disclosed)))


def render_letters(letters: Sequence[Letter], *, language: Language, insurer_amc: str,
                   insurer_name: str, part: int, contact: ContactPoint,
                   issued_at: dt.datetime) -> str:
    """One printable HTML document holding the letters, one per page."""
    env = html_environment()
    template = env.get_template("letters.html")
    return template.render(letters=letters, lang=language.value, language=language,
                           letter_template=env.get_template(f"letter_{language.value}.html"),
                           insurer_amc=insurer_amc, insurer_name=insurer_name, part=part,
                           contact=contact, issued_at=issued_at, Category=DataCategory)


def mail_merge_columns(languages: Sequence[Language]) -> list[str]:
    return [*MAIL_MERGE_BASE_COLUMNS,
            *(f"{column}_{lang.value}" for lang in languages
              for column in MAIL_MERGE_LANGUAGE_COLUMNS)]


def mail_merge_row(letter: Letter, *, languages: Sequence[Language],
                   files: dict[Language, str], page: int) -> list[str]:
    """The letter's facts as mail-merge cells, each safe to open in a spreadsheet."""
    who, person = letter.addressee, letter.person
    cells: list[str] = [
        letter.reference, str(person.person_id), person.insurer_amc, who.insurer_name,
        who.member_number, who.last_name, who.first_name, letter.first_day.isoformat(),
        letter.last_day.isoformat(), str(person.disclosures),
        " ".join(info.name for info in letter.seen),
    ]
    for lang in languages:
        cells += ["; ".join(letter.seen_labels(lang)), "; ".join(letter.not_seen_labels(lang)),
                  files[lang], str(page)]
    return [spreadsheet_safe(cell) for cell in cells]


def spreadsheet_safe(cell: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula, by a leading apostrophe."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell
