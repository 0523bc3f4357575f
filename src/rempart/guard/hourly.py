"""An account's ceilings and usual rates, recomputed once an hour of the clock.

Habits move slowly: the guard computes them at an account's first check of each hour
and keeps them in a cache local to this process (split from rempart.guard.guard).
"""

from __future__ import annotations

from rempart.core.care import Profession
from rempart.guard.ceilings import Ceilings, LimitPolicy, ceilings_for, learnt_nothing
from rempart.guard.context import CheckContext, SizeClass
from rempart.guard.evidence import Usual, usual_and_judged
from rempart.guard.peers import PeerPrior
from rempart.guard.profile import AccountProfile

CACHE_MAX = 100_000


class HourlyModel:
    def __init__(self, limits: LimitPolicy) -> None:
        self._limits = limits
        self._hourly_cache: dict[str, tuple[float, PeerPrior, Ceilings, Usual]] = {}
        self._cold_cache: dict[tuple[Profession, SizeClass], tuple[
            PeerPrior, Ceilings, Usual]] = {}

    def at(self, ctx: CheckContext, ts: float, prior: PeerPrior,
           profile: AccountProfile) -> tuple[Ceilings, Usual]:
        """The account's ceilings and usual rates for the hour of `ts`."""
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
