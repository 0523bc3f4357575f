"""Online key rotation: data stays readable at every step, then old keys are retired."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from population_factory import add_people
from rempart.cli.main import app
from rempart.population import sealing
from rempart.population.models import Beneficiary
from rempart.population.rekey import Rekeyer
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.vault import Keyring, TamperedCiphertext, Vault
from rempart.vault.rotation import add_version


def _find(runtime: Runtime, vault: Vault, fields: sealing.PersonFields) -> sealing.PersonFields:
    candidates = sealing.identity_candidates(vault, fields.nir, fields.birth_date)
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(Beneficiary.sealed, Beneficiary.key_version, Beneficiary.member_idx)
            .where(Beneficiary.identity_idx.in_(candidates))
        ).one()
    return sealing.open_person(vault, row.sealed, version=row.key_version,
                               member_idx=row.member_idx)


def test_every_row_stays_readable_during_rotation(runtime: Runtime, settings: Settings) -> None:
    people = add_people(runtime, 6)
    keyring = add_version(settings.key_file, now=runtime.clock.now())
    vault = Vault(keyring)
    rekeyer = Rekeyer(engine=runtime.engine, vault=vault, batch_rows=2)
    assert rekeyer.stale_rows() == 12  # 6 contracts and 6 beneficiaries

    def everyone_readable(_: int) -> None:
        for person in people:
            assert _find(runtime, vault, person.fields) == person.fields

    everyone_readable(0)
    report = rekeyer.rekey(on_progress=everyone_readable)
    assert (report.contracts, report.beneficiaries) == (6, 6)
    assert rekeyer.stale_rows() == 0
    with runtime.engine.connect() as conn:
        assert set(conn.scalars(select(Beneficiary.key_version))) == {2}


def test_cli_rotate_reseals_and_retires_old_key(runtime: Runtime, settings: Settings,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    people = add_people(runtime, 3)
    old = Keyring.load(settings.key_file)
    with runtime.engine.connect() as conn:
        before = dict(conn.execute(select(Beneficiary.id, Beneficiary.sealed)).all())
    monkeypatch.setenv("REMPART_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(app, ["keys", "rotate", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "current key version 2" in result.output

    new = Keyring.load(settings.key_file)
    assert new.versions == [2]
    assert settings.key_file.stat().st_mode & 0o777 == 0o600
    vault = Vault(new)
    for person in people:
        assert _find(runtime, vault, person.fields) == person.fields
    with runtime.engine.connect() as conn:
        after = dict(conn.execute(select(Beneficiary.id, Beneficiary.sealed)).all())
        row = conn.execute(select(Beneficiary.sealed, Beneficiary.member_idx)).first()
    assert all(before[i] != after[i] for i in before)
    assert row is not None
    with pytest.raises(TamperedCiphertext):  # the retired key no longer opens anything
        Vault(old).open(row.sealed, version=1, kind=sealing.PERSON_KIND,
                        row_token=row.member_idx)


def test_rotate_refuses_a_keyring_from_the_environment(settings: Settings,
                                                       runtime: Runtime,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMPART_KEYRING", Keyring.load(settings.key_file).to_json())
    monkeypatch.setenv("REMPART_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(app, ["keys", "rotate", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2
    assert "secret store" in result.output
