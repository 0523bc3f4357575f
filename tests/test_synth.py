"""The synthetic population files: framing, identifiers, households, distributions.

One population of a few thousand persons is generated per module and read back the
way the importer would read it (plain `;`-split lines).
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from rempart.core.care import CareCategory, GuaranteeKind, MaritalStatus, Profession
from rempart.core.identifiers import (
    nir_matches_birth_date,
    validate_finess,
    validate_nir,
    validate_rpps,
    validate_siret,
)
from rempart.ingest.formats import COLUMNS, KIND_ORDER, FileKind, FileMode, header_line
from rempart.synth import SynthManifest, generate_population
from rempart.synth.households import MAX_HOUSEHOLD_SIZE
from rempart.synth.tables import load_tables

TODAY = dt.date(2026, 6, 1)
PEOPLE = 6_000
PART_ROWS = 400
SEED = 11


@dataclass
class Population:
    directory: Path
    manifest: SynthManifest
    rows: dict[FileKind, list[dict[str, str]]]
    members_by_file: dict[str, list[dict[str, str]]]


def read_framed(path: Path, kind: FileKind) -> list[dict[str, str]]:
    """Check the framing of one file and return its rows as dicts."""
    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines[-1] == "", "the file ends with a newline"
    header, columns, *rows, trailer, _ = lines
    assert header == header_line(kind, FileMode.FULL)
    assert tuple(columns.split(";")) == COLUMNS[kind]
    assert trailer == f"#end:{len(rows)}"
    width = len(COLUMNS[kind])
    result = []
    for row in rows:
        values = row.split(";")
        assert len(values) == width
        result.append(dict(zip(COLUMNS[kind], values, strict=True)))
    return result


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    directory = tmp_path_factory.mktemp("synth") / "out"
    manifest = generate_population(out=directory, people=PEOPLE, seed=SEED,
                                   part_rows=PART_ROWS, today=TODAY)
    rows: dict[FileKind, list[dict[str, str]]] = {kind: [] for kind in FileKind}
    members_by_file = {}
    for file in manifest.files:
        file_rows = read_framed(directory / file.name, file.kind)
        assert len(file_rows) == file.rows
        rows[file.kind] += file_rows
        if file.kind is FileKind.MEMBERS:
            members_by_file[file.name] = file_rows
    return Population(directory, manifest, rows, members_by_file)


def contracts_of(population: Population) -> dict[tuple[str, str], list[dict[str, str]]]:
    contracts: dict[tuple[str, str], list[dict[str, str]]] = collections.defaultdict(list)
    for row in population.rows[FileKind.MEMBERS]:
        contracts[(row["amc_number"], row["contract_number"])].append(row)
    return contracts


# --- files and manifest -------------------------------------------------------------

def test_manifest_lists_every_file_in_import_order(population: Population) -> None:
    manifest = population.manifest
    on_disk = {p.name for p in population.directory.iterdir()}
    assert on_disk == {f.name for f in manifest.files} | {"manifest.json"}
    kinds = [f.kind for f in manifest.files]
    assert kinds == sorted(kinds, key=KIND_ORDER.index)
    assert manifest.counts[FileKind.MEMBERS] == PEOPLE == len(population.rows[FileKind.MEMBERS])
    assert SynthManifest.load(population.directory) == manifest
    assert manifest.paths(population.directory)[0] == population.directory / "insurers.csv"


def test_members_files_are_parts_per_insurer(population: Population) -> None:
    parts: dict[str, list[int]] = collections.defaultdict(list)
    for name, rows in population.members_by_file.items():
        match = re.fullmatch(r"members-(\d{9})-(\d{4})\.csv", name)
        assert match is not None
        assert 0 < len(rows) <= PART_ROWS
        assert {r["amc_number"] for r in rows} == {match[1]}
        assert {r["op"] for r in rows} == {"upsert"}
        parts[match[1]].append(int(match[2]))
    assert any(len(numbers) > 1 for numbers in parts.values())
    for numbers in parts.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))


def test_households_are_never_split_across_parts(population: Population) -> None:
    home: dict[tuple[str, str], str] = {}
    for name, rows in population.members_by_file.items():
        previous = None
        seen_here: set[tuple[str, str]] = set()
        for row in rows:
            key = (row["amc_number"], row["contract_number"])
            assert home.setdefault(key, name) == name
            # the rows of one contract follow each other
            assert key == previous or key not in seen_here
            seen_here.add(key)
            previous = key


# --- identifiers ----------------------------------------------------------------------

def test_every_nir_is_valid_unique_and_consistent(population: Population) -> None:
    members = population.rows[FileKind.MEMBERS]
    nirs = [row["nir"] for row in members]
    assert len(set(nirs)) == len(nirs)
    for row in members:
        nir = validate_nir(row["nir"])
        born = dt.date.fromisoformat(row["birth_date"])
        assert nir_matches_birth_date(nir, born)
        assert 1 <= int(nir[3:5]) <= 12  # a real month, never "unknown"
        assert nir[0] in "12"
        assert born <= TODAY


def test_provider_identifiers_are_valid_and_unique(population: Population) -> None:
    organisations = population.rows[FileKind.ORGANISATIONS]
    professionals = population.rows[FileKind.PROFESSIONALS]
    sirets = [validate_siret(o["siret"]) for o in organisations]
    assert len(set(sirets)) == len(sirets)
    finess = [o["finess"] for o in organisations if o["finess"]]
    assert len(set(finess)) == len(finess)
    with_finess = {Profession.PHARMACY, Profession.HOSPITAL, Profession.LABORATORY}
    for organisation in organisations:
        profession = Profession(organisation["profession"])
        assert bool(organisation["finess"]) == (profession in with_finess)
        if organisation["finess"]:
            assert validate_finess(organisation["finess"])
            assert organisation["finess"][:2] == organisation["departement"][:2]
    rpps = [validate_rpps(p["rpps"]) for p in professionals]
    assert len(set(rpps)) == len(rpps)
    assert {p["siret"] for p in professionals} <= set(sirets)
    assert {Profession(p["profession"]) for p in professionals} <= set(Profession)


# --- households and contracts ----------------------------------------------------------

def test_each_contract_has_one_holder_and_consistent_members(population: Population) -> None:
    member_numbers: set[tuple[str, str]] = set()
    for (amc, number), rows in contracts_of(population).items():
        ranks = [int(r["rank"]) for r in rows]
        assert len(ranks) <= MAX_HOUSEHOLD_SIZE
        assert ranks.count(1) == 1
        assert ranks[0] == 1
        assert len(set(ranks)) == len(ranks)
        assert ranks.count(2) <= 1
        assert all(rank >= 3 for rank in ranks[ranks.count(2) + 1:])
        contract_fields = {tuple(r[c] for c in COLUMNS[FileKind.MEMBERS][1:7]) for r in rows}
        assert len(contract_fields) == 1  # every row states the same contract
        assert len({(r["postcode"], r["departement"]) for r in rows}) == 1
        holder_born = dt.date.fromisoformat(rows[0]["birth_date"])
        for row in rows:
            assert row["member_number"] == f"{number}{int(row['rank']):02d}"
            member_numbers.add((amc, row["member_number"]))
            if int(row["rank"]) >= 3:  # children: single, younger than the holder
                assert row["marital_status"] == MaritalStatus.SINGLE
                assert dt.date.fromisoformat(row["birth_date"]) > holder_born
        spouses = [r for r in rows if r["rank"] == "2"]
        if spouses:
            assert spouses[0]["marital_status"] == rows[0]["marital_status"]
            assert rows[0]["marital_status"] in {"married", "pacs", "single"}
    assert len(member_numbers) == PEOPLE


def test_twins_share_a_birth_date_and_are_told_apart_by_birth_rank(
        population: Population) -> None:
    twins = 0
    for rows in contracts_of(population).values():
        for row in rows:
            if row["birth_rank"] == "2":
                twins += 1
                siblings = [r for r in rows if r is not row and r["birth_rank"] == "1"
                            and r["birth_date"] == row["birth_date"]]
                assert siblings
                assert int(row["rank"]) >= 3
            else:
                assert row["birth_rank"] == "1"
    assert twins > 0


def test_contract_dates_and_fields_are_plausible(population: Population) -> None:
    departements = {d.code for d in load_tables().departements}
    tiers = {(g["amc_number"], g["tier"]) for g in population.rows[FileKind.GUARANTEES]}
    insurers = {i["amc_number"] for i in population.rows[FileKind.INSURERS]}
    for row in population.rows[FileKind.MEMBERS]:
        start = dt.date.fromisoformat(row["contract_start"])
        assert TODAY - dt.timedelta(days=31 * 366) < start <= TODAY
        if row["contract_end"]:
            assert start <= dt.date.fromisoformat(row["contract_end"]) < TODAY
        assert row["amc_number"] in insurers
        assert (row["amc_number"], row["tier"]) in tiers
        assert row["departement"] in departements
        corsica = row["departement"] in ("2A", "2B")
        assert row["postcode"][:2] == ("20" if corsica else row["departement"][:2])
        assert re.fullmatch(r"\d{5}", row["postcode"])
        assert row["marital_status"] in set(MaritalStatus)
        assert row["third_party"] in ("0", "1")
        if row["tier"] == "css":
            assert row["third_party"] == "1"
        assert row["last_name"].strip()
        assert row["first_name"].strip()


# --- guarantees ------------------------------------------------------------------------

def test_guarantee_grid_is_complete_and_realistic(population: Population) -> None:
    guarantees = population.rows[FileKind.GUARANTEES]
    insurers = {i["amc_number"] for i in population.rows[FileKind.INSURERS]}
    current = {(g["amc_number"], g["tier"], g["category"]): g for g in guarantees
               if not g["valid_to"]}
    assert len(current) == len(insurers) * 4 * len(CareCategory)
    for (_amc, tier, category), g in current.items():
        kind = GuaranteeKind(g["kind"])
        assert (kind is GuaranteeKind.BASE_SHARE) == bool(g["rate_bp"])
        assert (kind is GuaranteeKind.BASE_SHARE) or g["amount_cents"]
        assert bool(g["allowance_cents"]) == bool(g["period_months"])
        rate = int(g["rate_bp"] or 0)
        if category == "pharmacy":
            assert rate == 10_000
        if category == "consultation":
            assert 10_000 <= rate <= 30_000
        if category == "dental" and tier != "css":
            assert 12_500 <= rate <= 40_000
            assert g["period_months"] == "12"
        if category == "optical" and tier != "css":
            assert kind is GuaranteeKind.FLAT
            assert g["period_months"] == "24"
        if category == "hearing":
            assert kind is GuaranteeKind.CEILING
            assert g["period_months"] == "48"
        if category == "hospital":
            assert rate >= 10_000
            assert int(g["amount_cents"]) > 0
        if tier == "css":
            assert rate in (0, 10_000)
    premium = [int(g["rate_bp"]) for k, g in current.items() if k[1:] == ("premium", "dental")]
    essential = [int(g["rate_bp"]) for k, g in current.items()
                 if k[1:] == ("essentiel", "dental")]
    assert min(premium) > max(essential)


# --- distributions ---------------------------------------------------------------------

def _share(count: int, total: int) -> float:
    return count / total


def test_birth_places_follow_residence(population: Population) -> None:
    region = {d.code: d.region for d in load_tables().departements}
    members = population.rows[FileKind.MEMBERS]
    abroad = near = 0
    for row in members:
        place = row["nir"][5:7]
        if place == "99":
            abroad += 1
            continue
        born_in = row["nir"][5:8] if place == "97" else place
        near += region[born_in] == region[row["departement"]]
    assert 0.04 <= _share(abroad, len(members)) <= 0.09
    assert _share(near, len(members) - abroad) >= 0.8


def test_age_pyramid_is_roughly_french(population: Population) -> None:
    ages = [(TODAY - dt.date.fromisoformat(r["birth_date"])).days / 365.2425
            for r in population.rows[FileKind.MEMBERS]]
    assert 0.19 <= _share(sum(a < 20 for a in ages), len(ages)) <= 0.28
    assert 0.22 <= _share(sum(a >= 60 for a in ages), len(ages)) <= 0.32
    assert any(a >= 90 for a in ages)
    assert any(a < 1 for a in ages)
    women = sum(r["nir"][0] == "2" for r in population.rows[FileKind.MEMBERS])
    assert 0.49 <= _share(women, len(ages)) <= 0.55


def test_insurers_and_tiers_are_unequal(population: Population) -> None:
    members = population.rows[FileKind.MEMBERS]
    by_insurer = collections.Counter(r["amc_number"] for r in members)
    assert len(by_insurer) >= 8
    assert by_insurer.most_common()[0][1] > 3 * by_insurer.most_common()[-1][1]
    tiers = collections.Counter(r["tier"] for r in members)
    assert set(tiers) == {"essentiel", "confort", "premium", "css"}
    assert tiers["css"] < tiers["confort"]
    contracts = contracts_of(population)
    ended = sum(1 for rows in contracts.values() if rows[0]["contract_end"])
    assert 0.02 <= _share(ended, len(contracts)) <= 0.07
    paying = sum(1 for rows in contracts.values() if rows[0]["third_party"] == "1")
    assert _share(paying, len(contracts)) >= 0.9


def test_names_follow_frequency_and_generation(population: Population) -> None:
    members = population.rows[FileKind.MEMBERS]
    last = collections.Counter(r["last_name"] for r in members)
    assert last.most_common(1)[0][0] == "MARTIN"
    assert len(last) > 300
    old = collections.Counter(r["first_name"] for r in members if r["birth_date"] < "1960")
    young = collections.Counter(r["first_name"] for r in members if r["birth_date"] >= "2010")
    top_old = {name for name, _ in old.most_common(20)}
    top_young = {name for name, _ in young.most_common(20)}
    assert len(top_old & top_young) <= 2
    assert any(not name.isascii() for name in young)  # accents survive UTF-8


def test_providers_cover_every_profession_and_many_departements(
        population: Population) -> None:
    organisations = population.rows[FileKind.ORGANISATIONS]
    assert {Profession(o["profession"]) for o in organisations} == set(Profession)
    assert len({o["departement"] for o in organisations}) > 20
    assert all(o["postcode"][:2] in (o["departement"][:2], "20") for o in organisations)
