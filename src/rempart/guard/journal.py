"""What the guard tells whoever keeps its containments beyond the process.

The guard calls a ContainmentJournal only where a containment may have changed: a
check refused at step-up or above (rempart.guard.rungs.Rungs.record, never for an
allowed check), a step-up passed, a restore, a session ended. In memory mode
rempart.guard.persist writes what changed at once, so that a restart cannot lift it;
Redis keeps its state itself and needs none (NO_JOURNAL).
"""

from __future__ import annotations

from typing import Protocol

from rempart.guard.profile import AccountProfile, SessionState


class ContainmentJournal(Protocol):
    def note(self, account_id: str, profile: AccountProfile | None,
             session_id: str | None, session: SessionState | None) -> None:
        """The account's suspension or the session's (suspended, step-up pending) may
        have changed: keep what is now true."""
        ...

    def lifted(self, account_id: str, profile: AccountProfile | None) -> None:
        """An operator restored the account: its suspension is no longer kept."""
        ...

    def ended(self, session_id: str) -> None:
        """The session is over (logout, expiry): nothing of it is kept."""
        ...


class _NoJournal:
    def note(self, account_id: str, profile: AccountProfile | None,
             session_id: str | None, session: SessionState | None) -> None:
        """Nothing kept."""

    def lifted(self, account_id: str, profile: AccountProfile | None) -> None:
        """Nothing kept."""

    def ended(self, session_id: str) -> None:
        """Nothing kept."""


NO_JOURNAL: ContainmentJournal = _NoJournal()
