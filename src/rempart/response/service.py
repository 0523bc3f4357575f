"""Turning a scope into the breach-response documents, all or nothing.

    <out>/article33.json                     draft notification, structured
    <out>/article33.fr.md, article33.en.md   draft notification, to complete and send
    <out>/letters/<amc>/<lang>/letters-NNNN.html   article 34 letters, one per page
    <out>/letters/<amc>/mail-merge.csv       the same letters as mail-merge rows
    <out>/MANIFEST.json                      SHA-256 and size of every file

Everything is written owner-only into a staging directory that becomes <out> only when
complete. Nothing personal is logged or returned: the summary holds counts.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby, islice
from pathlib import Path

from rempart.clock import Clock
from rempart.response.article33 import (
    ContactPoint,
    Deadline,
    draft_notification,
    notification_json,
    notification_markdown,
)
from rempart.response.article34 import (
    Letter,
    compose_letter,
    mail_merge_columns,
    mail_merge_row,
    render_letters,
)
from rempart.response.directory import Addressee, PersonDirectory
from rempart.response.errors import PersonNotInDirectory
from rempart.response.fields import Language
from rempart.response.output import StagedOutput
from rempart.response.scope import Scope, ScopedPerson

DEFAULT_LETTERS_PER_FILE = 500
MAIL_MERGE_ENCODING = "utf-8-sig"  # with a BOM, so spreadsheet software reads it as UTF-8
MAIL_MERGE_DELIMITER = ";"


@dataclass(frozen=True)
class ReportSummary:
    """What was written, in counts only (safe to print and log)."""

    out: Path
    persons: int
    letters: int  # one per person, in each language
    insurers: int
    files: int
    deadline: Deadline
    to_complete: tuple[str, ...]


class BreachReporter:
    def __init__(self, *, directory: PersonDirectory, clock: Clock,
                 letters_per_file: int = DEFAULT_LETTERS_PER_FILE) -> None:
        if letters_per_file < 1:
            raise ValueError("letters_per_file must be at least 1")
        self._directory = directory
        self._clock = clock
        self._letters_per_file = letters_per_file

    def write_report(self, *, scope: Scope, out: Path, contact: ContactPoint,
                     languages: Sequence[Language] = (Language.FR, Language.EN),
                     measures: Sequence[str] = (),
                     on_progress: Callable[[int], None] | None = None) -> ReportSummary:
        """Write the article 33 draft and the article 34 letters for a scope into `out`.

        Raises OutputNotEmpty, DetectionInFuture or PersonNotInDirectory before anything
        appears at `out`; `on_progress` receives the number of persons done per batch.
        """
        languages = tuple(dict.fromkeys(languages))
        if not languages:
            raise ValueError("at least one language is needed")
        now = self._clock.now()
        Deadline.starting(detected_at=scope.detected_at, now=now)  # refuse early
        with StagedOutput(out) as output:
            insurer_names = self._write_letters(output, scope=scope, contact=contact,
                                                languages=languages, now=now,
                                                on_progress=on_progress)
            notification = draft_notification(
                scope=scope, contact=contact, now=now, measures=measures,
                letters=scope.counts.persons, languages=languages,
                insurer_names=insurer_names)
            output.write("article33.json", notification_json(notification))
            for lang in (Language.FR, Language.EN):
                output.write(f"article33.{lang.value}.md",
                             notification_markdown(notification, lang).encode("utf-8"))
            files = len(output.files) + 1  # and the manifest
        return ReportSummary(out=out, persons=scope.counts.persons,
                             letters=scope.counts.persons * len(languages),
                             insurers=len(scope.counts.by_insurer), files=files,
                             deadline=notification.deadline,
                             to_complete=notification.to_complete)

    def _write_letters(self, output: StagedOutput, *, scope: Scope, contact: ContactPoint,
                       languages: tuple[Language, ...], now: dt.datetime,
                       on_progress: Callable[[int], None] | None) -> dict[str, str]:
        insurer_names: dict[str, str] = {}
        for amc, group in groupby(scope.persons, key=lambda p: p.insurer_amc):
            with output.text(f"letters/{amc}/mail-merge.csv", encoding=MAIL_MERGE_ENCODING,
                             newline="") as handle:
                rows = csv.writer(handle, delimiter=MAIL_MERGE_DELIMITER)
                rows.writerow(mail_merge_columns(languages))
                for part, batch in enumerate(_batches(group, self._letters_per_file), start=1):
                    letters = self._compose(batch)
                    name = letters[0].addressee.insurer_name
                    insurer_names[amc] = name
                    files = {lang: f"{lang.value}/letters-{part:04d}.html" for lang in languages}
                    for lang in languages:
                        html = render_letters(letters, language=lang, insurer_amc=amc,
                                              insurer_name=name, part=part, contact=contact,
                                              issued_at=now)
                        output.write(f"letters/{amc}/{files[lang]}", html.encode("utf-8"))
                    for page, letter in enumerate(letters, start=1):
                        rows.writerow(mail_merge_row(letter, languages=languages,
                                                     files=files, page=page))
                    if on_progress is not None:
                        on_progress(len(letters))
        return insurer_names

    def _compose(self, batch: Sequence[ScopedPerson]) -> list[Letter]:
        found = self._directory.addressees([p.person_id for p in batch])
        return [compose_letter(person, _addressee(found, person)) for person in batch]


def _batches(items: Iterable[ScopedPerson], size: int) -> Iterator[list[ScopedPerson]]:
    """itertools.batched, which Python 3.11 does not have yet."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _addressee(found: Mapping[int, Addressee], person: ScopedPerson) -> Addressee:
    addressee = found.get(person.person_id)
    if addressee is None:
        raise PersonNotInDirectory(person.person_id, "is not in the person directory")
    if addressee.insurer_amc != person.insurer_amc:
        raise PersonNotInDirectory(person.person_id, "is filed under another insurer in the "
                                                     "directory than in the scope")
    return addressee
