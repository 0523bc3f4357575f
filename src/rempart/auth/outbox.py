"""The notification outbox: messages written in the same flow as the event they report,
delivered later by rempart.auth.mail. Recipient and payload are sealed by the vault."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session as DbSession

from rempart.auth.models import OutboxMessage
from rempart.auth.tokens import new_public_id
from rempart.clock import Clock
from rempart.vault import Vault

OUTBOX_KIND = b"outbox"


class NotificationKind(StrEnum):
    NEW_DEVICE_LOGIN = "new_device_login"
    FACTOR_ADDED = "factor_added"
    FACTOR_REMOVED = "factor_removed"
    # A passkey holder signed in with TOTP or a recovery code instead (each such login).
    LOGIN_WITHOUT_PASSKEY = "login_without_passkey"
    INVITATION = "invitation"
    API_KEY_RELEASED = "api_key_released"
    API_STEP_UP_REFUSED = "api_step_up_refused"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    account_id: int | None
    kind: NotificationKind
    recipient: str
    payload: dict[str, str]
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attempts: int


class Outbox:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock

    def enqueue(self, *, account_id: int | None, recipient: str, kind: NotificationKind,
                payload: dict[str, str]) -> int:
        public_id = new_public_id()
        sealed = self._vault.seal([recipient, json.dumps(payload, sort_keys=True)],
                                  kind=OUTBOX_KIND, row_token=public_id.encode())
        row = OutboxMessage(public_id=public_id, account_id=account_id, kind=kind.value,
                            key_version=self._vault.current_version, sealed=sealed,
                            created_at=self._clock.now(), attempts=0)
        with DbSession(self._engine) as db, db.begin():
            db.add(row)
            db.flush()
            return row.id

    def pending(self, *, limit: int = 100, max_attempts: int = 5) -> list[OutboxEntry]:
        with DbSession(self._engine) as db:
            rows = db.scalars(select(OutboxMessage)
                              .where(OutboxMessage.sent_at.is_(None),
                                     OutboxMessage.attempts < max_attempts)
                              .order_by(OutboxMessage.id).limit(limit))
            return [self._open(r) for r in rows]

    def for_account(self, account_id: int) -> list[OutboxEntry]:
        with DbSession(self._engine) as db:
            rows = db.scalars(select(OutboxMessage)
                              .where(OutboxMessage.account_id == account_id)
                              .order_by(OutboxMessage.id))
            return [self._open(r) for r in rows]

    def mark_sent(self, message_id: int) -> None:
        with DbSession(self._engine) as db, db.begin():
            db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                       .values(sent_at=self._clock.now(),
                               attempts=OutboxMessage.attempts + 1, last_error=None))

    def mark_failed(self, message_id: int, error: str) -> None:
        with DbSession(self._engine) as db, db.begin():
            db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                       .values(attempts=OutboxMessage.attempts + 1, last_error=error[:200]))

    def _open(self, row: OutboxMessage) -> OutboxEntry:
        recipient, payload = self._vault.open(row.sealed, version=row.key_version,
                                              kind=OUTBOX_KIND,
                                              row_token=row.public_id.encode())
        return OutboxEntry(id=row.id, account_id=row.account_id,
                           kind=NotificationKind(row.kind), recipient=recipient,
                           payload=json.loads(payload), created_at=row.created_at,
                           sent_at=row.sent_at, attempts=row.attempts)
