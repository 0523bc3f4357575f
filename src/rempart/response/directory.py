"""The person directory: how a report learns whom to write to.

A scope names persons by internal id only. The letters need a name, a member number and
the insurer; the directory supplies them, looked up in batches. The production directory
opens the sealed population records through the vault; tests use a fake one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rempart.response.errors import DirectoryUnavailable


@dataclass(frozen=True, slots=True)
class Addressee:
    """Whom a letter is for. Personal data: its repr shows the internal id only."""

    person_id: int
    first_name: str = field(repr=False)
    last_name: str = field(repr=False)
    member_number: str = field(repr=False)
    insurer_amc: str
    insurer_name: str


class PersonDirectory(Protocol):
    def addressees(self, person_ids: Sequence[int]) -> Mapping[int, Addressee]:
        """The addressee of each id it knows; ids it does not know are left out."""
        ...


class UnavailableDirectory:
    """A directory that refuses: letters need the population database behind the vault."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def addressees(self, person_ids: Sequence[int]) -> Mapping[int, Addressee]:
        raise DirectoryUnavailable(self.reason)
