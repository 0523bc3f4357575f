"""Migration 0015n: the alerts' `network` column (the listed shared network an alert is
about, rempart.guard.netwatch), as its model declares it; its downgrade removes it."""

from __future__ import annotations

from migration_support import check_added_column
from rempart.settings import Settings


def test_the_column_matches_the_model_and_the_downgrade_removes_it(
        settings: Settings) -> None:
    check_added_column(settings, table="alerts", column="network", before="0014r")
