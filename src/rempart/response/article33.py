"""The draft notification to the supervisory authority (GDPR article 33).

Article 33(3) asks for: (a) the nature of the breach, with the categories and
approximate numbers of data subjects and of records concerned; (b) the name and contact
of the data protection officer or another contact point; (c) the likely consequences;
(d) the measures taken or proposed. Article 33(1) gives 72 hours from awareness, which is
the scope's recorded detection time; past it, the notification must give the reasons
for the delay. The draft is built from the scope alone (no personal data) and written as
JSON for systems and as Markdown, in French and English, for the analyst to complete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from rempart.response.errors import DetectionInFuture
from rempart.response.fields import (
    CATEGORY_LABELS,
    DataCategory,
    Language,
    categories_of,
    in_catalogue_order,
)
from rempart.response.rendering import markdown_environment, utc_iso
from rempart.response.scope import Scope

NOTIFICATION_DELAY = dt.timedelta(hours=72)
JSON_FORMAT = "rempart-gdpr-art33-draft/1"


@dataclass(frozen=True)
class Deadline:
    """72 hours from detection; on time up to and including the due instant."""

    detected_at: dt.datetime
    now: dt.datetime

    @classmethod
    def starting(cls, *, detected_at: dt.datetime, now: dt.datetime) -> Deadline:
        if detected_at > now:
            raise DetectionInFuture("the scope's detection time is later than now; "
                                    "check the clock or the scope")
        return cls(detected_at=detected_at, now=now)

    @property
    def due_at(self) -> dt.datetime:
        return self.detected_at + NOTIFICATION_DELAY

    @property
    def remaining(self) -> dt.timedelta:
        """Time left before the deadline; negative once it has passed."""
        return self.due_at - self.now

    @property
    def overdue(self) -> bool:
        return self.now > self.due_at


@dataclass(frozen=True)
class ContactPoint:
    """The data protection officer (or another contact point) named in every document."""

    name: str | None = None
    contact: str | None = None


# Likely consequences (art. 33(3)(c)), chosen by the categories of data disclosed.
CONSEQUENCES: dict[str, dict[Language, str]] = {
    "targeted_phishing": {
        Language.FR: "Hameçonnage ciblé (courriel, SMS, appel) citant l'identité exacte des "
                     "personnes pour paraître légitime et obtenir des coordonnées bancaires, "
                     "des mots de passe ou des codes.",
        Language.EN: "Targeted phishing (email, text message, phone call) quoting the "
                     "persons' exact identity to look genuine and obtain bank details, "
                     "passwords or codes.",
    },
    "impersonation": {
        Language.FR: "Tentatives d'usurpation d'identité auprès d'organismes (caisses, "
                     "assureurs, administrations) facilitées par le NIR et la date de "
                     "naissance, données qui ne peuvent pas être changées.",
        Language.EN: "Attempts at impersonation towards organisations (health funds, "
                     "insurers, administrations) made easier by the NIR and date of birth, "
                     "which cannot be changed.",
    },
    "insurer_impersonation": {
        Language.FR: "Faux messages de la complémentaire santé (mise à jour de contrat, "
                     "remboursement, résiliation) rendus crédibles par l'organisme, les "
                     "numéros et les garanties connus.",
        Language.EN: "Fake messages from the health insurer (contract update, refund, "
                     "cancellation) made credible by knowing the insurer, the numbers and "
                     "the level of cover.",
    },
    "profiling": {
        Language.FR: "Recoupement avec des fuites antérieures (situation familiale, lieu de "
                     "résidence) pour enrichir des fichiers de fraude.",
        Language.EN: "Cross-matching with earlier leaks (marital status, place of residence) "
                     "to enrich fraud lists.",
    },
    "health_inference": {
        Language.FR: "Révélation d'informations liées à la santé (type de soins, montants) : "
                     "données sensibles au sens de l'article 9 du RGPD.",
        Language.EN: "Disclosure of health-related information (type of care, amounts): "
                     "special-category data under GDPR article 9.",
    },
}
_CONSEQUENCES_BY_CATEGORY: dict[DataCategory, tuple[str, ...]] = {
    DataCategory.IDENTITY: ("targeted_phishing", "impersonation"),
    DataCategory.CIVIL_STATUS: ("profiling",),
    DataCategory.RESIDENCE: ("profiling",),
    DataCategory.INSURANCE: ("targeted_phishing", "insurer_impersonation"),
    DataCategory.CARE: ("health_inference",),
}


# Measures (art. 33(3)(d)). "Taken" ones are true by construction of this report; the
# analyst adds the containment actually done (accounts suspended, sessions ended, ...).
MEASURES: dict[str, dict[Language, str]] = {
    "scoped": {
        Language.FR: "Périmètre établi à partir du journal d'audit infalsifiable : "
                     "{persons} personnes, avec pour chacune les données exactes divulguées.",
        Language.EN: "Scope established from the tamper-evident audit log: {persons} "
                     "persons, with the exact data disclosed to each.",
    },
    "letters_prepared": {
        Language.FR: "Courriers de l'article 34 préparés pour les {letters} personnes, avec "
                     "des conseils contre l'hameçonnage.",
        Language.EN: "Article 34 letters prepared for the {letters} persons, with "
                     "anti-phishing advice.",
    },
    "send_letters": {
        Language.FR: "Envoyer les courriers de l'article 34 aux personnes concernées, par "
                     "leur complémentaire santé.",
        Language.EN: "Send the article 34 letters to the persons concerned, through their "
                     "health insurer.",
    },
    "reset_accounts": {
        Language.FR: "Réinitialiser les accès des comptes utilisés et exiger une clé "
                     "d'accès (passkey) résistante à l'hameçonnage avant leur réouverture.",
        Language.EN: "Reset the credentials of the accounts used and require a "
                     "phishing-resistant passkey before they are reopened.",
    },
}


TO_COMPLETE: dict[str, dict[Language, str]] = {
    "contact_name": {Language.FR: "Nom du délégué à la protection des données (DPO)",
                     Language.EN: "Name of the data protection officer (DPO)"},
    "contact_details": {Language.FR: "Coordonnées du DPO ou du point de contact",
                        Language.EN: "Contact details of the DPO or contact point"},
    "containment": {Language.FR: "Mesures de confinement prises (comptes suspendus, "
                                 "sessions fermées, ...)",
                    Language.EN: "Containment measures taken (accounts suspended, sessions "
                                 "ended, ...)"},
    "delay_reasons": {Language.FR: "Motifs du retard : notification après 72 heures "
                                   "(article 33(1))",
                      Language.EN: "Reasons for the delay: notified after 72 hours "
                                   "(article 33(1))"},
}


@dataclass(frozen=True)
class CategoryLine:
    category: DataCategory
    fields: tuple[str, ...]
    persons: int  # persons with at least one field of the category disclosed


@dataclass(frozen=True)
class ControllerLine:
    """An insurer whose insured persons are concerned (the controller of their data)."""

    amc: str
    name: str | None
    persons: int


@dataclass(frozen=True)
class Notification:
    generated_at: dt.datetime
    deadline: Deadline
    scope: Scope
    categories: tuple[CategoryLine, ...]
    controllers: tuple[ControllerLine, ...]
    contact: ContactPoint
    consequences: tuple[str, ...]
    analyst_measures: tuple[str, ...]  # free text from the analyst, in their own words
    letters: int
    languages: tuple[Language, ...]

    @property
    def health_data(self) -> bool:
        return any(line.category is DataCategory.CARE for line in self.categories)

    def measures(self, kind: str, language: Language) -> list[str]:
        """'taken' or 'proposed' measures, in a language (the analyst's text as given)."""
        if kind == "taken":
            keys = ["scoped", *(["letters_prepared"] if self.letters else [])]
        else:
            keys = [*(["send_letters"] if self.letters else []), "reset_accounts"]
        counts = {"persons": self.scope.counts.persons, "letters": self.letters}
        texts = [MEASURES[key][language].format(**counts) for key in keys]
        return texts + list(self.analyst_measures) if kind == "taken" else texts

    @property
    def to_complete(self) -> tuple[str, ...]:
        """Keys of TO_COMPLETE: what the analyst must still add before sending."""
        missing = []
        if not self.contact.name:
            missing.append("contact_name")
        if not self.contact.contact:
            missing.append("contact_details")
        if not self.analyst_measures:
            missing.append("containment")
        if self.deadline.overdue:
            missing.append("delay_reasons")
        return tuple(missing)


def draft_notification(*, scope: Scope, contact: ContactPoint, now: dt.datetime,
                       measures: Sequence[str] = (), letters: int = 0,
                       languages: Sequence[Language] = (Language.FR, Language.EN),
                       insurer_names: Mapping[str, str] | None = None) -> Notification:
    """Assemble the draft from a scope; raises DetectionInFuture if the clock disagrees."""
    deadline = Deadline.starting(detected_at=scope.detected_at, now=now)
    names = insurer_names or {}
    categories = []
    for category in categories_of(scope.counts.by_field):
        fields = tuple(info.name for info in in_catalogue_order(scope.counts.by_field)
                       if info.category is category)
        persons = sum(1 for p in scope.persons if not p.fields_disclosed.isdisjoint(fields))
        categories.append(CategoryLine(category, fields, persons))
    consequences = dict.fromkeys(key for line in categories
                                 for key in _CONSEQUENCES_BY_CATEGORY[line.category])
    controllers = tuple(ControllerLine(amc, names.get(amc), persons)
                        for amc, persons in scope.counts.by_insurer.items())
    return Notification(generated_at=now, deadline=deadline, scope=scope,
                        categories=tuple(categories), controllers=controllers,
                        contact=_clean_contact(contact), consequences=tuple(consequences),
                        analyst_measures=tuple(m.strip() for m in measures if m.strip()),
                        letters=letters, languages=tuple(languages))


def _clean_contact(contact: ContactPoint) -> ContactPoint:
    return ContactPoint(name=(contact.name or "").strip() or None,
                        contact=(contact.contact or "").strip() or None)


def notification_document(n: Notification) -> dict[str, Any]:
    """The draft as a JSON-ready document, keyed by what article 33(3) asks."""
    scope, deadline = n.scope, n.deadline
    first, last = scope.first_disclosure, scope.last_disclosure
    return {
        "format": JSON_FORMAT,
        "generated_at": utc_iso(n.generated_at),
        "deadline": {
            "detected_at": utc_iso(deadline.detected_at),
            "due_at": utc_iso(deadline.due_at),
            "remaining_seconds": int(deadline.remaining.total_seconds()),
            "overdue": deadline.overdue,
        },
        "nature": {
            "type": "confidentiality",
            "channel": "coverage-verification portal and API (provider access)",
            "selector": scope.selector.describe(),
            "window": {"since": utc_iso(scope.window.since), "until": utc_iso(scope.window.until)},
            "first_disclosure": utc_iso(first) if first else None,
            "last_disclosure": utc_iso(last) if last else None,
            "data_subjects": {"category": "insured persons (beneficiaries of complementary "
                                          "health insurance)",
                              "count": scope.counts.persons},
            "records": {"disclosures": scope.counts.disclosures,
                        "person_fields": sum(scope.counts.by_field.values())},
            "data_categories": [{"category": line.category.value,
                                 "label": CATEGORY_LABELS[line.category][Language.EN],
                                 "fields": list(line.fields), "persons": line.persons}
                                for line in n.categories],
            "persons_by_field": scope.counts.by_field,
            "health_data": n.health_data,
            "controllers": [{"amc": c.amc, "name": c.name, "persons": c.persons}
                            for c in n.controllers],
        },
        "contact_point": {"name": n.contact.name, "contact": n.contact.contact},
        "likely_consequences": [{"key": key, **{lang.value: CONSEQUENCES[key][lang]
                                                for lang in Language}}
                                for key in n.consequences],
        "measures": {"taken": n.measures("taken", Language.EN),
                     "proposed": n.measures("proposed", Language.EN)},
        "article34": {"letters": n.letters, "languages": [lang.value for lang in n.languages]},
        "to_complete": [{"key": key, "en": TO_COMPLETE[key][Language.EN]}
                        for key in n.to_complete],
    }


def notification_json(n: Notification) -> bytes:
    return orjson.dumps(notification_document(n), option=orjson.OPT_INDENT_2)


def notification_markdown(n: Notification, language: Language) -> str:
    template = markdown_environment().get_template(f"article33_{language.value}.md.txt")
    return template.render(n=n, lang=language.value, language=language,
                           consequences=CONSEQUENCES, category_labels=CATEGORY_LABELS,
                           to_complete=TO_COMPLETE)
