"""The words of the member pages, in French and English (French first: the default)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

LANGUAGES: Final = ("fr", "en")

PROFESSIONS: Final = MappingProxyType({
    "pharmacy": ("Pharmacie", "Pharmacy"),
    "optician": ("Opticien", "Optician"),
    "dentist": ("Chirurgien-dentiste", "Dentist"),
    "physiotherapist": ("Masseur-kinésithérapeute", "Physiotherapist"),
    "hearing_aid": ("Audioprothésiste", "Hearing-aid specialist"),
    "hospital": ("Établissement de santé", "Hospital"),
    "physician": ("Médecin", "Physician"),
    "nurse": ("Infirmier ou infirmière", "Nurse"),
    "laboratory": ("Laboratoire", "Laboratory"),
})

CATEGORIES: Final = MappingProxyType({
    "pharmacy": ("Pharmacie", "Pharmacy"),
    "optical": ("Optique", "Optical"),
    "dental": ("Dentaire", "Dental"),
    "hearing": ("Audition", "Hearing"),
    "hospital": ("Hospitalisation", "Hospital stay"),
    "consultation": ("Consultation", "Consultation"),
    "physiotherapy": ("Kinésithérapie", "Physiotherapy"),
    "nursing": ("Soins infirmiers", "Nursing care"),
    "laboratory": ("Analyses de laboratoire", "Laboratory tests"),
    "radiology": ("Radiologie", "Radiology"),
})

OUTCOMES: Final = MappingProxyType({
    "covered": ("Droits confirmés", "Cover confirmed"),
    "not_covered": ("Pas de droits confirmés", "No cover confirmed"),
    "received": ("Facture reçue", "Claim received"),
    "accepted": ("Facture acceptée", "Claim accepted"),
    "rejected": ("Facture refusée", "Claim rejected"),
    "paid": ("Facture payée", "Claim paid"),
})

KINDS: Final = MappingProxyType({
    "check": ("Vérification de vos droits", "Check of your cover"),
    "claim": ("Facturation de soins", "Claim for care"),
})

TEXT: Final = MappingProxyType({
    "title": ("Qui a consulté mes droits", "Who checked my cover"),
    "intro": ("Voici chaque vérification de vos droits à la complémentaire santé et chaque "
              "facturation faite par un professionnel ou un établissement de santé par "
              "l'intermédiaire du tiers payant, les plus récentes en premier.",
              "Here is every check of your complementary health cover and every claim made "
              "by a healthcare professional or establishment through third-party payment, "
              "newest first."),
    "caption": ("Consultations et facturations vous concernant",
                "Checks and claims concerning you"),
    "date": ("Date", "Date"),
    "what": ("Opération", "What"),
    "who": ("Professionnel ou établissement", "Professional or establishment"),
    "category": ("Type de soins", "Type of care"),
    "outcome": ("Résultat", "Outcome"),
    "action": ("Signaler", "Report"),
    "report": ("Je ne reconnais pas cette vérification",
               "I do not recognise this check"),
    "reported": ("Signalée", "Reported"),
    "empty": ("Aucune vérification ni facturation ne vous concerne pour l'instant.",
              "No check or claim concerns you so far."),
    "truncated": ("Seules les opérations les plus récentes sont affichées.",
                  "Only the most recent operations are shown."),
    "report_help": ("Si vous ne reconnaissez pas une vérification (vous n'étiez pas chez ce "
                    "professionnel ce jour-là), signalez-la : l'équipe de sécurité de "
                    "l'opérateur de tiers payant l'examinera. Vous n'avez rien d'autre à "
                    "faire ; personne ne vous demandera de mot de passe ni de coordonnées "
                    "bancaires à ce sujet.",
                    "If you do not recognise a check (you were not at that professional's "
                    "that day), report it: the third-party-payment operator's security team "
                    "will look into it. You need do nothing else; nobody will ask you for a "
                    "password or bank details about it."),
    "thanks": ("Merci : votre signalement a été transmis à l'équipe de sécurité.",
               "Thank you: your report was passed to the security team."),
    "already": ("Cette vérification avait déjà été signalée.",
                "This check had already been reported."),
    "expires": ("Pour votre sécurité, cette page se ferme à", "For your security, this page "
                "closes at"),
    "switch": ("English", "Français"),
    "invalid_title": ("Lien non valable", "Link not valid"),
    "invalid": ("Ce lien n'est pas valable ou a expiré. Revenez à l'espace adhérent de votre "
                "complémentaire santé et ouvrez à nouveau « Qui a consulté mes droits ».",
                "This link is not valid or has expired. Go back to your complementary "
                "health insurer's member area and open \"Who checked my cover\" again."),
    "unknown_check": ("Cette vérification ne figure pas dans votre historique.",
                      "This check is not in your history."),
    "busy_title": ("Trop de demandes", "Too many requests"),
    "busy": ("Trop de demandes depuis cette connexion ou pour cet adhérent. Réessayez dans "
             "quelques minutes depuis l'espace adhérent de votre complémentaire santé.",
             "Too many requests from this connection or for this member. Try again in a "
             "few minutes from your complementary health insurer's member area."),
})


def pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language == "en" else pair[0]


def words(language: str) -> dict[str, str]:
    """The page's sentences in one language."""
    return {key: pick(pair, language) for key, pair in TEXT.items()}


def label(table: MappingProxyType[str, tuple[str, str]], value: str, language: str) -> str:
    """A value's label, or the value itself when the table does not know it."""
    pair = table.get(value)
    return pick(pair, language) if pair else value
