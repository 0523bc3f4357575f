"""S8: an administrator with database access rewrites the audit log; does verify see it?

Each attempt alters its own consistent copy of the SQLite file (the original is never
touched) and runs the same Verifier that `rempart audit verify` runs, with the trusted
public key only. An attempt counts as detected when the report has any problem.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rempart.audit import TrustedKeys, Verifier
from rempart.drill.errors import DrillError
from rempart.settings import Settings
from rempart.storage.engine import make_engine

Tamper = Callable[[sqlite3.Connection, int, int], None]


def _change_checkpointed(conn: sqlite3.Connection, head: int, checkpointed: int) -> None:
    conn.execute("UPDATE audit_entries SET detail = ? WHERE position = ?",
                 ('{"outcome":"not_covered"}', max(1, checkpointed // 2)))


def _change_tail(conn: sqlite3.Connection, head: int, checkpointed: int) -> None:
    conn.execute("UPDATE audit_entries SET client_address = ? WHERE position = ?",
                 ("192.0.2.250", head))


def _delete_middle(conn: sqlite3.Connection, head: int, checkpointed: int) -> None:
    conn.execute("DELETE FROM audit_entries WHERE position = ?", (max(1, head // 2),))


def _truncate_tail(conn: sqlite3.Connection, head: int, checkpointed: int) -> None:
    """Drop the last entry and move the head back, as a careful attacker would."""
    previous = conn.execute("SELECT entry_hash FROM audit_entries WHERE position = ?",
                            (head - 1,)).fetchone()
    conn.execute("DELETE FROM audit_entries WHERE position = ?", (head,))
    conn.execute("UPDATE audit_head SET position = ?, entry_hash = ?",
                 (head - 1, previous[0]))


def _insert_after_head(conn: sqlite3.Connection, head: int, checkpointed: int) -> None:
    _copy_row(conn, source=head, target=head + 1)


def _insert_and_move_head(conn: sqlite3.Connection, head: int, checkpointed: int) -> None:
    _copy_row(conn, source=head, target=head + 1)
    conn.execute("UPDATE audit_head SET position = ?", (head + 1,))


def _reorder(conn: sqlite3.Connection, head: int, checkpointed: int) -> None:
    """Swap the contents of two neighbouring entries, positions kept."""
    first, second = max(1, head // 3), max(2, head // 3 + 1)
    conn.execute("UPDATE audit_entries SET position = -1 WHERE position = ?", (first,))
    conn.execute("UPDATE audit_entries SET position = ? WHERE position = ?", (first, second))
    conn.execute("UPDATE audit_entries SET position = ? WHERE position = -1", (second,))


def _copy_row(conn: sqlite3.Connection, *, source: int, target: int) -> None:
    columns = [row[1] for row in conn.execute("PRAGMA table_info(audit_entries)")]
    chosen = ", ".join(c if c != "position" else "?" for c in columns)
    conn.execute(f"INSERT INTO audit_entries ({', '.join(columns)}) "  # noqa: S608
                 f"SELECT {chosen} FROM audit_entries WHERE position = ?", (target, source))


ATTEMPTS: dict[str, Tamper] = {
    "change_checkpointed_entry": _change_checkpointed,
    "change_latest_entry": _change_tail,
    "delete_middle_entry": _delete_middle,
    "truncate_tail_and_head": _truncate_tail,
    "insert_stray_entry": _insert_after_head,
    "insert_entry_and_move_head": _insert_and_move_head,
    "reorder_two_entries": _reorder,
}


@dataclass(frozen=True)
class TamperResult:
    attempts: dict[str, bool]  # attempt name -> detected

    def score(self) -> dict[str, object]:
        return {"tampering_attempts": len(self.attempts),
                "tampering_detected": sum(self.attempts.values()),
                "records_disclosed": 0, "records_attempted": 0, "accounts_used": 0,
                "time_to_detect_s": None, "time_to_contain_s": None,
                "attempts": {name: ("detected" if hit else "missed")
                             for name, hit in self.attempts.items()}}


def run_tamper_drill(*, database: Path, trusted: TrustedKeys, workdir: Path) -> TamperResult:
    """Alter copies of `database` (SQLite) each way and verify each copy."""
    with sqlite3.connect(database) as conn:
        head = int(conn.execute("SELECT position FROM audit_head").fetchone()[0])
        checkpointed = int(conn.execute(
            "SELECT COALESCE(MAX(last_position), 0) FROM audit_checkpoints").fetchone()[0])
    if head < 4:
        raise DrillError("S8 needs an audit log of at least 4 entries; run some traffic first")
    results: dict[str, bool] = {}
    for name, tamper in ATTEMPTS.items():
        copy = workdir / f"s8-{name}.db"
        copy.unlink(missing_ok=True)
        with sqlite3.connect(database) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        with sqlite3.connect(copy) as conn:
            tamper(conn, head, checkpointed)
        settings = Settings.load(data_dir=workdir, database_url=f"sqlite:///{copy}",
                                 key_file=workdir / "s8-unused-keyring.json")
        engine = make_engine(settings)
        try:
            report = Verifier(engine=engine, trusted_keys=trusted).verify()
        finally:
            engine.dispose()
        results[name] = not report.ok
        copy.unlink(missing_ok=True)
    return TamperResult(attempts=results)
