"""A check's account profile and session, loaded from the guard's state or made new.

A new session is judged on where it comes from before it reads anything: novelty and
history evidence, fresh or young (rempart.guard.campaign), suspended or tainted. Split
from rempart.guard.guard, whose two check steps call it.
"""

from __future__ import annotations

from rempart.guard import limits_check as lim
from rempart.guard.campaign import CampaignWatch, origin_novelty
from rempart.guard.context import CheckContext
from rempart.guard.evidence import history_evidence, novelty_evidence
from rempart.guard.peers import PeerPrior
from rempart.guard.profile import AccountProfile, SessionState
from rempart.guard.state import GuardState


def load(state: GuardState, campaign: CampaignWatch, ctx: CheckContext, ts: float,
         prior: PeerPrior, keys: lim.CheckKeys, *,
         opening_later: bool = False) -> tuple[AccountProfile, SessionState, bool]:
    """The check's account profile and session: stored, or new (a new session judged on
    where it comes from: novelty, history, fresh or young, suspended or tainted); and
    whether the caller is to count a new account's session opening (`opening_later`:
    with its hit of the block's sessions, keys.sessions, in process)."""
    opening = False
    account_id = str(ctx.account_id)
    block = keys.block
    found, session = state.load_pair(account_id, ctx.session_id)
    if found is None and (session is None or session.account_id != account_id):
        # A new account's first session (nearly every check of the bench's traffic):
        # what the branch below gives on an empty profile (tests/test_guard_amortise.py):
        # no novelty or history, not fresh but young, its device and block noted as
        # seen, nothing suspended or tainted; the session counted opening (here, or by the
    # caller's hit: one count fewer).
        profile = AccountProfile(created=ts, last=ts, hours_ref=ts)  # AccountProfile.new
        session = SessionState(account_id=account_id, device=ctx.device_id, block=block,
                               network=ctx.network, started=ts, last=ts, young=True)
        seen = profile.seen
        seen["d:" + ctx.device_id] = ts
        seen["b:" + block] = ts
        if opening_later:
            opening = True
        else:
            campaign.opened(digest=keys.block_digest, fresh=False, foreign_block=False, ts=ts)
    else:
        profile = found or AccountProfile.new(ts)
        if session is None or session.account_id != account_id:
            session = SessionState(account_id=account_id, device=ctx.device_id, block=block,
                                   network=ctx.network, started=ts, last=ts)
            session.novelty = (*novelty_evidence(profile, prior, device=ctx.device_id,
                                                 block=block),
                               *history_evidence(profile, ts, prior.noun))
            _note_fresh(campaign, profile, session, ctx.device_id, keys, ts)
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
    return profile, session, opening


def _note_fresh(campaign: CampaignWatch, profile: AccountProfile, session: SessionState,
                device: str, keys: lim.CheckKeys, ts: float) -> None:
    """Whether a new session is fresh: from a device or block that is not its
    account's own, on an account that has one (rempart.guard.campaign)."""
    fresh, foreign, young = origin_novelty(profile, device=device, block=keys.block, ts=ts)
    session.fresh, session.foreign_block, session.young = fresh, foreign, young
    campaign.opened(digest=keys.block_digest, fresh=fresh, foreign_block=foreign, ts=ts)
