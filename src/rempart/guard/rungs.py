"""Where a check lands on the containment ladder, and what each rung leaves behind.

The decisions that stand whatever a check looks like (a suspension, a session that
moved to another device or network, a step-up ignored too long), the rung a check's
evidence and ceilings reach (rempart.guard.ladder) with a pending step-up held, and
their traces: step-ups noted on the account, the session's device and network tainted,
the network distrusted for every account for a day, an alert each time a session
climbs. Split from rempart.guard.guard, which asks it at each check step.
"""

from __future__ import annotations

from rempart.guard import limits_check as lim
from rempart.guard.alerts import Alert, AlertSink
from rempart.guard.context import Channel, CheckContext
from rempart.guard.counters import SlidingWindows
from rempart.guard.decision import ALLOW, Action, Decision
from rempart.guard.journal import NO_JOURNAL, ContainmentJournal
from rempart.guard.ladder import NOTHING, Assessment, LadderPolicy, rung
from rempart.guard.profile import MAX_SUSPENDED_KEYS, AccountProfile, SessionState

# How long an address block stays distrusted platform-wide after one of its sessions
# was contained without answering (see Rungs.taint).
BLOCK_DISTRUST_S = 86400
# ...from the first such session (an honest user who steps up clears it).
DISTRUST_AFTER = 0.5
TOO_MANY_KEYS = (f"more than {MAX_SUSPENDED_KEYS} keys of this API client were suspended: "
                 "the client is suspended as a whole")


