"""Care categories and guarantee kinds: the vocabulary of coverage."""

from __future__ import annotations

import enum


class CareCategory(enum.StrEnum):
    PHARMACY = "pharmacy"
    OPTICAL = "optical"
    DENTAL = "dental"
    HEARING = "hearing"
    HOSPITAL = "hospital"
    CONSULTATION = "consultation"
    PHYSIOTHERAPY = "physiotherapy"
    NURSING = "nursing"
    LABORATORY = "laboratory"
    RADIOLOGY = "radiology"


class GuaranteeKind(enum.StrEnum):
    """How a guarantee pays.

    BASE_SHARE: a percentage of the public base tariff (100 means the base tariff itself).
    FLAT: a fixed amount per act.
    CEILING: the actual cost, up to a ceiling per act.
    """

    BASE_SHARE = "base_share"
    FLAT = "flat"
    CEILING = "ceiling"


class Profession(enum.StrEnum):
    PHARMACY = "pharmacy"
    OPTICIAN = "optician"
    DENTIST = "dentist"
    PHYSIOTHERAPIST = "physiotherapist"
    HEARING_AID = "hearing_aid"
    HOSPITAL = "hospital"
    PHYSICIAN = "physician"
    NURSE = "nurse"
    LABORATORY = "laboratory"


class MaritalStatus(enum.StrEnum):
    SINGLE = "single"
    MARRIED = "married"
    PACS = "pacs"
    DIVORCED = "divorced"
    WIDOWED = "widowed"
    UNKNOWN = "unknown"
