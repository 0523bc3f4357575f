"""The insurers (AMC) of the synthetic population, their tiers and contract numbers.

Fictional mutuals and insurers with realistic-looking 9-digit AMC numbers, unequal
national market shares, and regional mutuals that weigh more in their home regions.
Each insurer numbers its contracts in its own format; a member number is the contract
number followed by the member's two-digit rank on the contract.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rempart.synth.scramble import Scrambler
from rempart.synth.tables import Departement
from rempart.synth.weighted import Weighted

HOME_REGION_BOOST = 5.0
# Knuth's multiplicative-hash prime: ends in 1, so coprime to every power of ten.
SCRAMBLE_MULTIPLIER = 2_654_435_761


class Tier(enum.StrEnum):
    """Contract tiers; the file format wants tiers in lower case."""

    ESSENTIEL = "essentiel"
    CONFORT = "confort"
    PREMIUM = "premium"
    CSS = "css"  # Complémentaire santé solidaire, for low incomes


@dataclass(frozen=True, slots=True)
class InsurerProfile:
    amc_number: str
    name: str
    share: float  # national market share, relative
    home_regions: tuple[str, ...]
    contract_prefix: str
    contract_digits: int


INSURERS: tuple[InsurerProfile, ...] = (
    InsurerProfile("775601230", "Mutuelle Nationale Interprofessionnelle", 19.0, (), "", 10),
    InsurerProfile("784405672", "Alliance Santé Mutualiste", 15.0, (), "ASM", 8),
    InsurerProfile("530412873", "Prévoyance Familiale de France", 12.0, (), "", 9),
    InsurerProfile("784215964", "Mutuelle des Agents Publics", 11.0, (), "MAP", 8),
    InsurerProfile("442187399", "Union Mutualiste de l'Ouest", 5.0, ("BRE", "PDL", "NOR"),
                   "UMO", 8),
    InsurerProfile("779813427", "Mutuelle Rhône-Alpes Santé", 4.0, ("ARA",), "R", 9),
    InsurerProfile("783109648", "Caisse Mutuelle du Nord et de l'Est", 4.0, ("HDF", "GES"),
                   "", 8),
    InsurerProfile("415723816", "Mutuelle Solidaire du Midi", 4.0, ("OCC", "PAC", "COR"),
                   "MSM", 8),
    InsurerProfile("331488056", "Assurance Santé Atlantique", 3.0, ("NAQ",), "", 11),
    InsurerProfile("784512907", "Mutuelle des Métiers du Bâtiment", 3.5, (), "MB", 8),
    InsurerProfile("972188346", "Mutuelle Santé des Outre-mer", 1.0,
                   ("GUA", "MTQ", "GUF", "REU", "MAY"), "OM", 8),
)


def insurer_choice_by_region(departements: tuple[Departement, ...]) -> dict[str, Weighted[int]]:
    """For each region, the weighted choice of an insurer index for its residents."""
    regions = sorted({d.region for d in departements})
    return {
        region: Weighted(
            (i, p.share * (HOME_REGION_BOOST if region in p.home_regions else 1.0))
            for i, p in enumerate(INSURERS)
        )
        for region in regions
    }


class ContractNumbers:
    """Unique, non-sequential contract numbers in one insurer's format."""

    __slots__ = ("_digits", "_prefix", "_scrambler")

    def __init__(self, profile: InsurerProfile, *, offset: int) -> None:
        modulus = 10**profile.contract_digits
        self._prefix = profile.contract_prefix
        self._digits = profile.contract_digits
        self._scrambler = Scrambler(name=f"contract numbers of AMC {profile.amc_number}",
                                    modulus=modulus, multiplier=SCRAMBLE_MULTIPLIER % modulus,
                                    offset=offset)

    def next(self) -> str:
        return f"{self._prefix}{self._scrambler.next():0{self._digits}d}"
