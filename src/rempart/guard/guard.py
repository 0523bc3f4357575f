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
from rempart.core.care import Profession
from rempart.guard import limits_check as lim
from rempart.guard.alerts import AlertSink
from rempart.guard.campaign import HOUR_S, CampaignWatch, origin_novelty, still_young
from rempart.guard.ceilings import Ceilings, LimitPolicy, ceilings_for, learnt_nothing
from rempart.guard.clockwatch import ClockWatch, check_ts
from rempart.guard.context import CheckContext, EntityId, LookupOutcome, SizeClass
from rempart.guard.decision import Action, Decision, Evidence
from rempart.guard.evidence import (
    Usual,
    composition_evidence,
    history_evidence,
    novelty_evidence,
    timing_evidence,
    usual_and_judged,
    volume_evidence,
)
from rempart.guard.journal import NO_JOURNAL, ContainmentJournal
from rempart.guard.ladder import NOTHING, LadderPolicy, assess
from rempart.guard.learning import Learner
from rempart.guard.netblock import address_block
from rempart.guard.operator import ClientStanding, Operations
from rempart.guard.peers import PeerPrior, PeerProfiles
from rempart.guard.profile import AccountProfile, SessionState
from rempart.guard.rungs import BLOCK_DISTRUST_S, DISTRUST_AFTER, Rungs
from rempart.guard.shared import NO_SHARED_NETWORKS, SharedNetworks
from rempart.guard.state import GuardState
from rempart.guard.timeslots import LocalSlots

CLAIM_WINDOW_S = 2 * 86400
MAX_INTERVAL_GAP_S = 900.0
CACHE_MAX = 100_000


class StepUpFactor(enum.StrEnum):
    PASSKEY = "passkey"
    TOTP = "totp"
    RECOVERY = "recovery"  # a one-time recovery code: no more credit than TOTP


