"""What an operator does to the guard's containments, and what the console shows of them:
restore an account or API client, restore one API key, suspend an account or client,
read a client's containment (rempart.guard.guard.Guard delegates here).

An API client is the guard's account `client:<id>`, each DPoP key a session of it
(rempart.guard.gate). Its profile keeps the keys the guard suspended on their own until
an operator restores them, and the keys refused while the client was suspended until
the client's restore (rempart.guard.rungs.Rungs.keep_key).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rempart.guard.journal import ContainmentJournal
from rempart.guard.profile import AccountProfile
from rempart.guard.state import GuardState

OPERATOR_SUSPENSION = "suspended by an operator from the security console"


@dataclass(frozen=True, slots=True)
class KeyStanding:
    """One key (guard session) of a client as the guard holds it."""

    session_id: str
    suspended: bool  # on its own: only restore_key lifts it
    with_client: bool  # refused while the client was suspended: its restore lifts it
    step_up_pending: bool


@dataclass(frozen=True, slots=True)
class ClientStanding:
    suspended: bool
    reasons: tuple[str, ...]
    keys: tuple[KeyStanding, ...]


class Operations:
    def __init__(self, *, state: GuardState, journal: ContainmentJournal,
                 end_session: Callable[[str], None]) -> None:
        self._state = state
        self._journal = journal
        self._end_session = end_session

    def restore_account(self, key: str) -> None:
        """After the owner renewed their credentials: the account's recent windows,
        step-up history and tainted devices start afresh."""
        self._state.lift_account_suspension(key)
        profile = self._state.account(key)
        if profile is not None:
            # The API client's keys refused while it was suspended start afresh; those
            # the guard suspended on their own stay so (restore_key).
            for session_id in profile.keys_with_client:
                self._end_session(session_id)
            profile.keys_with_client = ()
            profile.suspended = False
            profile.suspension = ()
            profile.forget_recent()
            profile.step_ups_asked = profile.step_ups_passed = 0.0
            profile.tainted.clear()
            self._state.save_account(key, profile)
        self._journal.lifted(key, profile)

    def restore_key(self, key: str, session_id: str) -> bool:
        profile = self._state.account(key)
        if profile is None or session_id not in profile.suspended_keys:
            return False
        profile.suspended_keys = tuple(k for k in profile.suspended_keys if k != session_id)
        session = self._state.session(session_id)
        if session is not None:
            profile.tainted.pop("d:" + session.device, None)
        self._end_session(session_id)
        self._state.save_account(key, profile)
        self._journal.note(key, profile, None, None)
        return True

    def suspend_account(self, key: str, created: float) -> None:
        profile = self._state.account(key) or AccountProfile.new(created)
        if profile.suspended:
            return
        profile.suspended = True
        profile.suspension = ("account suspended pending review", OPERATOR_SUSPENSION)
        self._state.save_account(key, profile)
        self._journal.note(key, profile, None, None)

    def standing(self, key: str, sessions: Sequence[str]) -> ClientStanding:
        """The account's suspension and, for its kept keys and `sessions` (keys known
        elsewhere, e.g. asked for a step-up), how each stands."""
        profile = self._state.account(key)
        if profile is None:
            return ClientStanding(suspended=False, reasons=(), keys=())
        kept = (*profile.suspended_keys, *profile.keys_with_client)
        keys = []
        for session_id in dict.fromkeys((*kept, *sessions)):
            session = self._state.session(session_id)
            keys.append(KeyStanding(
                session_id=session_id, suspended=session_id in profile.suspended_keys,
                with_client=session_id in profile.keys_with_client,
                step_up_pending=(session is not None and session.step_up_required
                                 and not session.suspended)))
        return ClientStanding(suspended=profile.suspended, reasons=profile.suspension,
                              keys=tuple(keys))
