"""Migration 0014r: the column recording that a refused step-up code was told to the
organisation's admins, as its model declares it; its downgrade removes the column."""

from __future__ import annotations

from migration_support import check_added_column
from rempart.settings import Settings


def test_the_column_matches_the_model_and_the_downgrade_removes_it(
        settings: Settings) -> None:
    check_added_column(settings, table="api_step_up_codes", column="refusal_told_at",
                       before="0013p")
