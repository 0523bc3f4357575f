"""Migration 0013p: the table of who may confirm an organisation's API step-up codes, as
its model declares it; an organisation that existed before it confirms with its admins
(no row is the default); its downgrade removes the table."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from rempart.auth.api_step_up_policy import ApiStepUpPolicies, Approvers
from rempart.auth.events import MemoryEventSink
from rempart.clock import SystemClock
from rempart.providers.models import Organisation
from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import alembic_config, upgrade
from rempart.storage.models_registry import Base

TABLE = "api_step_up_policies"


def test_existing_organisations_get_admins_and_the_downgrade_removes_the_table(
        settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        command.upgrade(alembic_config(engine), "0012a")
        with Session(engine) as db, db.begin():
            existing = Organisation(siret="73282932000074", finess=None, name="Pharmacie",
                                    profession="pharmacy", postcode="75011", departement="75")
            db.add(existing)
            db.flush()
            organisation_id = existing.id
        assert TABLE not in inspect(engine).get_table_names()
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if TABLE in repr(d)] == []
        policies = ApiStepUpPolicies(engine=engine, clock=SystemClock(),
                                     events=MemoryEventSink())
        assert policies.approvers(organisation_id=organisation_id) is Approvers.ADMINS
        command.downgrade(alembic_config(engine), "0012a")
        engine.dispose()
        assert TABLE not in inspect(engine).get_table_names()
        upgrade(engine)
        assert TABLE in inspect(engine).get_table_names()
    finally:
        engine.dispose()
