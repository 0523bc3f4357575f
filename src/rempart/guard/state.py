"""Where the guard keeps what it learns: the GuardState protocol and its memory backend.

One machine keeps everything in process (MemoryGuardState); several machines share
it through Redis (rempart.guard.redis_state). Either way the state per account and
per session is bounded, idle sessions are forgotten, and pending claims are capped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from rempart.clock import Clock
from rempart.guard.counters import SlidingWindows
from rempart.guard.errors import GuardUnavailable
from rempart.guard.netwatch import MemoryNetworkLedger
from rempart.guard.patients import Patients, added, generation, positions, seen_in
from rempart.guard.profile import AccountProfile, PendingCheck, SessionState
from rempart.ratelimit import ClockedMemoryStorage

SESSION_IDLE_S = 12 * 3600
MAX_SESSIONS = 200_000
MAX_PENDING_PER_ACCOUNT = 5_000
# A pending check's (claim deadline, reference).
_Queued = tuple[float, str]


class GuardState(Protocol):
    """Everything the guard reads and writes, per account, session and pending claim."""

    @property
    def windows(self) -> SlidingWindows: ...

    def serial(self, key: str | None) -> AbstractContextManager[object]:
        """Held around each guard call about an account (`key`; None: about a session, or
        anything): the calls about one account are then one after the other in this
        process, and whatever the backend keeps per call is the caller's alone."""
        ...

    def account(self, account_id: str) -> AccountProfile | None: ...

    def save_account(self, account_id: str, profile: AccountProfile) -> None:
        """Store the profile. A suspension it carries stands until lifted: saving a copy
        read before the suspension must not undo it (another machine may have made it)."""
        ...

    def lift_account_suspension(self, account_id: str) -> None:
        """An operator restored the account: its next saved profile may be unsuspended."""
        ...

    def session(self, session_id: str) -> SessionState | None: ...

    def save_session(self, session_id: str, session: SessionState) -> None: ...

    def drop_session(self, session_id: str) -> None: ...

    @property
    def asks_ahead(self) -> bool:
        """Whether ask_ahead does anything (the guard skips building what it would ask)."""
        ...

    def ask_ahead(self, account_id: str, *, hits: Sequence[tuple[str, int, int]], ts: float,
                  person_key: str | None = None, matured: bool = False) -> None:
        """What a check step is about to ask, for the next load_pair to fetch with the
        state (one round trip on Redis): the counter hits `windows.hit` will make, and
        whether `person_key` was seen and which of the account's claims came due
        (`patient_seen`, `matured_claims`). Increments asked ahead and not used by the
        step's save_pair are taken back. Nothing to do in memory."""
        ...

    def load_pair(self, account_id: str,
                  session_id: str) -> tuple[AccountProfile | None, SessionState | None]:
        """account() and session() together (one round trip where it matters)."""
        ...

    def save_pair(self, account_id: str, profile: AccountProfile, session_id: str,
                  session: SessionState, *, later: bool = False) -> None:
        """save_account() and save_session() together, ending a check step. `later`: the
        check goes on (its look-up, then after_lookup), so on Redis the writes may ride
        with its next round trip instead of one of their own."""
        ...

    def flush(self) -> None:
        """Send the writes still waiting for a round trip (Redis; nothing in memory)."""
        ...

    def patient_seen(self, account_id: str, person_key: str, ts: float) -> bool: ...

    def remember_patient(self, account_id: str, person_key: str, ts: float) -> None: ...

    def add_pending_claim(self, account_id: str, reference: str, deadline: float,
                          check: PendingCheck) -> None: ...

    def settle_claim(self, reference: str) -> tuple[str, PendingCheck] | None:
        """Remove a pending check reference; its account and what was seen, if pending."""
        ...

    def matured_claims(self, account_id: str, ts: float) -> int:
        """Remove and count this account's pending checks whose claim window has passed."""
        ...