class Rungs:
    def __init__(self, *, ladder: LadderPolicy, windows: SlidingWindows,
                 alerts: AlertSink, journal: ContainmentJournal = NO_JOURNAL) -> None:
        self._ladder = ladder
        self._windows = windows
        self._alerts = alerts
        self._journal = journal
        self._in_process = windows.in_process

    def standing(self, ctx: CheckContext, ts: float, profile: AccountProfile,
                 session: SessionState, block: str) -> Decision | None:
        """Decisions that stand whatever this check looks like (`ts`: the check's time
        on the guard's time base, clockwatch.check_ts)."""
        if profile.suspended:
            session.suspended = True
            self.keep_key(ctx, profile)
            return Decision(Action.SUSPEND_ACCOUNT, list(profile.suspension))
        if session.suspended:
            # Kept when it was suspended (record): why is not known here any more.
            return Decision(Action.SUSPEND_SESSION, ["this session was suspended"])
        moved = []
        if ctx.device_id != session.device:
            moved.append("the session moved to another device")
        if block != session.block:
            moved.append("the session moved to another network (address block)")
        elif ctx.network and session.network and ctx.network != session.network:
            # Its AS, where the edge knows it (rempart.web.proxies): within one block
            # only if the AS database or the header changed (docs/guard.md).
            moved.append(f"the session moved to another network (from {session.network} "
                         f"to {ctx.network}, same address block)")
        if moved and not session.step_up_required:
            profile.note_step_up(ts, passed=False)
            profile.taint(ts, device=ctx.device_id if ctx.device_id != session.device else None,
                          block=block if block != session.block else None)
            session.step_up_required = True
            session.refused += 1
            session.step_up_reasons = tuple(moved)
            session.rebind = [ctx.device_id, block, ctx.network]
            decision = Decision(Action.STEP_UP, moved)
            self.record(ctx, profile, session, decision)
            return decision
        if session.step_up_required and session.refused >= self._ladder.refused_limit:
            session.suspended = True
            decision = Decision(Action.SUSPEND_SESSION, [
                *session.step_up_reasons,
                f"{session.refused} attempts while a step-up was pending"])
            self.record(ctx, profile, session, decision)
            return decision
        return None

    def decide(self, ts: float, profile: AccountProfile, session: SessionState,
               assessment: Assessment, limit: lim.LimitVerdict) -> Decision:
        if (assessment is NOTHING and limit.action is Action.ALLOW
                and not session.step_up_required):
            # Nearly every check: nothing to weigh, nothing pending (what the steps below
            # give for it, without them).
            session.last_score = 0.0
            return ALLOW
        model = rung(assessment, credit=session.credit, policy=self._ladder)
        action = max(model, limit.action)
        reasons = [*limit.reasons, *assessment.reasons()]
        session.last_score = assessment.score
        pending = session.step_up_required
        if pending and action < Action.STEP_UP:
            # Still waiting for the second factor: the evidence may grow, not the trust.
            action = Action.STEP_UP
            reasons = [*session.step_up_reasons,
                       *(r for r in reasons if r not in session.step_up_reasons)]
        first_ask = action is Action.STEP_UP and session.refused == 0
        if first_ask and profile.unresolved_step_ups(ts) + 1 >= self._ladder.unresolved_limit:
            action = Action.SUSPEND_ACCOUNT
            reasons = [*reasons, f"{profile.unresolved_step_ups(ts) + 1:.0f} sessions of this "
                                 "account were asked for a second factor lately and never gave it"]
        if action is Action.STEP_UP:
            if not pending:
                session.step_up_required = True
                session.step_up_reasons = tuple(reasons)
            if first_ask:
                profile.note_step_up(ts, passed=False)
                self.taint(ts, profile, session)
                profile.discount(session)
            session.refused += 1
        elif action is Action.SUSPEND_SESSION:
            session.suspended = True
            # Counts against the account's next sessions like an unanswered step-up.
            profile.note_step_up(ts, passed=False)
            self.taint(ts, profile, session)
            if session.refused == 0:
                profile.discount(session)
        elif action is Action.SUSPEND_ACCOUNT:
            session.suspended = True
            profile.suspended = True
            profile.suspension = ("account suspended pending review", *reasons)
        return Decision(action, reasons, round(assessment.score, 1),
                        limit.delay_s if action is Action.SLOW_DOWN else 0.0,
                        assessment.evidence)

    def taint(self, ts: float, profile: AccountProfile, session: SessionState) -> None:
        """Mark the session's device, and its network unless the account works from it
        (an attacker on the practice's own network must not lock the practice out). The
        network is also distrusted for every other account's new sessions for a day."""
        foreign = session.block not in profile.blocks
        profile.taint(ts, device=session.device, block=session.block if foreign else None)
        if foreign:
            # On a listed shared network, only the session's organisation there
            # (rempart.guard.shared): its honest neighbours are other actors.
            self.distrust(session.wide, ts)

    def distrust(self, block: str, ts: float, *, answered: bool = False) -> None:
        """Count a step-up asked of a session from this block (or one it answered); read
        with the limits' counts before each check (`Guard._judge_before`)."""
        self._windows.add(lim.distrust_keys(block, BLOCK_DISTRUST_S, answered=answered), ts)
        if not answered:
            # When a block's step-up was last counted unanswered, kept with the counts
            # (every guard over them sees it): any block's count is 0 two windows later.
            latest = self._windows.latest
            latest["tb"] = max(latest.get("tb", ts), ts)

    def may_distrust(self, ts: float) -> bool:
        """Whether some block's count of unanswered step-ups may be above 0 at `ts` (what
        the limits' reads of a check's block would find; False only in process, where
        every count is this process's). A sliding count holds its current and previous
        buckets: an increment counts for two windows at most."""
        if not self._in_process:
            return True
        last = self._windows.latest.get("tb")
        return last is not None and ts - last < 2 * BLOCK_DISTRUST_S

    def record(self, ctx: CheckContext, profile: AccountProfile, session: SessionState,
               decision: Decision) -> None:
        """Raise an alert when a session climbs to a higher rung (step-up and above), and
        tell the journal (a containment a restart must not lift: written at once)."""
        if session.suspended and self.keep_key(ctx, profile):
            decision = Decision(Action.SUSPEND_ACCOUNT, [*decision.reasons, TOO_MANY_KEYS],
                                decision.score)
        if decision.action >= Action.STEP_UP:
            if decision.action > session.max_action:
                self._alerts.emit(Alert(
                    account_id=ctx.account_id, organisation_id=ctx.organisation_id,
                    session_id=ctx.session_id, action=decision.action,
                    reasons=tuple(decision.reasons), score=decision.score, at=ctx.at,
                    channel=ctx.channel))
            self._journal.note(str(ctx.account_id), profile, ctx.session_id, session)
        session.max_action = max(session.max_action, int(decision.action))

    def keep_key(self, ctx: CheckContext, profile: AccountProfile) -> bool:
        """An API key's suspension outlives its session (forgotten after 12 h idle): its
        session id is kept on its client's profile, when the guard suspends it (record)
        or refuses it for its client's suspension (standing). Suspended on its own, until an
        operator restores the key (Guard.restore_key), and one key too many suspends the
        client (True); refused while its client is suspended, until the client's restore
        (Guard.restore_account), as long as there is room."""
        if ctx.channel is not Channel.API:
            return False
        session_id = ctx.session_id
        if session_id in profile.suspended_keys or session_id in profile.keys_with_client:
            return False
        if profile.suspended:
            if len(profile.keys_with_client) < MAX_SUSPENDED_KEYS:
                profile.keys_with_client = (*profile.keys_with_client, session_id)
            return False
        if not profile.keep_suspended_key(session_id):
            return False
        profile.suspended = True
        profile.suspension = ("account suspended pending review", TOO_MANY_KEYS)
        return True
