"""The listed shared networks' ledger (rempart.guard.netwatch) kept across a memory-mode
restart, in the guard's table (`guard_state`, kind "network", one row per network, keyed
by its label), written by the snapshots (rempart.guard.persist) when it changed.

Without it a restart would start every listed network's learning day again: a day
without alerts after each deployment. A body that cannot be read is skipped with a
warning naming its kind and label: that network learns again (a day without its
alerts), nothing is contained by it. Bodies hold organisation ids and counts only.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import structlog
from sqlalchemy import Engine, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError

from rempart.guard.models import KEY_MAX, GuardStateRow
from rempart.guard.state import MemoryGuardState

log = structlog.get_logger(__name__)
NETWORK = "network"
FORMAT = 1
_TABLE = cast(Table, GuardStateRow.__table__)


def load_row(state: MemoryGuardState, row: Row[Any]) -> bool:
    """Put a saved network back into the state's ledger; False if it cannot be read."""
    try:
        if row.version != FORMAT:
            raise ValueError("format")
        state.network_ledger().restore(row.key, bytes(row.body))
    except Exception as exc:  # whatever the body, the start goes on
        log.warning("guard.snapshot.unreadable", kind=row.kind, key=row.key,
                    version=row.version, error=type(exc).__name__)
        return False
    return True


def write_changed(engine: Engine, lock: threading.Lock, state: MemoryGuardState,
                  digests: dict[str, int]) -> int:
    """Write the networks whose ledger changed since `digests` (label -> its last body's
    hash, updated); how many rows were written."""
    ledger = state.network_ledger()
    with state.serial(None):  # the checks' lock: no fold meanwhile
        bodies = {label: ledger.dump(label) for label in ledger.labels()}
    changed = {label: body for label, body in bodies.items()
               if hash(body) != digests.get(label)}
    if not changed:
        return 0
    rows = [{"kind": NETWORK, "key": label[:KEY_MAX], "account_id": "-", "contained": False,
             "version": FORMAT, "last": 0.0, "body": body} for label, body in changed.items()]
    try:
        with lock, engine.begin() as conn:
            insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
            stmt = insert(_TABLE)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[_TABLE.c.kind, _TABLE.c.key],
                set_={"version": stmt.excluded.version, "body": stmt.excluded.body}), rows)
    except SQLAlchemyError as exc:
        log.warning("guard.snapshot.write_failed", step="networks", error=type(exc).__name__)
        return 0
    for label, body in changed.items():
        digests[label] = hash(body)
    return len(rows)