class MemoryGuardState:
    """In-process state for one machine. Not shared: use Redis when scaling out.

    Safe to call from several threads; two checks of one account at the same instant
    may each update its statistics from the same starting point (one update lost),
    which moves a figure by one check in hundreds."""

    def __init__(self, clock: Clock) -> None:
        self._windows = SlidingWindows(ClockedMemoryStorage(clock))
        self._accounts: dict[str, AccountProfile] = {}
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()
        self._saves = 0
        self._lock = threading.Lock()
        # One for every key: profiles are shared objects changed in place. Offered as
        # `one_serial` too, for the check path to hold without a call (Guard.one_serial).
        self._serial = self.one_serial = threading.Lock()
        self._patients: dict[str, Patients] = {}
        self._pending: dict[str, tuple[str, PendingCheck]] = {}
        # Per account, its pending references by deadline: the one (deadline, reference)
        # of an account with one pending check (most accounts a server sees in a day),
        # a deque from the second on (an empty deque is ~600 bytes; a tuple ~60).
        self._pending_by_account: dict[str, _Queued | deque[_Queued]] = {}
        self._networks = MemoryNetworkLedger()
        # Set while the saved state could not be read at start (hold_checks).
        self._held: Callable[[], object] | None = None

    @property
    def windows(self) -> SlidingWindows:
        return self._windows

    def network_ledger(self) -> MemoryNetworkLedger:
        """The organisations seen through the listed shared networks (netwatch)."""
        return self._networks

    def serial(self, key: str | None) -> AbstractContextManager[object]:
        return self._serial

    def account(self, account_id: str) -> AccountProfile | None:
        return self._accounts.get(account_id)

    def save_account(self, account_id: str, profile: AccountProfile) -> None:
        self._accounts[account_id] = profile

    def lift_account_suspension(self, account_id: str) -> None:
        """Nothing to do: in one process a profile is one object, changed in place, so no
        copy read before a suspension is ever saved after it."""

    def session(self, session_id: str) -> SessionState | None:
        return self._sessions.get(session_id)

    def save_session(self, session_id: str, session: SessionState) -> None:
        sessions = self._sessions
        with self._lock:  # the web app calls from several threads
            sessions[session_id] = session
            sessions.move_to_end(session_id)
            self._saves += 1
            if self._saves % 64:
                return
            # Sessions are kept in order of last use: forget the idle ones at the front.
            while sessions:
                oldest_id, oldest = next(iter(sessions.items()))
                if oldest.last >= session.last - SESSION_IDLE_S and len(sessions) <= MAX_SESSIONS:
                    break
                del sessions[oldest_id]

    def drop_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    # -- for rempart.guard.persist (a copy of what is kept, read off the check path) -----

    def hold_checks(self, ready: Callable[[], object]) -> None:
        """Refuse every check (GuardUnavailable: 503, nothing disclosed) until `ready()`
        returns instead of raising: the saved state could not be read at start, and
        checking without it would lift its containments. An attribute load_pair tests,
        not a method replaced on the instance: a compiled guard (mypyc) has no instance
        dict, and its callers bind load_pair natively."""
        self._held = ready

    def _load_held(self) -> None:
        ready = self._held
        if ready is None:
            return
        try:
            ready()
        except Exception as exc:
            raise GuardUnavailable("loading its saved state") from exc
        self._held = None

    def account_ids(self) -> list[str]:
        return list(self._accounts)

    def patients(self, account_id: str) -> Patients | None:
        return self._patients.get(account_id)

    def put_patients(self, account_id: str, patients: Patients) -> None:
        self._patients[account_id] = patients

    def contained_sessions(self) -> list[tuple[str, SessionState]]:
        """The sessions suspended or waiting for a step-up (a few among many)."""
        with self._lock:
            return [(key, s) for key, s in self._sessions.items()
                    if s.suspended or s.step_up_required]

    @property
    def asks_ahead(self) -> bool:
        return False

    def ask_ahead(self, account_id: str, *, hits: Sequence[tuple[str, int, int]], ts: float,
                  person_key: str | None = None, matured: bool = False) -> None:
        """Nothing: in process every read is at hand."""

    def load_pair(self, account_id: str,
                  session_id: str) -> tuple[AccountProfile | None, SessionState | None]:
        if self._held is not None:
            self._load_held()
        return self._accounts.get(account_id), self._sessions.get(session_id)

    def save_pair(self, account_id: str, profile: AccountProfile, session_id: str,
                  session: SessionState, *, later: bool = False) -> None:
        if (later and self._sessions.get(session_id) is session
                and self._accounts.get(account_id) is profile):
            # Changed in place and saved again by the check's next step: only new
            # objects need storing now (in case the look-up fails).
            return
        self._accounts[account_id] = profile
        self.save_session(session_id, session)

    def flush(self) -> None:
        """Nothing waits in process."""

    def patient_seen(self, account_id: str, person_key: str, ts: float) -> bool:
        found = self._patients.get(account_id)
        return found is not None and seen_in(found, positions(account_id, person_key),
                                             generation(ts))

    def remember_patient(self, account_id: str, person_key: str, ts: float) -> None:
        patients = self._patients
        found = patients.get(account_id)
        now = added(found, positions(account_id, person_key), generation(ts))
        if now is not found:
            patients[account_id] = now

    def add_pending_claim(self, account_id: str, reference: str, deadline: float,
                          check: PendingCheck) -> None:
        self._pending[reference] = (account_id, check)
        queue = self._pending_by_account.get(account_id)
        if queue is None:
            self._pending_by_account[account_id] = (deadline, reference)
            return
        if isinstance(queue, tuple):
            queue = self._pending_by_account[account_id] = deque((queue,))
        queue.append((deadline, reference))
        if len(queue) > MAX_PENDING_PER_ACCOUNT:
            _, dropped = queue.popleft()
            self._pending.pop(dropped, None)

    def settle_claim(self, reference: str) -> tuple[str, PendingCheck] | None:
        return self._pending.pop(reference, None)

    def matured_claims(self, account_id: str, ts: float) -> int:
        queue = self._pending_by_account.get(account_id)
        if isinstance(queue, tuple):
            if queue[0] > ts:
                return 0
            del self._pending_by_account[account_id]
            return 1 if self._pending.pop(queue[1], None) is not None else 0
        matured = 0
        while queue and queue[0][0] <= ts:
            _, reference = queue.popleft()
            if self._pending.pop(reference, None) is not None:
                matured += 1
        return matured
