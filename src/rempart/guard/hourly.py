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
COLD_VOLUME_MAX = 16_384


class HourlyModel:
    def __init__(self, limits: LimitPolicy) -> None:
        self._limits = limits
        self._hourly_cache: dict[str, tuple[float, PeerPrior, Ceilings, Usual]] = {}
        self._cold_cache: dict[tuple[Profession, SizeClass], tuple[
            PeerPrior, Ceilings, Usual]] = {}
        # expected_volume at a new account's first check, per (id(prior), slot), beside
        # its prior (an id may be reused once its prior is gone).
        self._cold_volume: dict[tuple[int, int], tuple[PeerPrior, tuple[float, float]]] = {}

    def volume(self, profile: AccountProfile, ts: float, slot: int,
               prior: PeerPrior) -> tuple[float, float]:
        """profile.expected_volume(ts, slot, prior), and its hour's cache set as it sets
        it. At a new account's first check (nothing learnt, no age: `ts` its creation's)
        the figures are its peer group's at this slot, the same to the bit for every such
        account: computed once per (prior, slot)."""
        if (profile.volume_cache[0] == ts // 3600 or ts > profile.created
                or profile.hours_total_raw != 0.0):
            return profile.expected_volume(ts, slot, prior)
        found = self._cold_volume.get((id(prior), slot))
        if found is not None and found[0] is prior:
            profile.volume_cache = (float(ts // 3600), *found[1])
            return found[1]
        result = profile.expected_volume(ts, slot, prior)
        if len(self._cold_volume) < COLD_VOLUME_MAX:
            self._cold_volume[(id(prior), slot)] = (prior, result)
        return result

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
