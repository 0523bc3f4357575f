"""Delivering the outbox by e-mail: a `MailSender` protocol, an SMTP sender, a dispatcher.

Messages are in French, then English. A login alert says when and from what kind of
browser, and what to do if it was not the owner; it contains no link, so that a
phishing copy of it is easy to tell apart. Failures are recorded by exception type
only: an SMTP error text can quote the recipient address.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from rempart.auth.outbox import NotificationKind, Outbox, OutboxEntry


class MailSender(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpMailSender:
    def __init__(self, *, host: str, port: int = 25, starttls: bool = False,
                 timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._starttls = starttls
        self._timeout = timeout

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            smtp.send_message(message)


_TEXTS: dict[NotificationKind, tuple[str, str]] = {
    NotificationKind.NEW_DEVICE_LOGIN: (
        "Nouvelle connexion à votre compte / New sign-in to your account",
        "Une connexion à votre compte rempart a eu lieu le {at} (UTC) depuis un appareil "
        "que nous ne connaissions pas : {device}, adresse {address}.\n"
        "Si ce n'était pas vous, ouvrez le portail vous-même (sans suivre de lien), "
        "terminez cette session et prévenez l'administrateur de votre organisation.\n\n"
        "Your rempart account was signed in to on {at} (UTC) from a device we had not seen: "
        "{device}, address {address}.\n"
        "If this was not you, open the portal yourself (do not follow any link), end that "
        "session and tell your organisation's administrator.\n",
    ),
    NotificationKind.FACTOR_ADDED: (
        "Nouveau second facteur / New second factor",
        "Un second facteur ({method}) a été ajouté à votre compte le {at} (UTC). Si ce "
        "n'était pas vous, prévenez l'administrateur de votre organisation.\n\n"
        "A second factor ({method}) was added to your account on {at} (UTC). If this was "
        "not you, tell your organisation's administrator.\n",
    ),
    NotificationKind.FACTOR_REMOVED: (
        "Clés d'accès retirées / Passkeys removed",
        "Le {at} (UTC), un administrateur a retiré les clés d'accès de votre compte "
        "({count}) et fermé vos sessions. Connectez-vous avec votre mot de passe puis "
        "votre application d'authentification ou un code de secours, et créez une "
        "nouvelle clé d'accès. Si "
        "vous n'aviez rien demandé, prévenez l'administrateur de votre organisation.\n\n"
        "On {at} (UTC), an administrator removed your account's passkeys ({count}) and ended your "
        "sessions. Sign in with your password, then your authenticator app or a recovery "
        "code, and create a new passkey. If you did not ask for this, tell your "
        "organisation's administrator.\n",
    ),
    NotificationKind.LOGIN_WITHOUT_PASSKEY: (
        "Connexion sans votre clé d'accès / Sign-in without your passkey",
        "Le {at} (UTC), votre compte rempart a été ouvert sans votre clé d'accès ({method}) "
        "depuis : {device}, adresse {address}.\n"
        "Si ce n'était pas vous, votre mot de passe et votre second facteur sont connus "
        "d'un tiers : ouvrez le portail vous-même (sans suivre de lien), confirmez avec "
        "votre clé d'accès, terminez cette session, changez votre mot de passe et "
        "prévenez l'administrateur de votre organisation.\n\n"
        "On {at} (UTC), your rempart account was signed in to without your passkey "
        "({method}) from: {device}, address {address}.\n"
        "If this was not you, someone knows your password and second factor: open the "
        "portal yourself (do not follow any link), confirm with your passkey, end that "
        "session, change your password and tell your organisation's administrator.\n",
    ),
    NotificationKind.INVITATION: (
        "Invitation au portail rempart / Invitation to the rempart portal",
        "Vous êtes invité(e) à créer votre compte : {link}\nCe lien expire le {expires} "
        "(UTC) et ne sert qu'une fois.\n\n"
        "You are invited to create your account: {link}\nThis link expires on {expires} "
        "(UTC) and works once.\n",
    ),
    NotificationKind.API_KEY_RELEASED: (
        "Logiciel débloqué par un code / Practice software released with a code",
        "Le {at} (UTC), {person} a confirmé sur le portail rempart un code de vérification "
        "qui a débloqué une clé du logiciel « {software} » ({client_id}) de votre "
        "structure.\n"
        "Si personne n'attendait ce déblocage (un appel ou un message vous demandant de "
        "« confirmer un code » peut venir d'un fraudeur), révoquez ce logiciel depuis le "
        "portail (ouvert vous-même, sans suivre de lien) et prévenez le support rempart.\n\n"
        "On {at} (UTC), {person} confirmed on the rempart portal a verification code that "
        "released a key of your organisation's practice software \"{software}\" "
        "({client_id}).\n"
        "If no one expected it (a call or message asking you to \"confirm a code\" may "
        "come from a fraudster), revoke that software from the portal (opened yourself, "
        "do not follow any link) and tell rempart's support.\n",
    ),
    NotificationKind.API_STEP_UP_REFUSED: (
        "Code de déblocage refusé / Release code refused",
        "Le {at} (UTC), {person} a saisi sur le portail rempart un code de vérification "
        "qui débloquerait une clé du logiciel « {software} » ({client_id}) de votre "
        "structure ; seul un administrateur peut le confirmer, rien n'a été débloqué.\n"
        "Ni l'éditeur du logiciel ni l'opérateur de rempart ne demandent jamais par "
        "téléphone de « confirmer un code » : un tel appel vient d'un fraudeur. Si "
        "personne de votre structure n'attendait ce code, ne le confirmez pas, révoquez "
        "ce logiciel depuis le portail (ouvert vous-même, sans suivre de lien) et "
        "prévenez le support rempart.\n\n"
        "On {at} (UTC), {person} typed on the rempart portal a verification code that "
        "would release a key of your organisation's practice software \"{software}\" "
        "({client_id}); only an admin may confirm it, nothing was released.\n"
        "Neither the software's vendor nor rempart's operator ever asks anyone by phone "
        "to \"confirm a code\": such a call comes from a fraudster. If no one of your "
        "organisation expected that code, do not confirm it, revoke that software from "
        "the portal (opened yourself, do not follow any link) and tell rempart's "
        "support.\n",
    ),
}


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(entry: OutboxEntry, *, mail_from: str) -> EmailMessage:
    subject, body = _TEXTS[entry.kind]
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = entry.recipient
    message["Subject"] = subject
    message.set_content(body.format_map(_Missing(entry.payload)))
    return message


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int
    failed: int


class OutboxDispatcher:
    def __init__(self, *, outbox: Outbox, sender: MailSender, mail_from: str,
                 max_attempts: int = 5) -> None:
        self._outbox = outbox
        self._sender = sender
        self._mail_from = mail_from
        self._max_attempts = max_attempts

    def deliver(self, *, limit: int = 100) -> DeliveryReport:
        sent = failed = 0
        for entry in self._outbox.pending(limit=limit, max_attempts=self._max_attempts):
            try:
                self._sender.send(render(entry, mail_from=self._mail_from))
            except (OSError, smtplib.SMTPException) as exc:
                self._outbox.mark_failed(entry.id, type(exc).__name__)
                failed += 1
            else:
                self._outbox.mark_sent(entry.id)
                sent += 1
        return DeliveryReport(sent=sent, failed=failed)
