"""DPoP proofs as practice software makes them (RFC 9449 section 4.2): the client side.

The server only verifies proofs (`rempart.auth.dpop`); the drill's practice software,
the bench's API clients and the tests make them, each with its own P-256 key, one
proof per request. The proof's `iat` comes from the signer's clock: the drill's is
simulated, and the server under drill checks `iat` against that same clock.
"""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

from rempart.auth.dpop import b64url_sha256
from rempart.clock import Clock

ALGORITHM = "ES256"
PROOF_TYPE = "dpop+jwt"


class DpopSigner:
    """A client's private key, which signs one DPoP proof per request."""

    def __init__(self, *, clock: Clock, key: ECKey | None = None) -> None:
        self.clock = clock
        self.key = key if key is not None else ECKey.generate_key("P-256", private=True)
        # Computed once: a proof is made per request, and exporting the key each time
        # cost about as much as signing.
        self.public_jwk: dict[str, Any] = self.key.as_dict(private=False)
        self.jkt = self.key.thumbprint()  # what tokens are bound to (RFC 7638)

    def proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        """A fresh proof for `method url`, bound to `access_token` (`ath`) when given."""
        return self.sign(self.claims(method, url, access_token=access_token))

    def claims(self, method: str, url: str, *, access_token: str | None = None,
               ) -> dict[str, Any]:
        """A proof's claims: a new `jti`, the request, `iat` now on the signer's clock."""
        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method,
                                  "htu": url, "iat": int(self.clock.now().timestamp())}
        if access_token is not None:
            claims["ath"] = b64url_sha256(access_token)
        return claims

    def sign(self, claims: dict[str, Any], *, header: dict[str, Any] | None = None) -> str:
        """`claims` signed as a proof; `header` adds to (or overrides) the proof's own."""
        head = {"typ": PROOF_TYPE, "alg": ALGORITHM, "jwk": self.public_jwk, **(header or {})}
        return jwt.encode(head, claims, self.key, algorithms=[ALGORITHM], default_type=None)