class Guard:
    def __init__(self, *, state: GuardState, profiles: PeerProfiles, clock: Clock,
                 alerts: AlertSink, limits: LimitPolicy | None = None,
                 ladder: LadderPolicy | None = None, timezone: str = "Europe/Paris",
                 claim_window_s: float = CLAIM_WINDOW_S,
                 shared: SharedNetworks = NO_SHARED_NETWORKS,
                 journal: ContainmentJournal = NO_JOURNAL,
                 watch: ClockWatch | None = None) -> None:
        self._state = state
        self._watch = watch
        self._journal = journal
        self._profiles = profiles
        self._clock = clock
        self._alerts = alerts
        self._limits = limits or LimitPolicy()
        self._ladder = ladder or LadderPolicy()
        self._slots = LocalSlots(timezone)
        self._shared = shared
        self._campaign = CampaignWatch(state.windows)
        self._hourly_cache: dict[
            str, tuple[float, PeerPrior, Ceilings, Usual]] = {}
        self._cold_cache: dict[tuple[Profession, SizeClass], tuple[
            PeerPrior, Ceilings, Usual]] = {}
        self._claim_window_s = claim_window_s
        self._learner = Learner(state=state, slots=self._slots, claim_window_s=claim_window_s)
        # Constant per backend: read once, not through a property twice per check.
        self._windows = state.windows
        self._asks_ahead = state.asks_ahead
        # A lock that serial() gives for every account (in process), or None (Redis).
        self.one_serial: AbstractContextManager[object] | None = getattr(state, "one_serial", None)
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
        if self._asks_ahead:
            # Every count _judge_before may read, fetched with the state (reads change
            # nothing).
            self._state.ask_ahead(str(ctx.account_id), ts=ts,
                                  hits=(*keys.check, *keys.distrust, keys.sessions))
        profile, session = self._load(ctx, ts, prior, keys)
        session.note_attempt(ts, MAX_INTERVAL_GAP_S)
        decision = self._rungs.standing(ctx, ts, profile, session, block)
        if decision is None:
            decision = self._judge_before(ctx, ts, prior, profile, session, keys)
            if decision.action is not Action.ALLOW:  # record does nothing for ALLOW
                self._rungs.record(ctx, profile, session, decision)
        self._save(ctx, profile, session, later=decision.action is Action.ALLOW)
        return decision

    def after_lookup(self, ctx: CheckContext, outcome: LookupOutcome) -> Decision:
        ts = check_ts(ctx, self._watch)  # its before_check's
        prior = self._profiles.prior(ctx.profession, ctx.size_class)
        keys = self._keys(ctx)  # its before_check's
        block = keys.block
        if self._asks_ahead:
            self._state.ask_ahead(
                str(ctx.account_id), ts=ts, matured=True,
                person_key=outcome.person_key if outcome.matched else None,
                hits=(keys.sessions,
                      *(() if outcome.matched else lim.failure_keys(keys, self._limits))))
        profile, session = self._load(ctx, ts, prior, keys)
        standing = self._rungs.standing(ctx, ts, profile, session, block)
        if standing is not None:  # suspended meanwhile: the answer must not leave
            self._save(ctx, profile, session)
            return standing
        retry = not outcome.matched and session.is_retry(outcome.attempt_key, ts)
        new, far = self._learner.observe(ctx, ts, outcome, profile, session, retry=retry)
        young = still_young(session.young, session.started, ts)
        sessions = self._campaign.record(fresh=session.fresh, keys=keys,
                                         matched=outcome.matched, far=far, ts=ts, young=young)
        ceilings, usual = self._hourly(ctx, ts, prior, profile)
        session.composition = tuple(composition_evidence(profile, session, prior, usual))
        evidence = [*session.novelty, *session.pending, *session.composition,
                    *self._pooled(profile, session, sessions, ts, young)]
        if outcome.near_miss and outcome.person_key:
            repeats = session.note_near_miss(outcome.person_key, ts, retry=retry)
            if repeats >= 2:
                evidence.append(Evidence("near_miss.repeat", 10.0 * (repeats - 1), (
                    f"the same person nearly matched {repeats} times in this session "
                    "with different details")))
        limit = lim.NO_BREACH
        if not outcome.matched:
            raw = self._windows.hit(lim.failure_keys(keys, self._limits), ts)
            breaches = lim.failure_breaches(lim.Counts.failures_from(raw), ceilings,
                                            self._limits)
            limit = lim.verdict(breaches, self._limits)
        decision = self._rungs.decide(
            ts, profile, session, assess(evidence, self._ladder) if evidence else NOTHING, limit)
        if decision.action is Action.ALLOW:
            self._learner.after_allowed(
                ctx, ts, outcome, profile, session, block, new, far,
                unremarkable=decision.score < self._ladder.learn_below + session.credit)
        else:  # record does nothing for ALLOW
            self._rungs.record(ctx, profile, session, decision)
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
                                self._shared.scope(ctx.address, ctx.organisation_id))
            object.__setattr__(ctx, "keys", keys)  # a memo on a frozen context
        return keys

    def _load(self, ctx: CheckContext, ts: float, prior: PeerPrior,
              keys: lim.CheckKeys) -> tuple[AccountProfile, SessionState]:
        account_id = str(ctx.account_id)
        block = keys.block
        found, session = self._state.load_pair(account_id, ctx.session_id)
        profile = found or AccountProfile.new(ts)
        if session is None or session.account_id != account_id:
            session = SessionState(account_id=account_id, device=ctx.device_id, block=block,
                                   network=ctx.network, started=ts, last=ts)
            session.novelty = (*novelty_evidence(profile, prior, device=ctx.device_id,
                                                 block=block),
                               *history_evidence(profile, ts, prior.noun))
            self._note_fresh(profile, session, ctx.device_id, keys, ts)
            if ctx.session_id in profile.suspended_keys or (
                    profile.suspended and ctx.session_id in profile.keys_with_client):
                # An API key contained, idle long enough to be forgotten (Rungs.keep_key).
                session.suspended = True
            elif profile.is_tainted(ctx.device_id, block, ts):
                # Where a step-up went unanswered, the next session is asked again first.
                session.step_up_required = True
                session.step_up_reasons = (
                    "this device or network was last used in a session of this account that "
                    "was asked for a second factor and never gave it",)

        if session.scope != keys.scope:
            session.scope = keys.scope
        profile.last = max(profile.last, ts)
        return profile, session

    def _note_fresh(self, profile: AccountProfile, session: SessionState,
                    device: str, keys: lim.CheckKeys, ts: float) -> None:
        """Whether a new session is fresh: from a device or block that is not its
        account's own, on an account that has one (rempart.guard.campaign)."""
        fresh, foreign, young = origin_novelty(profile, device=device, block=keys.block, ts=ts)
        session.fresh, session.foreign_block, session.young = fresh, foreign, young
        self._campaign.opened(digest=keys.block_digest, fresh=fresh, foreign_block=foreign,
                              ts=ts)

    def _hourly(self, ctx: CheckContext, ts: float, prior: PeerPrior,
                profile: AccountProfile) -> tuple[Ceilings, Usual]:
        """An account's ceilings and usual rates, recomputed once an hour of the clock
        (habits move slowly), in a cache local to this process."""
        if learnt_nothing(profile, prior):
            # A new account is its peer group (most accounts on their first checks):
            # one entry per peer group, not one per account.
            cold = self._cold_cache.get((ctx.profession, ctx.size_class))
            if cold is None or cold[0] is not prior:
                cold = (prior, ceilings_for(self._limits, prior, profile),
                        usual_and_judged(profile, prior))
                self._cold_cache[(ctx.profession, ctx.size_class)] = cold
            return cold[1], cold[2]
        key = str(ctx.account_id)
        hour = ts // 3600
        found = self._hourly_cache.get(key)
        if found is None or found[0] != hour or found[1] is not prior:
            if len(self._hourly_cache) >= CACHE_MAX:
                self._hourly_cache.clear()
            found = (hour, prior, ceilings_for(self._limits, prior, profile),
                     usual_and_judged(profile, prior))
            self._hourly_cache[key] = found
        return found[2], found[3]

    def _pooled(self, profile: AccountProfile, session: SessionState, sessions: float,
                ts: float, young: bool | None = None) -> list[Evidence]:
        """Evidence from the whole platform, for sessions from a device or network their
        account has not confirmed (`sessions`: opened from the network in the hour;
        `young`: still_young's, where the caller has it)."""
        if not session.fresh and session.block in profile.blocks:
            return []
        if young is None:
            young = still_young(session.young, session.started, ts)
        if not CampaignWatch.may_apply(sessions, session.fresh, young, session.far):
            return []
        return self._campaign.evidence(block=session.wide, sessions=sessions,
                                       fresh=session.fresh,
                                       foreign_block=session.foreign_block, ts=ts,
                                       own=(session.checks, session.far + session.fail),
                                       young=young,
                                       own_far=(session.far_known, session.far),
                                       places=session.far_places)

    def _save(self, ctx: CheckContext, profile: AccountProfile, session: SessionState, *,
              later: bool = False) -> None:
        self._state.save_pair(str(ctx.account_id), profile, ctx.session_id, session,
                              later=later)

    def _judge_before(self, ctx: CheckContext, ts: float, prior: PeerPrior,
                      profile: AccountProfile, session: SessionState,
                      check_keys: lim.CheckKeys) -> Decision:
        windows = self._windows
        policy = self._limits
        block = check_keys.block
        # After the limits' seven counts, read only where they are used: the block's
        # step-ups asked and answered (a block new to the account, no step-up pending),
        # and the sessions opened from it in the hour (see _pooled).
        keys = check_keys.check
        distrust = (not session.step_up_required and session.max_action < Action.STEP_UP
                    and block not in profile.blocks)
        if distrust:
            keys = (*keys, *check_keys.distrust)
        pooled = session.fresh or session.block not in profile.blocks
        if pooled:
            keys = (*keys, check_keys.sessions)
        raw = windows.hit(keys, ts)
        counts = lim.Counts.from_check(raw)
        opened = raw[-1][0] if pooled else 0.0
        if distrust and raw[7][0] - raw[8][0] >= DISTRUST_AFTER:
            # One attacker, many stolen accounts, one network: what it did with one
            # account is held against the others before they read more. Once: a
            # session that answered a step-up has shown who holds it.
            session.step_up_required = True
            session.step_up_reasons = (
                "this network was used lately in a session of another account that was "
                "asked for a second factor and never gave it",)
        ceilings, usual = self._hourly(ctx, ts, prior, profile)
        breaches = (lim.check_breaches(counts, ceilings, policy, prior.noun)
                    + lim.failure_breaches(counts.failures, ceilings, policy))
        session.counts = (counts.session_minute, counts.account_hour, counts.account_day)
        slot, _, when = self._slots.at(ts)
        expected_hour, expected_day = profile.expected_volume(ts, slot, prior)
        session.pending = (
            *volume_evidence(expected_hour=expected_hour, expected_day=expected_day,
                             hour_count=counts.account_hour, day_count=counts.account_day,
                             minute_count=counts.session_minute, noun=prior.noun,
                             when=when),
            *timing_evidence(session))
        if session.attempts == 1:
            # A new session of an account whose recent checks already look wrong is
            # judged on them before it reads anything; later checks of the session
            # reuse what their last lookup showed.
            session.composition = tuple(composition_evidence(profile, session, prior, usual))
        evidence = [*session.novelty, *session.pending, *session.composition,
                    *self._pooled(profile, session, opened, ts)]
        return self._rungs.decide(ts, profile, session,
                                  assess(evidence, self._ladder) if evidence else NOTHING,
                                  lim.verdict(breaches, policy))
