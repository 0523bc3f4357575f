"""Which database errors are an outage (503) and which are bugs (500), on errors raised
by a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from rempart.audit.errors import AuditWriteFailed
from rempart.storage.unavailable import database_unavailable


def raised(url: str, *statements: str) -> SQLAlchemyError:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    except SQLAlchemyError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("the statements ran")


def refused_by_the_audit_log(cause: SQLAlchemyError) -> AuditWriteFailed:
    """The error as the audit log raises it (the disclosure must not go ahead)."""
    refused = AuditWriteFailed("the audit log could not be written")
    refused.__cause__ = cause
    return refused


def test_an_unreachable_database_is_an_outage(tmp_path: Path) -> None:
    gone = raised(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}", "SELECT 1")
    assert database_unavailable(gone)
    assert database_unavailable(refused_by_the_audit_log(gone))


@pytest.mark.parametrize("statements", [
    ("CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1)",
     "INSERT INTO t VALUES (1)"),  # a constraint: the statement's fault
    ("SELECT * FROM no_such_table",),  # a bug, though sqlite3 calls it OperationalError
])
def test_a_bug_is_not_an_outage(tmp_path: Path, statements: tuple[str, ...]) -> None:
    failed = raised(f"sqlite:///{tmp_path / 'x.db'}", *statements)
    assert not database_unavailable(failed)
    assert not database_unavailable(refused_by_the_audit_log(failed))
