"""The plain database recorder: the disclosures' rows, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert

from rempart.disclosure.models import DisclosureRow
from rempart.disclosure.recorder import Disclosure

_INSERT = insert(DisclosureRow)


class DatabaseDisclosureRecorder:
    def record(self, connection: Connection, disclosures: Sequence[Disclosure]) -> None:
        if disclosures:
            connection.execute(_INSERT, [_row(d) for d in disclosures])


def _row(disclosure: Disclosure) -> dict[str, Any]:
    who = disclosure.requester
    return {
        "occurred_at": disclosure.occurred_at,
        "event": disclosure.event.value,
        "account_id": who.account_id,
        "organisation_id": who.organisation_id,
        "professional_id": who.professional_id,
        "session_id": who.session_id,
        "client_address": who.client_address,
        "device_id": who.device_id,
        "person_id": disclosure.person_id,
        "fields": ",".join(disclosure.fields),
        "reference": disclosure.reference,
    }
