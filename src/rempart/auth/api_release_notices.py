"""Telling an organisation's admins that one of its practice software's keys was
released, or that someone not allowed to tried to release it.

A person of the organisation who confirms the code of an API key's step-up
(rempart.auth.api_step_up) releases that key for the guard. Someone tricked into typing
a thief's code (a fake vendor support call) releases the thief's key, so each release
is also a message to every active admin of the organisation, through the notification
outbox the login alerts use (rempart.auth.outbox, delivered by rempart.auth.mail):
which software, which person confirmed, when. A right code typed by someone the
organisation's choice (rempart.auth.api_step_up_policy) does not let confirm it is the
same call reaching the wrong person, so it is told to the admins the same way (the
caller sends it once per code), with a warning that no vendor or operator asks for a
code by phone. Nothing about patients, and never the code.
"""

from __future__ import annotations

import datetime as dt

from rempart.auth.accounts import AccountService
from rempart.auth.outbox import NotificationKind, Outbox
from rempart.auth.roles import AccountStatus, Role


class ApiReleaseNotices:
    def __init__(self, *, accounts: AccountService, outbox: Outbox) -> None:
        self._accounts = accounts
        self._outbox = outbox

    def released(self, *, organisation_id: int, client_id: str, client_name: str,
                 confirmed_by: int, at: dt.datetime) -> int:
        """Queue one message per active admin of the organisation; how many."""
        return self._tell_admins(NotificationKind.API_KEY_RELEASED,
                                 organisation_id=organisation_id, client_id=client_id,
                                 client_name=client_name, person=confirmed_by, at=at)

    def refused(self, *, organisation_id: int, client_id: str, client_name: str,
                typed_by: int, at: dt.datetime) -> int:
        """A right code typed by someone not allowed to confirm it: one message per
        active admin of the organisation; how many."""
        return self._tell_admins(NotificationKind.API_STEP_UP_REFUSED,
                                 organisation_id=organisation_id, client_id=client_id,
                                 client_name=client_name, person=typed_by, at=at)

    def _tell_admins(self, kind: NotificationKind, *, organisation_id: int, client_id: str,
                     client_name: str, person: int, at: dt.datetime) -> int:
        admins = [a for a in self._accounts.in_organisation(organisation_id)
                  if a.role is Role.ORGANISATION_ADMIN and a.status is AccountStatus.ACTIVE]
        if not admins:
            return 0
        payload = {"software": client_name, "client_id": client_id,
                   "person": self._accounts.contact(person).display_name,
                   "at": at.strftime("%Y-%m-%d %H:%M")}
        for admin in admins:
            self._outbox.enqueue(account_id=admin.id,
                                 recipient=self._accounts.contact(admin.id).email,
                                 kind=kind, payload=payload)
        return len(admins)
