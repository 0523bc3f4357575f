from sqlalchemy import inspect

from rempart.runtime import Runtime


def test_migrations_create_every_table(runtime: Runtime) -> None:
    tables = set(inspect(runtime.engine).get_table_names())
    assert {"insurers", "guarantees", "contracts", "beneficiaries", "organisations",
            "professionals", "applied_files"} <= tables
