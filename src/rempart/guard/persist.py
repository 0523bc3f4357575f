"""The memory-mode guard's state kept in the app's database, so that a restart neither
forgets what the guard learnt nor lifts a containment (docs/guard.md, "Backends").

    snapshots = GuardSnapshots(engine=..., state=memory_state, clock=...)
    snapshots.load()            # at start, before serving: profiles and containments back
    guard = Guard(..., journal=snapshots)
    snapshots.start_writer()    # a snapshot every interval_s, in a thread of its own
    snapshots.close()           # at shutdown: the last snapshot

What is kept (table guard_state, rempart.guard.models): every account profile, as the
Redis backend's codec writes it, every contained session (suspended, or waiting for a
step-up), and the listed shared networks' ledger (persist_networks). A containment is
written when decided (the journal, called only on refused checks), an API key's with
its client's profile (its kept keys, `AccountProfile.suspended_keys`: they outlive the
key's session); the rest by the snapshot, off the check path, if it changed. An
account's `contained` flag is sticky: a snapshot never clears it (only an operator's
restore does), so a profile encoded just before a suspension and written just after
cannot lift it.

Bad input: a row that does not decode (corrupt, or another format) is skipped with a
warning naming its kind and key (account and session ids, never personal data); if it
was contained, the account or session comes back suspended, never free. A database
error while writing is logged and retried by the next snapshot; checks go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import Engine, Table, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import SQLAlchemyError

from rempart.clock import Clock
from rempart.guard import codec, persist_networks
from rempart.guard.models import ACCOUNT, KEY_MAX, PATIENTS, SESSION, GuardStateRow
from rempart.guard.profile import AccountProfile, SessionState
from rempart.guard.state import SESSION_IDLE_S, MemoryGuardState

log = structlog.get_logger(__name__)

FORMAT = 1
SNAPSHOT_S = 300.0
BATCH = 100  # accounts encoded per hold of the guard's lock (~2.5 ms: docs/guard.md)
UNREADABLE = "its saved guard state could not be read after a restart"
_TABLE = cast(Table, GuardStateRow.__table__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Loaded:
    accounts: int
    sessions: int
    unreadable: int
    contained: int


class GuardSnapshots:
    def __init__(self, *, engine: Engine, state: MemoryGuardState, clock: Clock,
                 interval_s: float = SNAPSHOT_S) -> None:
        self._engine = engine
        self._state = state
        self._clock = clock
        self._interval_s = interval_s
        # What the table holds, as far as this process knows: each profile's last written
        # body (its hash), the contained accounts, each kept session's (suspended,
        # step-up pending).
        self._digests: dict[str, int] = {}
        self._patient_digests: dict[str, int] = {}
        self._contained: set[str] = set()
        # Each account's suspended API keys as last written by the journal.
        self._kept_keys: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._sessions: dict[str, tuple[bool, bool]] = {}
        self._networks: dict[str, int] = {}  # each listed network's last body (its hash)
        # Restores, numbered: a snapshot encoded before an account's restore does not
        # write it back contained.
        self._restores = 0
        self._restored: dict[str, int] = {}
        self._write = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- start -------------------------------------------------------------------------

    def load(self) -> Loaded | None:
        """Put the saved profiles and contained sessions back into the (empty) state. If
        the database cannot be read (down at start), the state refuses every check until
        a later attempt reads it (MemoryGuardState.hold_checks): None."""
        try:
            return self._load()
        except SQLAlchemyError as exc:
            log.warning("guard.snapshot.load_failed", error=type(exc).__name__)
            self._state.hold_checks(self._load)
            return None

    def _load(self) -> Loaded:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_TABLE)).all()
        now = self._clock.now().timestamp()
        accounts = sessions = unreadable = contained = 0
        for row in rows:
            if row.kind == ACCOUNT:
                profile = _decoded(row, codec.load_account)
                unreadable += profile is None
                if profile is None:
                    if not row.contained:
                        continue
                    profile = AccountProfile.new(row.last)
                    profile.suspended = True
                    profile.suspension = ("account suspended pending review", UNREADABLE)
                else:  # a body written just before its suspension (the flag is sticky)
                    self._digests[row.key] = hash(bytes(row.body))
                if row.contained and not profile.suspended:
                    profile.suspended = True
                    profile.suspension = ("account suspended pending review",)
                self._state.save_account(row.key, profile)
                if any(_keys(profile)):
                    self._kept_keys[row.key] = _keys(profile)
                if row.contained:
                    self._contained.add(row.key)
                    contained += 1
                accounts += 1
            elif row.kind == PATIENTS:
                patients = _decoded(row, codec.load_patients)
                if patients is None:  # the account's patients look new again
                    unreadable += 1
                    continue
                self._state.put_patients(row.key, patients)
                self._patient_digests[row.key] = hash(bytes(row.body))
            elif row.kind == SESSION:
                session = _decoded(row, codec.load_session)
                unreadable += session is None
                if session is None:  # only contained sessions are kept: keep it contained
                    session = SessionState(account_id=row.account_id, device="-", block="-",
                                           network=None, started=row.last, last=row.last,
                                           suspended=True)
                self._sessions[row.key] = _flags(session)
                if now - session.last > SESSION_IDLE_S:
                    continue  # memory forgets an idle session: so does its restart (and
                    # the next snapshot removes its row)
                self._state.save_session(row.key, session)
                sessions += 1
                contained += 1
            elif row.kind == persist_networks.NETWORK:
                unreadable += not persist_networks.load_row(self._state, row)
            else:
                unreadable += 1
                log.warning("guard.snapshot.unknown_kind", kind=row.kind[:8])
        loaded = Loaded(accounts, sessions, unreadable, contained)
        log.info("guard.snapshot.loaded", accounts=accounts, sessions=sessions,
                 unreadable=unreadable, contained=contained)
        return loaded

    # -- the journal: containments written when decided ----------------------------------

    def note(self, account_id: str, profile: AccountProfile | None,
             session_id: str | None, session: SessionState | None) -> None:
        accounts = ([_account_row(account_id, profile)] if profile is not None and (
            (profile.suspended and account_id not in self._contained)
            or _keys(profile) != self._kept_keys.get(account_id, ((), ()))) else [])
        sessions: list[dict[str, Any]] = []
        gone: list[str] = []
        if session_id is not None and session is not None:
            flags = _flags(session)
            if flags != self._sessions.get(session_id, (False, False)):
                if any(flags):
                    sessions.append(_session_row(session_id, session))
                else:
                    gone.append(session_id)
        if not accounts and not sessions and not gone:
            return  # nothing new: every refused check of an already contained session
        try:
            with self._write, self._engine.begin() as conn:
                _upsert(conn, accounts, sticky=True)
                _upsert(conn, sessions, sticky=False)
                _delete(conn, SESSION, gone)
        except SQLAlchemyError as exc:
            # The next snapshot writes it again (it compares with what was written).
            log.warning("guard.snapshot.write_failed", step="containment",
                        error=type(exc).__name__)
            return
        for row in accounts:
            if row["contained"]:
                self._contained.add(account_id)
            self._digests[account_id] = hash(row["body"])
            if profile is not None:
                self._kept_keys[account_id] = _keys(profile)
        if sessions and session_id is not None and session is not None:
            self._sessions[session_id] = _flags(session)
        for key in gone:
            self._sessions.pop(key, None)

    def lifted(self, account_id: str, profile: AccountProfile | None) -> None:
        if profile is None and account_id not in self._contained:
            return
        row = _account_row(account_id, profile or AccountProfile.new(
            self._clock.now().timestamp()))
        try:
            with self._write, self._engine.begin() as conn:
                _upsert(conn, [row], sticky=False)
        except SQLAlchemyError as exc:
            # Errs on contained: after a restart the operator restores it again.
            log.warning("guard.snapshot.write_failed", step="restore",
                        error=type(exc).__name__)
            return
        self._contained.discard(account_id)
        self._kept_keys.pop(account_id, None)
        self._digests[account_id] = hash(row["body"])
        self._restores += 1
        self._restored[account_id] = self._restores

    def ended(self, session_id: str) -> None:
        if session_id not in self._sessions:
            return  # nearly every session: never contained, never written
        try:
            with self._write, self._engine.begin() as conn:
                _delete(conn, SESSION, [session_id])
        except SQLAlchemyError as exc:
            log.warning("guard.snapshot.write_failed", step="end",
                        error=type(exc).__name__)
            return
        self._sessions.pop(session_id, None)

    # -- snapshots ---------------------------------------------------------------------

    def snapshot(self) -> int:
        """Write the profiles that changed since the last snapshot and bring the kept
        sessions in line with memory; the number of rows written or removed."""
        written = 0
        ids = self._state.account_ids()
        for start in range(0, len(ids), BATCH):
            written += self._accounts(ids[start:start + BATCH])
        return written + self._contained_sessions() + persist_networks.write_changed(
            self._engine, self._write, self._state, self._networks)

    def _accounts(self, ids: list[str]) -> int:
        changed: list[dict[str, Any]] = []
        restores = self._restores
        # Encoded while no check changes them (profiles are changed in place).
        with self._state.serial(None):
            for account_id in ids:
                profile = self._state.account(account_id)
                if profile is None:
                    continue
                body = codec.dump(profile)
                if hash(body) != self._digests.get(account_id):
                    changed.append(_account_row(account_id, profile, body))
                patients = self._state.patients(account_id)
                if patients is not None:
                    body = codec.dump_patients(patients)
                    if hash(body) != self._patient_digests.get(account_id):
                        changed.append({"kind": PATIENTS, "key": account_id[:KEY_MAX],
                                        "account_id": account_id[:KEY_MAX],
                                        "contained": False, "version": FORMAT,
                                        "last": profile.last, "body": body})
        if not changed:
            return 0
        try:
            with self._write, self._engine.begin() as conn:
                # An account restored since it was encoded is written by its restore.
                changed = [row for row in changed if row["kind"] == PATIENTS
                           or self._restored.get(row["key"], 0) <= restores]
                _upsert(conn, changed, sticky=True)
        except SQLAlchemyError as exc:
            log.warning("guard.snapshot.write_failed", step="profiles",
                        error=type(exc).__name__)
            return 0
        for row in changed:
            if row["kind"] == PATIENTS:
                self._patient_digests[row["key"]] = hash(row["body"])
                continue
            self._digests[row["key"]] = hash(row["body"])
            if row["contained"]:
                self._contained.add(row["key"])
        return len(changed)

    def _contained_sessions(self) -> int:
        # Under the checks' lock: a session contained meanwhile must not be removed.
        with self._state.serial(None):
            now = dict(self._state.contained_sessions())
            stale = [key for key in self._sessions if key not in now]
            changed = [_session_row(key, s) for key, s in now.items()
                       if self._sessions.get(key) != _flags(s)]
            if not stale and not changed:
                return 0
            try:
                with self._write, self._engine.begin() as conn:
                    _upsert(conn, changed, sticky=False)
                    _delete(conn, SESSION, stale)
            except SQLAlchemyError as exc:
                log.warning("guard.snapshot.write_failed", step="sessions",
                            error=type(exc).__name__)
                return 0
            for key in stale:
                self._sessions.pop(key, None)
            for row in changed:
                self._sessions[row["key"]] = _flags(now[row["key"]])
            return len(stale) + len(changed)

    # -- the writer thread (the app's lifespan) ----------------------------------------

    def start_writer(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="guard-snapshots",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._snapshot_logged()

    def close(self) -> None:
        """Stop the writer and write the last snapshot (the app's shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._snapshot_logged()

    def _snapshot_logged(self) -> None:
        try:
            written = self.snapshot()
        except Exception as exc:  # a snapshot must never end the writer thread
            log.warning("guard.snapshot.failed", error=type(exc).__name__)
            return
        log.info("guard.snapshot.written", rows=written)


def _account_row(account_id: str, profile: AccountProfile,
                 body: bytes | None = None) -> dict[str, Any]:
    return {"kind": ACCOUNT, "key": account_id[:KEY_MAX], "account_id": account_id[:KEY_MAX],
            "contained": profile.suspended, "version": FORMAT, "last": profile.last,
            "body": codec.dump(profile) if body is None else body}


def _session_row(session_id: str, session: SessionState) -> dict[str, Any]:
    # What a contained session needs to stay contained; the opaque keys of the patients
    # it nearly matched or failed to match are of no use once it reads nothing more.
    kept = replace(session, near_keys={}, failed_attempts={})
    return {"kind": SESSION, "key": session_id[:KEY_MAX],
            "account_id": session.account_id[:KEY_MAX], "contained": True,
            "version": FORMAT, "last": session.last, "body": codec.dump(kept)}


def _keys(profile: AccountProfile) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """An API client's kept keys (Rungs.keep_key), written by the journal when they change."""
    return profile.suspended_keys, profile.keys_with_client


def _flags(session: SessionState) -> tuple[bool, bool]:
    """What of a session the table keeps track of: (suspended, step-up pending)."""
    return session.suspended, session.step_up_required


def _decoded(row: Row[Any], load: Callable[[bytes], T]) -> T | None:
    """The row's body read by `load`, or None (and a warning) whatever is wrong with it:
    the start goes on."""
    try:
        if row.version != FORMAT:
            raise ValueError("format")
        return load(row.body)
    except Exception as exc:  # whatever the body, the start goes on
        _unreadable(row, exc)
        return None


def _unreadable(row: Row[Any], exc: Exception) -> None:
    # Kind, key and version only: the body is never logged.
    log.warning("guard.snapshot.unreadable", kind=row.kind, key=row.key,
                version=row.version, contained=row.contained, error=type(exc).__name__)


def _upsert(conn: Connection, rows: list[dict[str, Any]], *, sticky: bool) -> None:
    """Insert or replace rows; `sticky`: a contained account stays contained."""
    if not rows:
        return
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    stmt = insert(_TABLE)
    new = stmt.excluded
    contained = or_(_TABLE.c.contained, new.contained) if sticky else new.contained
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[_TABLE.c.kind, _TABLE.c.key],
        set_={"account_id": new.account_id, "contained": contained, "version": new.version,
              "last": new.last, "body": new.body}), rows)


def _delete(conn: Connection, kind: str, keys: Iterable[str]) -> None:
    keys = list(keys)
    if keys:
        conn.execute(delete(_TABLE).where(_TABLE.c.kind == kind, _TABLE.c.key.in_(keys)))
