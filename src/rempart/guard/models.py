"""The guard's saved state (memory mode): one row per account profile, one per contained
session, written by rempart.guard.persist so that a restart neither forgets what the
guard learnt nor lifts a containment.

Rows name accounts and sessions by their internal ids only; the bodies are the codec's
JSON (rempart.guard.codec): counts, rates, hours, device digests, address blocks (/24)
and networks the practice used, never a patient; a patient filter is Bloom-filter bits.
`contained` stands beside the body so that a body that cannot be read still says the
account or session was contained.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from rempart.storage.base import Base

ACCOUNT = "account"
SESSION = "session"
PATIENTS = "patients"
KEY_MAX = 200


class GuardStateRow(Base):
    __tablename__ = "guard_state"

    # ACCOUNT, PATIENTS (the account's patient filter: bits only) or SESSION.
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    # The account a session belongs to (for a session whose body cannot be read).
    account_id: Mapped[str] = mapped_column(String(KEY_MAX))
    contained: Mapped[bool] = mapped_column(Boolean)
    # The body's format (rempart.guard.persist.FORMAT): another one is not read.
    version: Mapped[int] = mapped_column(Integer)
    # The profile's or session's last activity, seconds since the epoch (guard clock).
    last: Mapped[float] = mapped_column(Float)
    body: Mapped[bytes] = mapped_column(LargeBinary)
