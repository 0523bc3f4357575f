"""The catalogue of a person's data that rempart holds and a disclosure can name.

The single vocabulary shared by scopes (which fields reached someone), the article 33
draft (categories of data) and the article 34 letters (what was seen and what was not).
A scope naming a field outside this catalogue is refused: a letter must never leave a
disclosed field out because nobody knew how to describe it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Language(enum.StrEnum):
    FR = "fr"
    EN = "en"


class DataCategory(enum.StrEnum):
    IDENTITY = "identity"
    CIVIL_STATUS = "civil_status"
    RESIDENCE = "residence"
    INSURANCE = "insurance"
    CARE = "care"  # data concerning health (GDPR art. 9): the kind of care, claims


CATEGORY_LABELS: dict[DataCategory, dict[Language, str]] = {
    DataCategory.IDENTITY: {
        Language.FR: "Données d'identification (NIR, nom, prénom, date et rang de naissance)",
        Language.EN: "Identification data (NIR, names, date and rank of birth)",
    },
    DataCategory.CIVIL_STATUS: {
        Language.FR: "Situation familiale",
        Language.EN: "Marital status",
    },
    DataCategory.RESIDENCE: {
        Language.FR: "Lieu de résidence (code postal, département)",
        Language.EN: "Place of residence (postcode, département)",
    },
    DataCategory.INSURANCE: {
        Language.FR: "Contrat de complémentaire santé (organisme, numéros, droits, garanties)",
        Language.EN: "Complementary health insurance contract (insurer, numbers, cover, "
                     "guarantees)",
    },
    DataCategory.CARE: {
        Language.FR: "Soins (type de soins vérifié, montants facturés) : données de santé",
        Language.EN: "Care (type of care checked, amounts billed): data concerning health",
    },
}


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    category: DataCategory
    label_fr: str
    label_en: str

    def label(self, language: Language) -> str:
        return self.label_fr if language is Language.FR else self.label_en


def _field(name: str, category: DataCategory, fr: str, en: str) -> FieldInfo:
    return FieldInfo(name, category, fr, en)


_C = DataCategory
# In the order a letter lists them: who you are, then your contract, then your care.
CATALOGUE: tuple[FieldInfo, ...] = (
    _field("nir", _C.IDENTITY, "Votre numéro de sécurité sociale (NIR)",
           "Your social security number (NIR)"),
    _field("last_name", _C.IDENTITY, "Votre nom", "Your surname"),
    _field("first_name", _C.IDENTITY, "Votre prénom", "Your first name"),
    _field("birth_date", _C.IDENTITY, "Votre date de naissance", "Your date of birth"),
    _field("birth_rank", _C.IDENTITY, "Votre rang de naissance (qui distingue les jumeaux)",
           "Your birth rank (which tells twins apart)"),
    _field("identity_confirmed", _C.IDENTITY,
           "La confirmation que les identifiants saisis (numéro de sécurité sociale, date de "
           "naissance, numéro d'adhérent) correspondent à un assuré de votre complémentaire",
           "Confirmation that the identifiers typed in (social security number, date of birth, "
           "member number) match an insured person of your insurer"),
    _field("marital_status", _C.CIVIL_STATUS, "Votre situation familiale",
           "Your marital status"),
    _field("postcode", _C.RESIDENCE, "Votre code postal", "Your postcode"),
    _field("departement", _C.RESIDENCE, "Votre département de résidence",
           "Your département of residence"),
    _field("insurer", _C.INSURANCE, "Le nom de votre complémentaire santé",
           "The name of your complementary health insurer"),
    _field("member_number", _C.INSURANCE, "Votre numéro d'adhérent",
           "Your member number"),
    _field("contract_number", _C.INSURANCE, "Votre numéro de contrat",
           "Your contract number"),
    _field("coverage", _C.INSURANCE, "Le fait que vous étiez couvert(e) ou non à une date donnée",
           "Whether you were covered on a given date"),
    _field("guarantee", _C.INSURANCE, "Le niveau de remboursement de votre contrat (garanties)",
           "Your level of cover (guarantees)"),
    _field("third_party", _C.INSURANCE, "L'accord de tiers payant (dispense d'avance de frais)",
           "Whether third-party payment applied (no upfront payment)"),
    _field("care_category", _C.CARE,
           "Le type de soins vérifié (par exemple optique ou dentaire)",
           "The type of care checked (for example optical or dental)"),
    _field("claim", _C.CARE, "Les montants d'une facturation de soins",
           "The amounts billed for care"),
)

FIELDS: dict[str, FieldInfo] = {info.name: info for info in CATALOGUE}
FIELD_NAMES: frozenset[str] = frozenset(FIELDS)
_ORDER = {info.name: position for position, info in enumerate(CATALOGUE)}

# The names the audit log records (the answers' own field names, see coverage.answers
# and coverage.claims) and what each tells about the person, in catalogue terms. A
# positive check confirms that the identifiers the caller typed belong to an insured
# person: that is a disclosure too, even though the caller typed them.
RECORDED_ALIASES: dict[str, tuple[str, ...]] = {
    "covered": ("coverage", "identity_confirmed"),
    "third_party_payment": ("third_party",),
    "guarantee_kind": ("guarantee",),
    "guarantee_rate_bp": ("guarantee",),
    "guarantee_amount_cents": ("guarantee",),
    "allowance_remaining_cents": ("guarantee",),
    "amc_cents": ("guarantee",),
    "claim_status": ("claim",),
    "claim_reason": ("claim",),
}


def canonical_fields(names: Iterable[str]) -> frozenset[str]:
    """Catalogue names for recorded or catalogue names; an unknown name raises KeyError."""
    result: set[str] = set()
    for name in names:
        if name in FIELDS:
            result.add(name)
        else:
            result.update(RECORDED_ALIASES[name])
    return frozenset(result)


def in_catalogue_order(names: Iterable[str]) -> list[FieldInfo]:
    """The fields named, in the catalogue's order (unknown names are the caller's error)."""
    return sorted((FIELDS[name] for name in names), key=lambda info: _ORDER[info.name])


def categories_of(names: Iterable[str]) -> list[DataCategory]:
    """The categories the named fields belong to, in the enum's order."""
    present = {FIELDS[name].category for name in names}
    return [category for category in DataCategory if category in present]
