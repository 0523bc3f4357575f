"""Migration 0011g: the guard's saved state table, as its model declares it; its
downgrade removes it."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import alembic_config, upgrade
from rempart.storage.models_registry import Base


def test_the_guard_state_table_is_its_model_and_goes_with_its_downgrade(
        settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "guard_state" in repr(d)] == []
        command.downgrade(alembic_config(engine), "0010s")
        engine.dispose()
        assert "guard_state" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert "guard_state" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
