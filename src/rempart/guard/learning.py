"""What the guard observes after a lookup, and what it learns — only once a claim confirms.

Recent windows see every check (they detect). The baselines — what this account
usually does — learn a covered check only when its claim arrives, with the session's
failed matches before it and, for a session's first covered check, the device and
network it came from (see PendingCheck). Scraping never earns a claim, so it never
trains the model. The daily peaks behind the rate ceilings are the one thing learnt at
once, from allowed checks whose score stayed low.
"""

from __future__ import annotations

from rempart.guard import rates as rw
from rempart.guard.context import CheckContext, LookupOutcome
from rempart.guard.geo import is_far
from rempart.guard.places import note_place
from rempart.guard.profile import AccountProfile, PendingCheck, SessionState
from rempart.guard.state import GuardState
from rempart.guard.timeslots import LocalSlots


class Learner:
    def __init__(self, *, state: GuardState, slots: LocalSlots, claim_window_s: float) -> None:
        self._state = state
        self._slots = slots
        self._claim_window_s = claim_window_s

    def observe(self, ctx: CheckContext, ts: float, outcome: LookupOutcome,
                 profile: AccountProfile, session: SessionState, *,
                 retry: bool = False) -> tuple[bool, bool | None]:
        """Count what this lookup found in the session and the account's recent windows.
        A failed check sent again with the same details (`retry`) is counted once."""
        rates = profile.rates
        account_id = str(ctx.account_id)
        if not retry:
            session.checks += 1
        new, far = False, None
        seen_new: bool | None = None  # observed in the account's windows when not None
        if outcome.matched and outcome.person_key:
            session.matched += 1
            new = not self._state.patient_seen(account_id, outcome.person_key, ts)
            session.new += new
            seen_new = new
            if outcome.departement:
                far = is_far(ctx.departement, outcome.departement)
                if far is not None:
                    session.far_known += 1
                    session.far += far
                    if far:
                        session.far_places = note_place(session.far_places,
                                                        outcome.departement)
        if not retry:
            session.fail += not outcome.matched
            session.near += outcome.near_miss
        rw.observe_check(rates, seen_new, far, None if retry else not outcome.matched,
                         None if retry else outcome.near_miss)
        for _ in range(self._state.matured_claims(account_id, ts)):
            rw.observe(rates, rw.UNCLAIMED, True)
            rw.learn(rates, rw.UNCLAIMED, True)
        return new, far

    def after_allowed(self, ctx: CheckContext, ts: float, outcome: LookupOutcome,
               profile: AccountProfile, session: SessionState, block: str, new: bool,
               far: bool | None, *, unremarkable: bool) -> None:
        """After an allowed check: remember the patient, and queue what is to be learnt
        for when a claim confirms the session was doing real care (see PendingCheck)."""
        account_id = str(ctx.account_id)
        matched = outcome.matched and outcome.person_key is not None
        if matched and outcome.person_key:
            self._state.remember_patient(account_id, outcome.person_key, ts)
        if not outcome.matched:
            session.unsettled_failures += 1
            session.unsettled_near += outcome.near_miss
        if matched and outcome.covered and outcome.check_reference:
            origin = None if session.origin_sent else (session.device, block, session.network)
            self._state.add_pending_claim(account_id, outcome.check_reference,
                                          ts + self._claim_window_s, _pending(
                                              ts, new, far, session.unsettled_failures,
                                              session.unsettled_near, origin))
            session.unsettled_failures = session.unsettled_near = 0
            session.origin_sent = True
        if unremarkable:
            _, day = self._slots.slot(ts)
            minute, hour, whole_day = session.counts or (0.0, 0.0, 0.0)
            profile.learn_peaks(day, minute, hour, whole_day)

    def claimed(self, profile: AccountProfile, check: PendingCheck) -> None:
        """A claim arrived: learn the check, the session's failures before it, its origin."""
        rates = profile.rates
        rw.observe(rates, rw.UNCLAIMED, False)
        rw.learn(rates, rw.UNCLAIMED, False)
        for index in range(check.failures):
            rw.learn(rates, rw.FAIL, True)
            rw.learn(rates, rw.NEAR_MISS, index < check.near_misses)
        rw.learn(rates, rw.FAIL, False)
        rw.learn(rates, rw.NEAR_MISS, False)
        rw.learn(rates, rw.NEW, check.new)
        if check.far is not None:
            rw.learn(rates, rw.FAR, check.far)
        profile.learned_checks += 1 + check.failures
        profile.learned_matched += 1
        slot, _ = self._slots.slot(check.ts)
        profile.learn_hour(check.ts, slot)
        if check.origin is not None:
            device, block, network = check.origin
            profile.learn_session(device, block, network, check.ts)


# PendingCheck's slot setters, in its fields' order (see _pending).
_SET_TS, _SET_NEW, _SET_FAR, _SET_FAILURES, _SET_NEAR, _SET_ORIGIN = (
    getattr(PendingCheck, name).__set__ for name in PendingCheck.__slots__)


def _pending(ts: float, new: bool, far: bool | None, failures: int, near_misses: int,
             origin: tuple[str, str, str | None] | None) -> PendingCheck:
    """PendingCheck(...) with every field given, made through its slots: a frozen
    dataclass's __init__ calls object.__setattr__ per field (every covered check makes
    one; as rempart.guard.context.new_context does for the context)."""
    check = object.__new__(PendingCheck)
    _SET_TS(check, ts)
    _SET_NEW(check, new)
    _SET_FAR(check, far)
    _SET_FAILURES(check, failures)
    _SET_NEAR(check, near_misses)
    _SET_ORIGIN(check, origin)
    return check
