"""Migration 0015n: the alerts' `network` column (the listed shared network an alert is
about, rempart.guard.netwatch), as its model declares it; its downgrade removes it."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import alembic_config, upgrade
from rempart.storage.models_registry import Base

TABLE = "alerts"


def _columns(engine: object) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(TABLE)}


def test_the_column_matches_the_model_and_the_downgrade_removes_it(
        settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        command.upgrade(alembic_config(engine), "0014r")
        assert "network" not in _columns(engine)
        upgrade(engine)
        assert "network" in _columns(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if TABLE in repr(d)] == []
        command.downgrade(alembic_config(engine), "0014r")
        engine.dispose()
        assert "network" not in _columns(engine)
        upgrade(engine)
        assert "network" in _columns(engine)
    finally:
        engine.dispose()
