"""Factories for breach-response tests: scopes, a fake person directory, a letter parser."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

from rempart.response import Addressee, Scope, ScopedPerson, Selector, Window

T0 = dt.datetime(2024, 2, 1, 8, 0, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def person(person_id: int, amc: str, *fields: str, first: float = 1.0, last: float = 2.0,
           disclosures: int = 1) -> ScopedPerson:
    return ScopedPerson(person_id=person_id, insurer_amc=amc, fields_disclosed=frozenset(fields),
                        first_seen=at(first), last_seen=at(last), disclosures=disclosures)


def scope(*persons: ScopedPerson, detected: float = 30.0) -> Scope:
    return Scope(selector=Selector(accounts=(12, 40), addresses=("203.0.113.0/24",)),
                 window=Window(since=at(0), until=at(24)), detected_at=at(detected),
                 computed_at=at(detected + 1), persons=persons)


def fake_addressee(p: ScopedPerson, *, first_name: str | None = None) -> Addressee:
    return Addressee(person_id=p.person_id, first_name=first_name or f"Fakefirst{p.person_id}",
                     last_name=f"Fakelast{p.person_id}", member_number=f"FAKEM{p.person_id:05d}",
                     insurer_amc=p.insurer_amc, insurer_name=f"Fake Mutual {p.insurer_amc}")


@dataclass
class FakeDirectory:
    """Obviously fake people; records the batches it was asked for."""

    people: dict[int, Addressee]
    calls: list[list[int]] = field(default_factory=list)

    @classmethod
    def for_scope(cls, s: Scope, **overrides: str) -> FakeDirectory:
        return cls({p.person_id: fake_addressee(p, **overrides) for p in s.persons})

    def addressees(self, person_ids: Sequence[int]) -> Mapping[int, Addressee]:
        self.calls.append(list(person_ids))
        return {i: self.people[i] for i in person_ids if i in self.people}


@dataclass
class ParsedLetter:
    reference: str
    seen: list[str] = field(default_factory=list)
    not_seen: list[str] = field(default_factory=list)
    text: str = ""


class LetterParser(HTMLParser):
    """Splits a letters file into letters, with the items of their seen / not-seen lists."""

    def __init__(self) -> None:
        super().__init__()
        self.letters: list[ParsedLetter] = []
        self.tags: list[str] = []
        self._list: str | None = None
        self._item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "article":
            self.letters.append(ParsedLetter(reference=str(values["id"]).removeprefix("letter-")))
        elif tag == "ul" and values.get("class") in ("seen", "not-seen"):
            self._list = values["class"]
        elif tag == "li" and self._list:
            self._item = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._item is not None and self._list:
            target = self.letters[-1].seen if self._list == "seen" else self.letters[-1].not_seen
            target.append(" ".join("".join(self._item).split()))
            self._item = None
        elif tag == "ul":
            self._list = None

    def handle_data(self, data: str) -> None:
        if self._item is not None:
            self._item.append(data)
        if self.letters:
            self.letters[-1].text += data


def parse_letters(html: str) -> LetterParser:
    parser = LetterParser()
    parser.feed(html)
    parser.close()
    return parser
