"""Guard settings, and the one place where its backends are chosen.

REMPART_GUARD_STORAGE picks where counters and profiles live: `memory://` (the
default: one machine) or `redis://host:port/db` (several machines share them); unset,
the one switch REMPART_REDIS_URL decides (rempart.ratelimit.shared_storage).
REMPART_GUARD_SHARED_NETWORKS names the operator's list of shared networks (a TOML
file, rempart.guard.shared), read and checked here, at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from rempart.clock import Clock
from rempart.guard.alerts import AlertSink
from rempart.guard.clockwatch import DEFAULT_TOLERANCE_S, ClockWatch
from rempart.guard.errors import GuardConfigError
from rempart.guard.guard import CLAIM_WINDOW_S, Guard
from rempart.guard.journal import NO_JOURNAL, ContainmentJournal
from rempart.guard.peers import PeerProfiles
from rempart.guard.shared import NO_SHARED_NETWORKS, SETTING, SharedNetworks, load_file
from rempart.guard.state import GuardState, MemoryGuardState
from rempart.ratelimit import redis_prefix, shared_storage

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class GuardSettings:
    storage_uri: str = "memory://"
    key_prefix: str = "rempart-guard"
    timezone: str = "Europe/Paris"
    claim_window_s: int = CLAIM_WINDOW_S
    # How long a Redis command may take before the check fails closed.
    redis_timeout_s: float = 0.5
    # Networks many organisations work behind: their network-wide counts are kept per
    # organisation (rempart.guard.shared). Empty unless the operator lists some.
    shared_networks: SharedNetworks = field(default=NO_SHARED_NETWORKS, compare=False)
    # Memory mode: seconds between snapshots of the learnt profiles to the database
    # (rempart.guard.persist; containments are written when decided).
    snapshot_s: int = 300
    # Served: a wall clock that moves this many seconds more (or less) than the
    # monotonic clock between two readings has jumped (rempart.guard.clockwatch).
    clock_jump_tolerance_s: int = int(DEFAULT_TOLERANCE_S)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GuardSettings:
        env = os.environ if env is None else env
        settings = cls(
            storage_uri=shared_storage(env, "REMPART_GUARD_STORAGE"),
            key_prefix=env.get("REMPART_GUARD_PREFIX") or redis_prefix(env, "guard"),
            timezone=env.get("REMPART_GUARD_TIMEZONE", cls.timezone),
            claim_window_s=_int(env, "REMPART_GUARD_CLAIM_WINDOW_S", cls.claim_window_s),
            shared_networks=load_file(env[SETTING]) if env.get(SETTING) else NO_SHARED_NETWORKS,
            snapshot_s=_int(env, "REMPART_GUARD_SNAPSHOT_S", cls.snapshot_s),
            clock_jump_tolerance_s=_int(env, "REMPART_GUARD_CLOCK_JUMP_S",
                                        cls.clock_jump_tolerance_s),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not (self.storage_uri == "memory://" or self.storage_uri.startswith(REDIS_SCHEMES)):
            raise GuardConfigError("REMPART_GUARD_STORAGE must be memory:// or a redis:// URI")
        if self.claim_window_s <= 0:
            raise GuardConfigError("REMPART_GUARD_CLAIM_WINDOW_S must be positive")
        if self.snapshot_s <= 0:
            raise GuardConfigError("REMPART_GUARD_SNAPSHOT_S must be positive")
        if self.clock_jump_tolerance_s <= 0:
            raise GuardConfigError("REMPART_GUARD_CLOCK_JUMP_S must be positive")
        if not self.key_prefix or ":" in self.key_prefix:
            raise GuardConfigError("REMPART_GUARD_PREFIX must be a non-empty word without ':'")

    @property
    def uses_redis(self) -> bool:
        return self.storage_uri.startswith(REDIS_SCHEMES)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise GuardConfigError(f"{name} must be an integer") from exc


def build_state(settings: GuardSettings, clock: Clock) -> GuardState:
    settings.validate()
    if settings.uses_redis:
        from rempart.guard.redis_state import RedisGuardState

        return RedisGuardState.connect(settings.storage_uri, prefix=settings.key_prefix,
                                       timeout_s=settings.redis_timeout_s)
    return MemoryGuardState(clock)


def build_guard(settings: GuardSettings, *, clock: Clock, alerts: AlertSink,
                profiles: PeerProfiles | None = None,
                journal: ContainmentJournal = NO_JOURNAL,
                state: GuardState | None = None, watch_clock: bool = False) -> Guard:
    """The guard; `watch_clock` (a served instance) runs it on a ClockWatch: its time
    the wall clock less the jumps seen, each one raised to `alerts`."""
    watch = (ClockWatch(clock=clock, alerts=alerts,
                        tolerance_s=settings.clock_jump_tolerance_s) if watch_clock else None)
    return Guard(state=state or build_state(settings, clock),
                 profiles=profiles or PeerProfiles.default(), clock=clock, alerts=alerts,
                 timezone=settings.timezone, claim_window_s=settings.claim_window_s,
                 journal=journal, shared=settings.shared_networks, watch=watch)
