"""Insurers, guarantees, organisations and professionals files; file discovery and order."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest_samples import AMC, guarantee_rows, insurer_rows, member_rows, write
from rempart.clock import ManualClock
from rempart.core.identifiers import build_finess, build_rpps, build_siret
from rempart.ingest.discover import expand
from rempart.ingest.errors import FileRejected
from rempart.ingest.formats import FileKind, FileMode
from rempart.ingest.service import Importer
from rempart.population.models import Guarantee
from rempart.providers.models import Organisation, Professional
from rempart.runtime import Runtime
from test_ingest_members import snapshot


@pytest.fixture
def importer(runtime: Runtime) -> Importer:
    return Importer(engine=runtime.engine, vault=runtime.vault,
                    clock=ManualClock(dt.datetime(2026, 3, 2, tzinfo=dt.UTC)))


def organisation_rows() -> list[list[str]]:
    return [[build_siret(siren_body=12345670 + i, establishment=1),
             build_finess(departement="75", body=i) if i % 2 else "", f"Pharmacie {i}",
             "pharmacy", "75011", "75"] for i in range(4)]


def professional_rows(orgs: list[list[str]]) -> list[list[str]]:
    return [[build_rpps(100 + i), org[0], "pharmacy"] for i, org in enumerate(orgs)]


def provider_files(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    orgs = organisation_rows()
    return [write(directory / "orgs.csv", FileKind.ORGANISATIONS, orgs),
            write(directory / "pros.csv", FileKind.PROFESSIONALS, professional_rows(orgs))]


def test_a_directory_applies_in_kind_order_then_again_changes_nothing(
        importer: Importer, runtime: Runtime, tmp_path: Path) -> None:
    directory = tmp_path / "in"
    directory.mkdir()
    # Names sort against kind order on purpose: kinds must still go first.
    write(directory / "a-members.csv", FileKind.MEMBERS, member_rows(4))
    write(directory / "b-professionals.csv", FileKind.PROFESSIONALS,
          professional_rows(organisation_rows()))
    write(directory / "c-guarantees.csv", FileKind.GUARANTEES, guarantee_rows())
    write(directory / "d-organisations.csv", FileKind.ORGANISATIONS, organisation_rows())
    write(directory / "e-insurers.csv", FileKind.INSURERS, insurer_rows())
    reports = importer.import_paths(paths=[directory])
    assert [r.kind for r in reports] == [FileKind.INSURERS, FileKind.GUARANTEES,
                                         FileKind.ORGANISATIONS, FileKind.PROFESSIONALS,
                                         FileKind.MEMBERS]
    with runtime.engine.connect() as conn:
        pros = conn.execute(select(Professional.rpps, Organisation.siret).join(
            Organisation, Organisation.id == Professional.organisation_id)).all()
        assert conn.scalar(select(Guarantee.rate_bp).where(Guarantee.category == "pharmacy")
                           .limit(1)) == 10000
    assert sorted(pros) == sorted((p[0], p[1]) for p in professional_rows(organisation_rows()))
    before = snapshot(runtime.engine)
    assert {r.status for r in importer.import_paths(paths=[directory])} == {"already applied"}
    assert snapshot(runtime.engine) == before


def test_a_changed_reference_row_is_updated_in_place(importer: Importer, runtime: Runtime,
                                                     tmp_path: Path) -> None:
    importer.import_paths(paths=[write(tmp_path / "i.csv", FileKind.INSURERS, insurer_rows())])
    renamed = [[AMC, "Mutuelle Renommée"], insurer_rows()[1]]
    (report,) = importer.import_paths(
        paths=[write(tmp_path / "i2.csv", FileKind.INSURERS, renamed, FileMode.DELTA)])
    assert report.counts == {"inserted": 0, "updated": 1, "unchanged": 1}


def test_manifest_order_is_followed_within_a_kind(tmp_path: Path) -> None:
    directory = tmp_path / "in"
    directory.mkdir()
    write(directory / "z.csv", FileKind.MEMBERS, [])
    write(directory / "a.csv", FileKind.MEMBERS, [])
    write(directory / "ins.csv", FileKind.INSURERS, [])
    (directory / "manifest.json").write_text(json.dumps({"files": ["z.csv", "a.csv"]}))
    assert [p.name for p in expand([directory])] == ["ins.csv", "z.csv", "a.csv"]
    (directory / "manifest.json").unlink()
    assert [p.name for p in expand([directory])] == ["ins.csv", "a.csv", "z.csv"]


BAD = {
    "insurers": (FileKind.INSURERS, [[AMC, "A"], [AMC, "B"]], "amc_number: duplicate of line 3"),
    "insurers bad number": (FileKind.INSURERS, [["12AB", "A"]], "amc_number: must be"),
    "guarantee of an unknown insurer": (
        FileKind.GUARANTEES, [["123456789", *guarantee_rows()[0][1:]]],
        "amc_number: unknown insurer"),
    "guarantee kind": (FileKind.GUARANTEES, [[*guarantee_rows()[0][:3], "gift",
                                              *guarantee_rows()[0][4:]]], "kind: must be one of"),
    "guarantee base share without a rate": (
        FileKind.GUARANTEES, [[*guarantee_rows()[0][:4], "", *guarantee_rows()[0][5:]]],
        "rate_bp: is required"),
    "organisation SIRET": (FileKind.ORGANISATIONS,
                           [["12345678901234", *organisation_rows()[0][1:]]], "siret: bad check"),
    "organisation FINESS": (FileKind.ORGANISATIONS,
                            [[organisation_rows()[0][0], "750000009", *organisation_rows()[0][2:]]],
                            "finess: bad Luhn key"),
    "organisation profession": (FileKind.ORGANISATIONS,
                                [[*organisation_rows()[0][:3], "wizard", "75011", "75"]],
                                "profession: must be one of"),
    "professional RPPS": (FileKind.PROFESSIONALS, [["10000000000", organisation_rows()[0][0],
                                                    "pharmacy"]], "rpps: bad Luhn key"),
    "professional of an unknown organisation": (
        FileKind.PROFESSIONALS, [[build_rpps(5), build_siret(siren_body=87654321,
                                                             establishment=9), "pharmacy"]],
        "siret: unknown organisation"),
}


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_reference_row_rejects_its_file(case: str, importer: Importer, runtime: Runtime,
                                              tmp_path: Path) -> None:
    importer.import_paths(paths=[write(tmp_path / "i.csv", FileKind.INSURERS, insurer_rows())])
    importer.import_paths(paths=[write(tmp_path / "o.csv", FileKind.ORGANISATIONS,
                                       organisation_rows()[:1])])
    kind, rows, expected = BAD[case]
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected) as caught:
        importer.import_paths(paths=[write(tmp_path / "bad.csv", kind, rows, FileMode.DELTA)])
    assert expected in str(caught.value)
    assert snapshot(runtime.engine) == before
