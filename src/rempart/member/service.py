"""The member area: from an insurer's link to the person's history, and every step audited.

Opening a history, refusing a link and reporting a check are audit entries: a history
shown is a disclosure to whoever holds the link (`member.history_viewed`, with the
fields it shows), a refused link is a security event (`member.link_refused`, with the
reason code), and a report is written with the alert it raises.
"""

from __future__ import annotations

import enum
import hmac

from sqlalchemy import Engine

from rempart.audit import AuditLog
from rempart.audit.security_sink import clean_address
from rempart.clock import Clock
from rempart.member.errors import InvalidMemberLink, MemberSessionExpired, UnknownMember
from rempart.member.history import HistoryPage, MemberHistory
from rempart.member.links import LinkClaims, MemberLinkVerifier
from rempart.member.people import resolve_member
from rempart.member.sessions import MemberSessions, MemberSessionView, OpenedSession
from rempart.member.throttle import MemberThrottle
from rempart.vault import Vault

HISTORY_FIELDS = ("care_category", "claim", "coverage")  # what a history page shows


class Channel(enum.StrEnum):
    PAGE = "page"
    API = "api"


class MemberArea:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock, audit: AuditLog,
                 verifier: MemberLinkVerifier, sessions: MemberSessions,
                 history: MemberHistory, throttle: MemberThrottle | None = None) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._audit = audit
        self._verifier = verifier
        self._sessions = sessions
        self._history = history
        self._throttle = throttle

    def enter(self, *, token: str, client_address: str | None) -> OpenedSession:
        """Verify a link (once) and open a short session on the person's history."""
        person_id, link = self._open_link(token, client_address, Channel.PAGE)
        return self._sessions.open(person_id=person_id, insurer_amc=link.insurer_amc)

    def history_for_session(self, *, cookie: str | None, client_address: str | None,
                            ) -> tuple[MemberSessionView, HistoryPage]:
        view = self._sessions.resolve(cookie)
        page = self._history.page(person_id=view.person_id)
        self._viewed(view.person_id, view.insurer_amc, page, client_address, Channel.PAGE)
        return view, page

    def history_by_token(self, *, token: str, client_address: str | None) -> HistoryPage:
        person_id, link = self._open_link(token, client_address, Channel.API)
        page = self._history.page(person_id=person_id)
        self._viewed(person_id, link.insurer_amc, page, client_address, Channel.API)
        return page

    def report_for_session(self, *, cookie: str | None, csrf_token: str, reference: str,
                           client_address: str | None) -> bool:
        view = self._sessions.resolve(cookie)
        if not hmac.compare_digest(csrf_token.encode(), view.csrf_token.encode()):
            raise MemberSessionExpired("the form does not belong to this session")
        return self._history.report_check(person_id=view.person_id, reference=reference,
                                          client_address=clean_address(client_address))

    def report_by_token(self, *, token: str, reference: str,
                        client_address: str | None) -> bool:
        person_id, _link = self._open_link(token, client_address, Channel.API)
        return self._history.report_check(person_id=person_id, reference=reference,
                                          client_address=clean_address(client_address))

    def end(self, cookie: str | None) -> None:
        self._sessions.end(cookie)

    def _open_link(self, token: str, client_address: str | None,
                   channel: Channel) -> tuple[int, LinkClaims]:
        # Before anything else: a flood is refused before it costs a signature check
        # and an audit entry per link (MemberThrottled / MemberLimitUnavailable).
        if self._throttle is not None:
            self._throttle.hit(token=token, address=clean_address(client_address))
        try:
            link = self._verifier.verify(token)
            with self._engine.connect() as conn:
                person_id = resolve_member(conn, self._vault, amc=link.insurer_amc,
                                           member_number=link.member_number)
            if person_id is None:
                raise UnknownMember("the insurer's link names no member known to rempart")
        except InvalidMemberLink as exc:
            self._audit.append(event="member.link_refused",
                               client_address=clean_address(client_address),
                               detail={"why": exc.code, "channel": channel.value})
            raise
        return person_id, link

    def _viewed(self, person_id: int, amc: str, page: HistoryPage, client_address: str | None,
                channel: Channel) -> None:
        # Before the page leaves: a history that cannot be recorded is not shown.
        self._audit.append(event="member.history_viewed", subject_id=person_id,
                           client_address=clean_address(client_address),
                           fields=HISTORY_FIELDS if page.items else (),
                           detail={"channel": channel.value, "amc": amc,
                                   "items": len(page.items)})
