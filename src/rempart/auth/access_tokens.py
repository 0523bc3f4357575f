"""Short-lived access tokens for API clients, bound to a DPoP key.

A token is a JWT (`typ` at+jwt, RFC 9068 style) signed by the service's ES256 key; its
`cnf.jkt` claim (RFC 9449 section 6.1) names the thumbprint of the client key that
must sign a DPoP proof on every request, so a copied token is useless without that
private key. Tokens last `access_token_seconds` (minutes); a revoked client's tokens
are refused at once because every check also looks the client up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError
from joserfc.jwt import JWTClaimsRegistry

from rempart.auth.config import AuthSettings
from rempart.auth.errors import InvalidAccessToken
from rempart.auth.signing_keys import ALGORITHM, SigningKeys
from rempart.clock import Clock

TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
MAX_TOKEN = 4096


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


class AccessTokens:
    def __init__(self, *, keys: SigningKeys, clock: Clock, settings: AuthSettings) -> None:
        self._keys = keys
        self._clock = clock
        self._issuer = settings.token_issuer
        self._lifetime = settings.access_token_seconds

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

    def verify(self, token: str) -> TokenClaims:
        if not token or len(token) > MAX_TOKEN:
            raise InvalidAccessToken("malformed")
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise InvalidAccessToken("malformed") from None
        if header.get("typ") != TOKEN_TYPE or header.get("alg") != ALGORITHM:
            raise InvalidAccessToken("not an access token of this service")
        key = self._keys.public(str(header.get("kid", "")))
        if key is None:
            raise InvalidAccessToken("signed by an unknown key")
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError:
            raise InvalidAccessToken("signature does not verify") from None
        except (JoseError, ValueError, TypeError):
            raise InvalidAccessToken("malformed") from None
        claims: dict[str, Any] = dict(decoded.claims)
        registry = JWTClaimsRegistry(
            now=int(self._clock.now().timestamp()),
            iss={"essential": True, "value": self._issuer},
            exp={"essential": True}, sub={"essential": True}, jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise InvalidAccessToken("expired") from None
        except JoseError:
            raise InvalidAccessToken("claims not valid") from None
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        org = claims.get("org")
        if not isinstance(jkt, str) or not isinstance(org, int):
            raise InvalidAccessToken("not bound to a DPoP key")
        return TokenClaims(client_id=str(claims["sub"]), organisation_id=org, jkt=jkt,
                           jti=str(claims["jti"]))
