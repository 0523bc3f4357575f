"""The provider population: organisations by profession and the professionals in them.

Counts scale France's (about 20,000 pharmacies, 44,000 opticians in 13,000 shops,
46,000 dentists, 3,000 hospitals and clinics, ...) by people / 68 million, with a
small minimum per profession so that a small population still has providers of every
kind. Organisations are spread over départements like the population. Pharmacies,
hospitals and laboratories have a FINESS; every organisation has a SIRET; every
professional an RPPS. All are public directory data, not personal data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from rempart.core.care import Profession
from rempart.core.identifiers import build_finess, build_rpps, build_siret
from rempart.synth.insurers import SCRAMBLE_MULTIPLIER
from rempart.synth.scramble import Scrambler
from rempart.synth.tables import Departement, Tables
from rempart.synth.weighted import Weighted

FRANCE_POPULATION = 68_000_000
MIN_ORGANISATIONS = 2
LA_POSTE_SIREN_BODY = 35_600_000  # SIREN 356000000 follows another check rule


@dataclass(frozen=True, slots=True)
class ProfessionSpec:
    profession: Profession
    organisations_in_france: int
    staff: tuple[int, int]  # professionals per organisation, inclusive range
    staff_profession: Profession
    has_finess: bool
    names: tuple[str, ...]  # name patterns; {name} is a surname, {dept} a département


SPECS: tuple[ProfessionSpec, ...] = (
    ProfessionSpec(Profession.PHARMACY, 20_000, (1, 4), Profession.PHARMACY, True,
                   ("Pharmacie du Centre", "Pharmacie de la Gare", "Pharmacie des Halles",
                    "Pharmacie du Marché", "Pharmacie de la Mairie", "Pharmacie du Parc",
                    "Pharmacie Principale", "Pharmacie de l'Église", "Pharmacie {name}")),
    ProfessionSpec(Profession.OPTICIAN, 13_000, (2, 5), Profession.OPTICIAN, False,
                   ("Optique {name}", "{name} Opticiens", "Optique du Centre")),
    ProfessionSpec(Profession.DENTIST, 31_000, (1, 2), Profession.DENTIST, False,
                   ("Cabinet dentaire {name}", "Centre dentaire {name}")),
    ProfessionSpec(Profession.PHYSIOTHERAPIST, 45_000, (1, 3), Profession.PHYSIOTHERAPIST,
                   False, ("Cabinet de kinésithérapie {name}", "Kiné {name}")),
    ProfessionSpec(Profession.HEARING_AID, 6_000, (1, 2), Profession.HEARING_AID, False,
                   ("Audition {name}", "Centre auditif {name}")),
    ProfessionSpec(Profession.HOSPITAL, 3_000, (5, 30), Profession.PHYSICIAN, True,
                   ("Centre hospitalier {dept}", "Clinique {name}", "Polyclinique {name}",
                    "Hôpital privé {name}")),
    ProfessionSpec(Profession.PHYSICIAN, 60_000, (1, 3), Profession.PHYSICIAN, False,
                   ("Cabinet médical {name}", "Maison de santé {name}")),
    ProfessionSpec(Profession.NURSE, 60_000, (1, 3), Profession.NURSE, False,
                   ("Cabinet infirmier {name}",)),
    ProfessionSpec(Profession.LABORATORY, 4_000, (1, 4), Profession.LABORATORY, True,
                   ("Laboratoire de biologie médicale {name}", "Laboratoire {name}")),
)


@dataclass(frozen=True, slots=True)
class OrganisationRow:
    siret: str
    finess: str | None
    name: str
    profession: Profession
    postcode: str
    departement: str


@dataclass(frozen=True, slots=True)
class ProfessionalRow:
    rpps: str
    siret: str
    profession: Profession


def organisation_count(spec: ProfessionSpec, people: int) -> int:
    return max(MIN_ORGANISATIONS, round(spec.organisations_in_france * people / FRANCE_POPULATION))


class ProviderFactory:
    def __init__(self, rng: random.Random, tables: Tables) -> None:
        self._rng = rng
        self._tables = tables
        self._departements = Weighted((d, float(d.population)) for d in tables.departements)
        self._postcodes = {d.code: d.postcodes() for d in tables.departements}
        self._sirens = Scrambler(name="SIREN numbers", modulus=10**8,
                                 multiplier=SCRAMBLE_MULTIPLIER % 10**8,
                                 offset=rng.randrange(10**8))
        self._rpps = Scrambler(name="RPPS numbers", modulus=10**9,
                               multiplier=SCRAMBLE_MULTIPLIER % 10**9,
                               offset=rng.randrange(10**9))
        self._finess: dict[str, Scrambler] = {}

    def providers(self, people: int
                  ) -> Iterator[tuple[OrganisationRow, list[ProfessionalRow]]]:
        """Each organisation with its professionals, profession by profession."""
        for spec in SPECS:
            for _ in range(organisation_count(spec, people)):
                organisation = self._organisation(spec)
                low, high = spec.staff
                staff = [ProfessionalRow(build_rpps(self._rpps.next()), organisation.siret,
                                         spec.staff_profession)
                         for _ in range(self._rng.randint(low, high))]
                yield organisation, staff

    def _organisation(self, spec: ProfessionSpec) -> OrganisationRow:
        rng = self._rng
        departement = self._departements.pick(rng)
        body = self._sirens.next()
        while body == LA_POSTE_SIREN_BODY:
            body = self._sirens.next()
        siret = build_siret(siren_body=body, establishment=rng.randint(1, 99))
        pattern = rng.choice(spec.names)
        name = pattern.format(name=self._tables.last_names.pick(rng).title(),
                              dept=departement.name)
        return OrganisationRow(
            siret=siret,
            finess=self._next_finess(departement) if spec.has_finess else None,
            name=name, profession=spec.profession,
            postcode=rng.choice(self._postcodes[departement.code]),
            departement=departement.code,
        )

    def _next_finess(self, departement: Departement) -> str:
        code = departement.code
        # Overseas FINESS start with 97 and the département's third digit.
        prefix, width = (("97", 10**5) if departement.overseas else (code, 10**6))
        scrambler = self._finess.get(code)
        if scrambler is None:
            scrambler = Scrambler(name=f"FINESS numbers of {code}", modulus=width,
                                  multiplier=SCRAMBLE_MULTIPLIER % width,
                                  offset=self._rng.randrange(width))
            self._finess[code] = scrambler
        body = scrambler.next()
        if departement.overseas:
            body += int(code[2]) * 10**5
        return build_finess(departement=prefix, body=body)
