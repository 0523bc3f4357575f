"""A migration that adds one column, checked the one way: absent at the revision before,
present after the upgrade and as its model declares it, gone after the downgrade, back
after upgrading again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import alembic_config, upgrade
from rempart.storage.models_registry import Base


def _columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def check_added_column(settings: Settings, *, table: str, column: str, before: str) -> None:
    engine = make_engine(settings)
    try:
        command.upgrade(alembic_config(engine), before)
        assert column not in _columns(engine, table)
        upgrade(engine)
        assert column in _columns(engine, table)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if table in repr(d)] == []
        command.downgrade(alembic_config(engine), before)
        engine.dispose()
        assert column not in _columns(engine, table)
        upgrade(engine)
        assert column in _columns(engine, table)
    finally:
        engine.dispose()
