"""Short-lived access tokens for API clients, bound to a DPoP key.

A token is a JWT (`typ` at+jwt, RFC 9068 style) signed by the service's ES256 key; its
`cnf.jkt` claim (RFC 9449 section 6.1) names the thumbprint of the client key that
must sign a DPoP proof on every request, so a copied token is useless without that
private key. Tokens last `access_token_seconds` (minutes); a revoked client's tokens
are refused because every check also asks whether the client is active (at once in the
revoking process, within ApiClientService.ACTIVE_SECONDS in others). A token's verified
signature is kept per process (see VERIFIED_SECONDS), with its claims read and checked
once; its expiry is checked each time. A token issued after the clock's reading (the
wall clock went back since) counts as expired (`rempart.auth.clock_skew`): a jump back
never lengthens its life.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError

from rempart.auth import clock_skew
from rempart.auth.config import AuthSettings
from rempart.auth.dpop import b64url_sha256
from rempart.auth.errors import InvalidAccessToken
from rempart.auth.lru import API_CLIENTS_KEPT, LruMap
from rempart.auth.signing_keys import ALGORITHM, SigningKeys
from rempart.clock import Clock

TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
MAX_TOKEN = 4096
# A client sends the same token with every request for minutes: its signature is
# checked once and the result kept, per process, for as long as the token lives. A
# signature does not change, and every hit asks for the signing key again, as a fresh
# verification would (SigningKeys.public: a retirement at once in this process, within
# signing_keys.CACHE_SECONDS in others), so retiring a key ends its tokens no later
# than before. Expiry, issuer and binding are checked on every use, and the client's
# revocation too (ApiAuthService asks on every request); the token's own expiry ends
# its entry, this bound only caps settings with day-long tokens. It was CACHE_SECONDS:
# a practice checking less often than once a minute, as most do, had its token's
# signature verified again on almost every check (docs/performance.md, "Authentication
# cost").
VERIFIED_SECONDS = 24 * 60 * 60.0
VERIFIED_CACHE_SIZE = API_CLIENTS_KEPT  # the most recently used (one token per client)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    token_type: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class TokenClaims:
    client_id: str
    organisation_id: int
    jkt: str
    jti: str
    ath: str  # the token's hash, as a DPoP proof's `ath` must name it (b64url_sha256)


class AccessTokens:
    def __init__(self, *, keys: SigningKeys, clock: Clock, settings: AuthSettings) -> None:
        self._keys = keys
        self._clock = clock
        self._issuer = settings.token_issuer
        self._lifetime = settings.access_token_seconds
        # token -> (its claims, read and checked once, its `exp` and `iat`, kid, when
        # checked): see VERIFIED_SECONDS. A token's claims never change: only its expiry
        # (and a clock gone back since its issue) is a matter of time, checked on every use.
        self._verified: LruMap[str, tuple[TokenClaims, int, int, str, float]] = LruMap(
            VERIFIED_CACHE_SIZE)

    def issue(self, *, client_id: str, organisation_id: int, jkt: str) -> IssuedToken:
        kid, key = self._keys.current()
        now = int(self._clock.now().timestamp())
        claims = {"iss": self._issuer, "sub": client_id, "client_id": client_id,
                  "org": organisation_id, "iat": now, "exp": now + self._lifetime,
                  "jti": secrets.token_urlsafe(16), "cnf": {"jkt": jkt}}
        token = jwt.encode({"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}, claims, key,
                           algorithms=[ALGORITHM], default_type=None)
        return IssuedToken(access_token=token, expires_in=self._lifetime,
                           token_type="DPoP")  # noqa: S106 (a scheme name)

    def verify(self, token: str, *, in_memory: bool = False) -> TokenClaims:
        """The token's claims, or InvalidAccessToken. `in_memory`: NotInMemory rather
        than read its signing key from the database (the signature itself is only CPU)."""
        if not token or len(token) > MAX_TOKEN:
            raise InvalidAccessToken("malformed")
        now = self._clock.monotonic()
        cached = self._verified.get(token)
        # The key is asked again even on a hit (a dict look-up in SigningKeys' own
        # cache), so that a key retired by this process stops its tokens at once.
        if cached is not None and now - cached[4] < VERIFIED_SECONDS \
                and self._keys.public(cached[3], in_memory=in_memory) is not None:
            claims, exp, issued = cached[0], cached[1], cached[2]
        else:
            kid, decoded = self._verified_claims(token, in_memory=in_memory)
            claims, exp, issued = self._valid(decoded, ath=b64url_sha256(token))
            self._verified.put(token, (claims, exp, issued, kid, now))
        wall = self._clock.now().timestamp()
        if wall >= exp:
            raise InvalidAccessToken("expired")
        if issued > wall + clock_skew.TOLERANCE.total_seconds():
            # Issued before the clock went back: `exp` would come the jump late.
            clock_skew.refused_ahead("access_token", ahead_s=issued - wall)
            raise InvalidAccessToken("expired")
        return claims

    def _verified_claims(self, token: str, *, in_memory: bool) -> tuple[str, dict[str, Any]]:
        """(kid, claims) of a token whose signature verifies with a current key."""
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise InvalidAccessToken("malformed") from None
        if header.get("typ") != TOKEN_TYPE or header.get("alg") != ALGORITHM:
            raise InvalidAccessToken("not an access token of this service")
        kid = str(header.get("kid", ""))
        key = self._keys.public(kid, in_memory=in_memory)
        if key is None:
            raise InvalidAccessToken("signed by an unknown key")
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError:
            raise InvalidAccessToken("signature does not verify") from None
        except (JoseError, ValueError, TypeError):
            raise InvalidAccessToken("malformed") from None
        return kid, dict(decoded.claims)

    def _valid(self, claims: dict[str, Any], *, ath: str) -> tuple[TokenClaims, int, int]:
        """(the claims read, `exp`, `iat` or 0) of a token whose signature verified; its
        expiry and issue are checked against the clock by the caller, on every use."""
        if claims.get("iss") != self._issuer:
            raise InvalidAccessToken("claims not valid")
        exp, sub, jti = claims.get("exp"), claims.get("sub"), claims.get("jti")
        if isinstance(exp, bool) or not isinstance(exp, int) or not sub or not jti:
            raise InvalidAccessToken("claims not valid")
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        org = claims.get("org")
        if not isinstance(jkt, str) or isinstance(org, bool) or not isinstance(org, int):
            raise InvalidAccessToken("not bound to a DPoP key")
        iat = claims.get("iat")
        issued = iat if isinstance(iat, int) and not isinstance(iat, bool) else 0
        return TokenClaims(client_id=str(sub), organisation_id=org, jkt=jkt, jti=str(jti),
                           ath=ath), exp, issued
