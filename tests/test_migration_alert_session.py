"""Migration 0012a: an alert's session_id holds an API key's guard session (86
characters; on PostgreSQL such alerts failed to store before); its downgrade narrows
the column again."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import inspect

from rempart.alerts.store import AlertSource, AlertStore
from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import alembic_config, upgrade

KEY_SESSION = "api:rc_" + "0" * 32 + "|jkt:" + "A" * 43


def _width(settings_engine: object) -> int | None:
    columns = inspect(settings_engine).get_columns("alerts")
    [session] = [c for c in columns if c["name"] == "session_id"]
    return getattr(session["type"], "length", None)


def test_an_api_key_s_alert_is_stored_and_the_downgrade_narrows_the_column(
        settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        upgrade(engine)
        assert _width(engine) == 160
        with engine.begin() as conn:
            AlertStore.insert(conn, source=AlertSource.GUARD, severity="high",
                              created_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
                              reasons=["a reason"], account_id="client:rc_x",
                              session_id=KEY_SESSION)
        [stored] = AlertStore(engine=engine).for_account("client:rc_x")
        assert stored.session_id == KEY_SESSION
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM alert_outbox")
            conn.exec_driver_sql("DELETE FROM alerts")
        command.downgrade(alembic_config(engine), "0011g")
        engine.dispose()
        assert _width(engine) == 64
        upgrade(engine)
        assert _width(engine) == 160
    finally:
        engine.dispose()
