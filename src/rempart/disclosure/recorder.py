"""What a disclosure is, who asks for one, and the protocol that records it."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection


class Requester(Protocol):
    """Whoever asks: a provider's account, organisation, professional, session and address.

    A protocol, so the domain services never import the web edge that builds the
    identity; `rempart.web.identity.ProviderIdentity` satisfies it.
    """

    @property
    def account_id(self) -> int | None: ...

    @property
    def organisation_id(self) -> int: ...

    @property
    def professional_id(self) -> int | None: ...

    @property
    def session_id(self) -> str | None: ...

    @property
    def client_address(self) -> str | None: ...

    @property
    def device_id(self) -> str | None: ...

    @property
    def network(self) -> str | None:
        """The client's autonomous system ("AS64500"), where a trusted proxy said it
        (rempart.web.proxies); None elsewhere."""


class DisclosureEvent(enum.StrEnum):
    """Event names, `subject.action` in lower case (the audit log's convention)."""

    CHECK = "check.answered"
    CALCULATION = "check.calculated"
    CLAIM = "claim.submitted"
    CLAIM_READ = "claim.read"


@dataclass(frozen=True, slots=True)
class Disclosure:
    event: DisclosureEvent
    occurred_at: dt.datetime
    requester: Requester
    # The beneficiary's internal id, or None when nothing about a person was disclosed.
    person_id: int | None
    # Names of the answer's fields that carried data about the person (never values),
    # each matching [a-z][a-z0-9_]*.
    fields: tuple[str, ...]
    # The check or claim reference that the answer carried.
    reference: str | None
    # The person's insurer (AMC number) when the caller already knows it; else looked up.
    insurer_amc: str | None = None


class DisclosureRecorder(Protocol):
    def record(self, connection: Connection, disclosures: Sequence[Disclosure]) -> None:
        """Record disclosures, in order, inside the caller's transaction.

        The answers and their records commit together: an answer that was never
        recorded is never sent, and a record never describes an answer that was rolled
        back. A sequence, because checks are written in batches (group commit).
        """
        ...
