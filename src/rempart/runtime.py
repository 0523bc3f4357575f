"""The runtime: settings turned into live backends (engine, vault, clock), in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from rempart.clock import Clock, SystemClock
from rempart.guard import AlertSink, Guard, MemoryGuardState, build_guard, build_state
from rempart.guard.persist import GuardSnapshots
from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import upgrade
from rempart.vault import Keyring, Vault


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    vault: Vault
    clock: Clock = field(default_factory=SystemClock)
    # Memory mode: the guard's state kept in the database (set by build_guard).
    guard_snapshots: GuardSnapshots | None = None

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock | None = None,
             create_keys: bool = False, migrate: bool = True) -> Runtime:
        """Load the keyring (creating it first if asked and absent) and migrate the schema."""
        if create_keys and not settings.key_file.exists():
            Keyring.generate().save(settings.key_file)
        vault = Vault(Keyring.load(settings.key_file))
        engine = make_engine(settings)
        if migrate:
            upgrade(engine)
        return cls(settings=settings, engine=engine, vault=vault, clock=clock or SystemClock())

    def build_guard(self, *, alerts: AlertSink) -> Guard | None:
        """The exfiltration guard on the settings' state backend (memory or Redis), or
        None where the settings turn it off. Build it once per app: it holds the state."""
        if not self.settings.guard_enabled:
            return None
        settings = self.settings.guard
        state = build_state(settings, self.clock)
        if not isinstance(state, MemoryGuardState):  # Redis keeps its state itself
            return build_guard(settings, clock=self.clock, alerts=alerts, state=state,
                               watch_clock=True)
        # What the last process learnt and contained, back before the first check.
        snapshots = GuardSnapshots(engine=self.engine, state=state, clock=self.clock,
                                   interval_s=settings.snapshot_s)
        snapshots.load()
        self.guard_snapshots = snapshots
        return build_guard(settings, clock=self.clock, alerts=alerts, state=state,
                           journal=snapshots, watch_clock=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
