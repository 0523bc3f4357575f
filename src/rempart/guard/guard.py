"""The exfiltration guard: asked before each check and again before its answer leaves.

    decision = guard.before_check(ctx)            # limits, session binding, volume, timing
    ... lookup ...
    decision = guard.after_lookup(ctx, outcome)   # who the patient is, failures, claims
    if not decision.discloses: withhold the answer (429 / step-up / 401 / 403)

and told when claims arrive (on_claim), when a user stepped up (on_step_up), when a
session ends (end_session) and when an operator restores an account. Everything is
computed from the check's time (the injected clock) and the inputs, so a run is
reproducible. It learns from a covered check only once its claim arrives (see
rempart.guard.learning), and from nothing it refused. Served, its time is a ClockWatch's.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from contextlib import AbstractContextManager

from rempart.clock import Clock
from rempart.guard import limits_check as lim
from rempart.guard import network_limits as nl
from rempart.guard.alerts import AlertSink
from rempart.guard.campaign import (
    ESTABLISHED_S,
    HOUR_S,
    NETWORK_SESSIONS,
    YOUNG_OWN,
    CampaignWatch,
)
from rempart.guard.ceilings import LimitPolicy
from rempart.guard.clockwatch import ClockWatch, check_ts
from rempart.guard.context import Carried, CheckContext, EntityId, LookupOutcome
from rempart.guard.decision import ALLOW, Action, Decision, Evidence
from rempart.guard.evidence import (
    MIN_INTERVALS,
    composition_evidence,
    timing_evidence,
    volume_evidence,
)
from rempart.guard.hourly import HourlyModel
from rempart.guard.journal import NO_JOURNAL, ContainmentJournal
from rempart.guard.ladder import NOTHING, LadderPolicy, assess
from rempart.guard.learning import Learner
from rempart.guard.loading import load
from rempart.guard.netblock import address_block
from rempart.guard.netwatch import NetworkWatch
from rempart.guard.operator import ClientStanding, Operations
from rempart.guard.peers import PeerPrior, PeerProfiles
from rempart.guard.profile import AccountProfile, SessionState
from rempart.guard.rungs import BLOCK_DISTRUST_S, DISTRUST_AFTER, Rungs
from rempart.guard.shared import NO_SHARED_NETWORKS, SharedNetworks
from rempart.guard.state import GuardState
from rempart.guard.timeslots import LocalSlots

CLAIM_WINDOW_S = 2 * 86400
MAX_INTERVAL_GAP_S = 900.0
_new_tuple = tuple.__new__


class StepUpFactor(enum.StrEnum):
    PASSKEY = "passkey"
    TOTP = "totp"
    RECOVERY = "recovery"  # a one-time recovery code: no more credit than TOTP


class Guard:
    def __init__(self, *, state: GuardState, profiles: PeerProfiles, clock: Clock,
                 alerts: AlertSink, limits: LimitPolicy | None = None,
                 ladder: LadderPolicy | None = None, timezone: str = "Europe/Paris",
                 claim_window_s: float = CLAIM_WINDOW_S, watch: ClockWatch | None = None,
                 shared: SharedNetworks = NO_SHARED_NETWORKS,
                 journal: ContainmentJournal = NO_JOURNAL) -> None:
        self._state = state
        self._watch = watch
        self._journal = journal
        self._profiles = profiles
        self._clock = clock
        self._alerts = alerts
        self._limits = limits or LimitPolicy()
        self._ladder = ladder or LadderPolicy()
        self._slots = LocalSlots(timezone)
        # Its scope look-up, or None without a listed network (most instances): no call.
        self._scope = shared.scope if shared.entries else None
        self.network_watch = NetworkWatch.of(shared, state=state, alerts=alerts)  # or None
        self._campaign = CampaignWatch(state.windows)
        self._hourly_model = HourlyModel(self._limits)
        self._hourly = self._hourly_model.at
        self._claim_window_s = claim_window_s
        self._learner = Learner(state=state, slots=self._slots, claim_window_s=claim_window_s)
        # Constant per backend: read once, not through a property twice per check.
        self._windows = state.windows
        self._asks_ahead = state.asks_ahead
        # A lock that serial() gives for every account (in process), or None (Redis).
        self.one_serial: AbstractContextManager[object] | None = getattr(state, "one_serial", None)
        # Only in process do the after-step's objects stay the before-step's (Carried).
        self._carries = self.one_serial is not None
        self._rungs = Rungs(ladder=self._ladder, windows=state.windows, alerts=alerts,
                            journal=journal)
        self._operations = Operations(state=state, journal=journal,
                                      end_session=lambda s: self.end_session(session_id=s))

    def serial(self, account_id: EntityId | None) -> AbstractContextManager[object]:
        """Hold around each call about this account (None: about a session, or anything)
        from threads that call the guard at once (rempart.guard.gate): calls about one
        account are one after the other, calls about others may run meanwhile."""
        return self._state.serial(None if account_id is None else str(account_id))

    # -- the check path ----------------------------------------------------------------

    def before_check(self, ctx: CheckContext) -> Decision:
        ts = check_ts(ctx, self._watch)
        prior = self._profiles.prior(ctx.profession, ctx.size_class)
        keys = self._keys(ctx)
        block = keys.block
        if self.network_watch is not None:
            self.network_watch.note(ctx.address, ctx.organisation_id, ts)
        if self._asks_ahead:
            # Every count _judge_before may read, fetched with the state (reads change
            # nothing).
            self._state.ask_ahead(str(ctx.account_id), ts=ts,
                                  hits=(*keys.check, *(keys.network or ()), *keys.distrust,
                                        keys.sessions))
        profile, session, opening = load(self._state, self._campaign, ctx, ts, prior, keys,
                                         opening_later=self._carries)
        session.note_attempt(ts, MAX_INTERVAL_GAP_S)
        decision = None
        if (profile.suspended or session.suspended or session.step_up_required
                or ctx.device_id != session.device or block != session.block
                or (ctx.network and session.network and ctx.network != session.network)):
            # Rungs.standing answers None otherwise (nearly every check): not asked.
            decision = self._rungs.standing(ctx, ts, profile, session, block)
        if decision is None:
            decision = self._judge_before(ctx, ts, prior, profile, session, keys, opening)
            if decision.action is not Action.ALLOW:  # record does nothing for ALLOW
                self._rungs.record(ctx, profile, session, decision)
        elif opening:  # not counted by _judge_before's hit
            self._campaign.opened(digest=keys.block_digest, fresh=False, foreign_block=False,
                                  ts=ts)
        self._save(ctx, profile, session, later=decision.action is Action.ALLOW)
        return decision

    def after_lookup(self, ctx: CheckContext, outcome: LookupOutcome) -> Decision:
        ts = ctx.ts  # its before_check's (check_ts), read inline
        if ts is None:
            ts = check_ts(ctx, self._watch)
        carried = self._carried(ctx)
        if carried is not None:
            # In process, its before_check's objects are still the state's (a session
            # ended or replaced meanwhile is loaded afresh below): the same as loading
            # them again, and its hour's ceilings and usual rates.
            keys, prior, profile, session, ceilings, usual = carried[1:]
        else:
            prior = self._profiles.prior(ctx.profession, ctx.size_class)
            keys = self._keys(ctx)  # its before_check's
            if self._asks_ahead:
                self._state.ask_ahead(
                    str(ctx.account_id), ts=ts, matured=True,
                    person_key=outcome.person_key if outcome.matched else None,
                    hits=(keys.sessions,
                          *(() if outcome.matched else lim.failure_keys(keys, self._limits))))
            profile, session, _ = load(self._state, self._campaign, ctx, ts, prior, keys)
            ceilings, usual = None, None
        block = keys.block
        standing = None
        if (profile.suspended or session.suspended or session.step_up_required
                or ctx.device_id != session.device or block != session.block
                or (ctx.network and session.network and ctx.network != session.network)):
            standing = self._rungs.standing(ctx, ts, profile, session, block)  # as above
        if standing is not None:  # suspended meanwhile: the answer must not leave
            self._save(ctx, profile, session)
            return standing
        retry = not outcome.matched and session.is_retry(outcome.attempt_key, ts)
        new, far = self._learner.observe(ctx, ts, outcome, profile, session, retry=retry)
        young = session.young and ts - session.started < ESTABLISHED_S  # still_young
        sessions = self._campaign.record(fresh=session.fresh, keys=keys,
                                         matched=outcome.matched, far=far, ts=ts, young=young)
        if ceilings is None or usual is None:
            ceilings, usual = self._hourly(ctx, ts, prior, profile)
        session.composition = tuple(composition_evidence(profile, session, prior, usual))
        evidence = [*session.novelty, *session.pending, *session.composition,
                    *(self._campaign.pooled(profile, session, sessions, ts, young)
                      if sessions >= NETWORK_SESSIONS or session.fresh or (  # (*)
                          session.young and session.far >= YOUNG_OWN) else ())]
        if outcome.near_miss and outcome.person_key:
            repeats = session.note_near_miss(outcome.person_key, ts, retry=retry)
            if repeats >= 2:
                evidence.append(Evidence("near_miss.repeat", 10.0 * (repeats - 1), (
                    f"the same person nearly matched {repeats} times in this session "
                    "with different details")))
        limit = lim.NO_BREACH
        if not outcome.matched:
            raw = self._windows.hit(lim.failure_keys(keys, self._limits), ts)
            breaches = lim.failed_breaches(raw, ceilings, self._limits, ctx.network)
            limit = lim.verdict(breaches, self._limits)
        if not evidence and limit is lim.NO_BREACH and not session.step_up_required:
            session.last_score = 0.0  # Rungs.decide's first answer, without the call
            decision = ALLOW
        else:
            decision = self._rungs.decide(ts, profile, session, assess(evidence, self._ladder)
                                          if evidence else NOTHING, limit)
        if decision.action is Action.ALLOW:
            self._learner.after_allowed(
                ctx, ts, outcome, profile, session, block, new, far,
                unremarkable=decision.score < self._ladder.learn_below + session.credit)
        else:  # record does nothing for ALLOW
            self._rungs.record(ctx, profile, session, decision)
        # Saved as ever, carried or not: in process this keeps the sessions in order of
        # last use (MemoryGuardState.save_session), which forgets the idle ones.
        self._save(ctx, profile, session)
        return decision

    # -- what other services tell the guard --------------------------------------------

    def on_claim(self, *, check_reference: str, account_id: EntityId | None = None) -> bool:
        """A claim quoted this check: it was real care. The check is learnt from now (see
        PendingCheck). False if it was not pending (unknown, already claimed, claimed by
        another account, or its claim window had passed)."""
        found = self._state.settle_claim(check_reference)
        if found is None:
            return False
        owner, check = found
        if account_id is not None and str(account_id) != owner:
            # Not this account's check: leave it pending for its own claim.
            self._state.add_pending_claim(owner, check_reference,
                                          check.ts + self._claim_window_s, check)
            self._state.flush()
            return False
        profile = self._state.account(owner)
        if profile is not None:
            self._learner.claimed(profile, check)
            self._state.save_account(owner, profile)
        return True

    def on_step_up(self, *, session_id: str, factor: StepUpFactor) -> bool:
        """The user proved presence with a fresh second factor. The session adopts the
        device or network it moved to, and its current score becomes a credit: the next
        step-up needs that much more evidence; a passkey, which cannot be phished, earns
        a step-up's worth more. The suspensions still apply: False (nothing changed) for
        a session unknown or suspended, or of a suspended account."""
        session = self._state.session(session_id)
        if session is None or session.suspended:
            return False
        profile = self._state.account(session.account_id)
        if profile is not None and profile.suspended:
            return False
        session.step_up_required = False
        session.step_up_reasons = ()
        session.refused = 0
        bonus = self._ladder.step_up if factor is StepUpFactor.PASSKEY else 0.0
        session.credit = max(session.credit, session.last_score + bonus)
        if session.rebind is not None:
            device, block, network = session.rebind
            session.device, session.block = str(device), str(block)
            session.network = network
            session.rebind = None
        now = self._now()
        if profile is not None:
            profile.note_step_up(now, passed=True)
            if "b:" + session.block in profile.tainted:
                self._rungs.distrust(session.wide, now, answered=True)  # its owner after all
            profile.untaint(session.device, session.block)
            self._state.save_account(session.account_id, profile)
        self._state.save_session(session_id, session)
        self._journal.note(session.account_id, None, session_id, session)
        return True

    def end_session(self, *, session_id: str) -> None:
        self._state.drop_session(session_id)
        self._journal.ended(session_id)

    def restore_account(self, *, account_id: EntityId) -> None:
        """An operator lifted a suspension: the account starts afresh (operator.py)."""
        self._operations.restore_account(str(account_id))

    def restore_key(self, *, account_id: EntityId, session_id: str) -> bool:
        """An operator lifted one API key's suspension; False if none was kept."""
        return self._operations.restore_key(str(account_id), session_id)

    def suspend_account(self, *, account_id: EntityId) -> None:
        """An operator contained an account or API client, until restore_account."""
        self._operations.suspend_account(str(account_id), self._now())

    def standing(self, *, account_id: EntityId, sessions: Sequence[str] = ()) -> ClientStanding:
        """The account's suspension and its API keys'."""
        return self._operations.standing(str(account_id), sessions)

    # -- internals ---------------------------------------------------------------------

    def _now(self) -> float:
        """Now on the guard's time base (the watch's, served), outside a check."""
        return self._watch.ts() if self._watch is not None else self._clock.now().timestamp()

    def _keys(self, ctx: CheckContext) -> lim.CheckKeys:
        """The check's counter keys: made by its before_check, kept on its context for its
        after_lookup (made again for a context this guard's policy did not make them for)."""
        keys = ctx.keys
        if keys is None or keys.policy is not self._limits:
            keys = lim.keys_for(ctx, address_block(ctx.address), self._limits,
                                BLOCK_DISTRUST_S, HOUR_S,
                                None if self._scope is None
                                else self._scope(ctx.address, ctx.organisation_id))
            object.__setattr__(ctx, "keys", keys)  # a memo on a frozen context
        return keys

    def _carried(self, ctx: CheckContext) -> Carried | None:
        """Its before_check's objects, if this guard kept them and they are still the
        state's (in process; on Redis nothing is carried: other machines' writes)."""
        carried = ctx.carried
        if carried is None or carried[0] is not self:
            return None
        object.__setattr__(ctx, "carried", None)  # once: a context sent again loads
        found, session = self._state.load_pair(str(ctx.account_id), ctx.session_id)
        if found is not carried[3] or session is not carried[4]:
            return None
        return carried

    def _save(self, ctx: CheckContext, profile: AccountProfile, session: SessionState, *,
              later: bool = False) -> None:
        self._state.save_pair(str(ctx.account_id), profile, ctx.session_id, session, later=later)

    def _judge_before(self, ctx: CheckContext, ts: float, prior: PeerPrior,
                      profile: AccountProfile, session: SessionState,
                      check_keys: lim.CheckKeys, opening: bool = False) -> Decision:
        windows = self._windows
        policy = self._limits
        block = check_keys.block
        # After the limits' seven counts, read only where they are used: the block's
        # step-ups asked and answered (a block new to the account, no step-up pending),
        # and the sessions opened from it in the hour (see CampaignWatch.pooled).
        keys = check_keys.check
        network = check_keys.network
        if network is not None:  # the AS's four counts after the seven (network_limits)
            keys = (*keys, *network)
        after = len(keys)
        # Skipped where no block has a step-up left unanswered in its window (nearly
        # always, in process): the reads would find 0.
        distrust = (not session.step_up_required and session.max_action < Action.STEP_UP
                    and block not in profile.blocks and self._rungs.may_distrust(ts))
        if distrust:
            keys = (*keys, *check_keys.distrust)
        pooled = session.fresh or session.block not in profile.blocks
        if pooled:
            # A new account's session opening counted with the read (load's opening).
            keys = (*keys, (*check_keys.sessions[:2], 1) if opening else check_keys.sessions)
        raw = windows.hit(keys, ts)
        minute_count, hour_count, day_count = raw[0][0], raw[2][0], raw[3][0]
        opened = raw[-1][0] if pooled else 0.0
        if distrust and raw[after][0] - raw[after + 1][0] >= DISTRUST_AFTER:
            # One attacker, many stolen accounts, one network: what it did with one
            # account is held against the others before they read more. Once: a
            # session that answered a step-up has shown who holds it.
            session.step_up_required = True
            session.step_up_reasons = (
                "this network was used lately in a session of another account that was "
                "asked for a second factor and never gave it",)
        ceilings, usual = self._hourly(ctx, ts, prior, profile)
        if self._carries:
            object.__setattr__(ctx, "carried", _new_tuple(  # Carried(...) without its __new__
                Carried, (self, check_keys, prior, profile, session, ceilings, usual)))
        breaches: list[lim.Breach] = []
        if not lim.within(raw, ceilings):
            counts = lim.Counts.from_check(raw)
            breaches = (lim.check_breaches(counts, ceilings, policy, prior.noun)
                        + lim.failure_breaches(counts.failures, ceilings, policy))
        learns = network is not None and lim.judge_network(  # its AS's (network_limits)
            raw[7:11], ceilings, policy, ctx.network, breaches)
        session.counts = (minute_count, hour_count, day_count)
        slot, _, when = self._slots.at(ts)
        expected_hour, expected_day = self._hourly_model.volume(profile, ts, slot, prior)
        volume = volume_evidence(
            expected_hour=expected_hour, expected_day=expected_day,
            hour_count=hour_count, day_count=day_count, minute_count=minute_count,
            noun=prior.noun, when=when)
        # Timing only from MIN_INTERVALS intervals (timing_evidence's own first answer).
        intervals = session.intervals
        session.pending = (*volume, *(timing_evidence(session) if intervals is not None
                                      and len(intervals) >= MIN_INTERVALS else ()))
        if session.attempts == 1:
            # A new session of an account whose recent checks already look wrong is
            # judged on them before it reads anything; later checks of the session
            # reuse what their last lookup showed.
            session.composition = tuple(composition_evidence(profile, session, prior, usual))
        evidence = [*session.novelty, *session.pending, *session.composition,
                    *(self._campaign.pooled(profile, session, opened, ts)
                      # (*) CampaignWatch.may_apply with the session's young, which
                      # still_young only narrows: where it is False, pooled gives [].
                      if opened >= NETWORK_SESSIONS or session.fresh or (
                          session.young and session.far >= YOUNG_OWN) else ())]
        if not evidence and not breaches and not session.step_up_required:
            session.last_score = 0.0  # Rungs.decide's first answer, without the call
            if learns and network is not None:  # its AS learns from unremarkable checks
                windows.add(nl.learn(network), ts)
            return ALLOW
        return self._rungs.decide(ts, profile, session,
                                  assess(evidence, self._ladder) if evidence else NOTHING,
                                  lim.verdict(breaches, policy))
