"""The two API edges of OAuth 2.0 with DPoP: the token endpoint and the resource check.

Token endpoint (client credentials grant, RFC 6749 section 4.4): the client
authenticates with its id and secret and presents a DPoP proof for the token
request; it gets a short-lived token bound to the proof's key. Resource check: every
API request carries `Authorization: DPoP <token>` and a fresh DPoP proof for that
method and URL, signed by the same key, with `ath` binding it to the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from rempart.auth.access_tokens import AccessTokens, IssuedToken
from rempart.auth.api_clients import ApiClientService
from rempart.auth.dpop import DpopVerifier
from rempart.auth.errors import (
    AuthError,
    ClientAuthFailed,
    InvalidAccessToken,
    InvalidDpopProof,
    InvalidInput,
)
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.clock import Clock

GRANT_TYPE = "client_credentials"


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who is calling the API: a registered client of an organisation."""

    client_id: str
    organisation_id: int
    jkt: str


class ApiAuthService:
    def __init__(self, *, clients: ApiClientService, tokens: AccessTokens,
                 dpop: DpopVerifier, clock: Clock, events: SecurityEventSink) -> None:
        self._clients = clients
        self._tokens = tokens
        self._dpop = dpop
        self._clock = clock
        self._events = events

    def token(self, *, grant_type: str, client_id: str, client_secret: str,
              dpop_proof: str | None, method: str, url: str,
              address: str | None = None) -> IssuedToken:
        try:
            if grant_type != GRANT_TYPE:
                raise InvalidInput("grant_type", f"only {GRANT_TYPE} is supported")
            client = self._clients.authenticate(client_id=client_id,
                                                client_secret=client_secret)
            proof = self._dpop.verify(dpop_proof, method=method, url=url)
        except (InvalidInput, ClientAuthFailed, InvalidDpopProof) as exc:
            self._refused(EventKind.API_TOKEN_REFUSED, exc, address,
                          client_id if len(client_id) <= 40 else None)
        issued = self._tokens.issue(client_id=client.client_id,
                                    organisation_id=client.organisation_id, jkt=proof.jkt)
        self._events.emit(SecurityEvent(EventKind.API_TOKEN_ISSUED, self._clock.now(),
                                        organisation_id=client.organisation_id,
                                        client_id=client.client_id, address=address))
        return issued

    def revocations_poll_ahead_due(self) -> bool:
        """Whether the clients' revocation poll should start in the background now
        (memory only: see ApiClientService.poll_ahead)."""
        return self._clients.poll_ahead_due()

    def poll_revocations_ahead(self) -> None:
        """The clients' revocation poll before it is due, for a background thread."""
        self._clients.poll_ahead()

    @property
    def verifies_in_memory(self) -> bool:
        """Whether `authenticate(in_memory=True)` can answer: the proofs' replay entries
        are kept in this process (elsewhere recording one is I/O)."""
        return self._dpop.replay_in_process

    def authenticate(self, *, authorization: str | None, dpop_proof: str | None,
                     method: str, url: str, address: str | None = None,
                     in_memory: bool = False) -> ApiPrincipal:
        """The caller of an API request, or InvalidAccessToken / InvalidDpopProof.

        `in_memory` (on the event loop, where `verifies_in_memory`): NotInMemory, before
        the proof's replay entry is written, if the token's key or the client's state
        would have to be read; and a refusal is raised without its security event
        (recording may be I/O): the caller records it with `refused`, off the loop.
        """
        try:
            token = self._dpop_token(authorization)
            claims = self._tokens.verify(token, in_memory=in_memory)
            if not self._clients.is_active(claims.client_id, in_memory=in_memory):
                raise InvalidAccessToken("client revoked")
            proof = self._dpop.verify(dpop_proof, method=method, url=url, ath=claims.ath)
            if proof.jkt != claims.jkt:
                raise InvalidDpopProof("proof key is not the key the token is bound to")
        except (InvalidAccessToken, InvalidDpopProof) as exc:
            if in_memory:
                raise
            self.refused(exc, address)
        return ApiPrincipal(client_id=claims.client_id, organisation_id=claims.organisation_id,
                            jkt=claims.jkt)

    def refused(self, exc: InvalidAccessToken | InvalidDpopProof,
                address: str | None) -> NoReturn:
        """Record an API request's refusal as a security event, and raise it."""
        self._refused(EventKind.API_REQUEST_REFUSED, exc, address, None)

    @staticmethod
    def _dpop_token(authorization: str | None) -> str:
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() == "bearer":
            raise InvalidAccessToken("this token is DPoP-bound: use the DPoP scheme")
        if scheme.lower() != "dpop" or not value.strip():
            raise InvalidAccessToken("missing DPoP access token")
        return value.strip()

    def _refused(self, kind: EventKind, exc: AuthError, address: str | None,
                 client_id: str | None) -> NoReturn:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        self._events.emit(SecurityEvent(kind, self._clock.now(), client_id=client_id,
                                        address=address, reason=reason))
        raise exc
