"""Known devices: browsers that completed a full login to an account.

A device is its long-lived device token (a cookie), stored hashed. A full login
from a device the account has not used before sends the owner a login alert; a
known device is throttled on its own (see rempart.auth.throttle).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DbSession

from rempart.auth.models import KnownDevice
from rempart.auth.tokens import token_hash
from rempart.clock import Clock


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: int
    label: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class KnownDevices:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def find(self, *, account_id: int | None, device_token: str | None) -> int | None:
        """The id of this device for this account, if it is known."""
        if account_id is None or not device_token:
            return None
        with DbSession(self._engine) as db:
            return db.scalar(select(KnownDevice.id).where(
                KnownDevice.account_id == account_id,
                KnownDevice.token_hash == token_hash(device_token)))

    def remember(self, *, account_id: int, device_token: str, label: str) -> bool:
        """Record a full login from this device; True if the device was new to the account."""
        now = self._clock.now()
        digest = token_hash(device_token)
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(KnownDevice).where(KnownDevice.account_id == account_id,
                                                      KnownDevice.token_hash == digest))
            if row is not None:
                row.last_seen_at = now
                row.label = label
                return False
            db.add(KnownDevice(account_id=account_id, token_hash=digest, label=label,
                               first_seen_at=now, last_seen_at=now))
            return True

    def for_account(self, account_id: int) -> list[DeviceInfo]:
        with DbSession(self._engine) as db:
            rows = db.scalars(select(KnownDevice).where(KnownDevice.account_id == account_id)
                              .order_by(KnownDevice.last_seen_at.desc()))
            return [DeviceInfo(r.id, r.label, r.first_seen_at, r.last_seen_at) for r in rows]

    def forget(self, *, account_id: int, device_id: int) -> None:
        with DbSession(self._engine) as db, db.begin():
            row = db.get(KnownDevice, device_id)
            if row is not None and row.account_id == account_id:
                db.delete(row)
