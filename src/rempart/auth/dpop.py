"""DPoP proofs (RFC 9449 section 4.3), checked with joserfc.

A proof is a JWT signed by the client's own key, carried in the `DPoP` header of each
request. It must: be a compact JWS with `typ` dpop+jwt and an accepted asymmetric
`alg`; carry the public key (and no private part) in `jwk` and verify with it; name
this request's method (`htm`) and URL without query or fragment (`htu`); have been
made within the accepted window (`iat`); carry a `jti` never seen before for that key;
and, at a resource, carry `ath`, the hash of the access token it accompanies. The key
thumbprint (`jkt`, RFC 7638) is what tokens are bound to.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import Key, import_key
from joserfc.jws import JWSRegistry

from rempart.auth.config import AuthSettings
from rempart.auth.errors import InvalidDpopProof
from rempart.auth.replay import ReplayCache
from rempart.clock import Clock

MAX_PROOF = 8 * 1024
MAX_JTI = 256
# RSA keys in the header make it larger than joserfc's default 512-byte ceiling.
MAX_HEADER = 4096
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class DpopProof:
    jkt: str  # RFC 7638 thumbprint of the proof's public key
    jti: str


def b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalise_htu(url: str) -> str:
    """Scheme and host in lower case, default port dropped, no query or fragment."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


class DpopVerifier:
    def __init__(self, *, settings: AuthSettings, clock: Clock, replay: ReplayCache) -> None:
        self._algorithms = set(settings.dpop_algorithms)
        self._window = settings.dpop_iat_window_seconds
        self._clock = clock
        self._replay = replay
        self._registry = JWSRegistry(algorithms=list(settings.dpop_algorithms))
        self._registry.max_header_length = MAX_HEADER

    def verify(self, proof: str | None, *, method: str, url: str,
               access_token: str | None = None) -> DpopProof:
        if not proof:
            raise InvalidDpopProof("missing DPoP proof")
        if len(proof) > MAX_PROOF:
            raise InvalidDpopProof("proof too large")
        header = self._header(proof)
        key = self._public_key(header)
        claims = self._verified_claims(proof, key, str(header["alg"]))
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise InvalidDpopProof("jti missing or malformed")
        if claims.get("htm") != method.upper():
            raise InvalidDpopProof("htm does not match the request method")
        htu = claims.get("htu")
        try:
            htu_matches = isinstance(htu, str) and normalise_htu(htu) == normalise_htu(url)
        except ValueError:
            htu_matches = False
        if not htu_matches:
            raise InvalidDpopProof("htu does not match the request URL")
        iat = claims.get("iat")
        now = self._clock.now()
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise InvalidDpopProof("iat missing")
        if abs(now.timestamp() - iat) > self._window:
            raise InvalidDpopProof("iat outside the accepted window")
        if access_token is not None and claims.get("ath") != b64url_sha256(access_token):
            raise InvalidDpopProof("ath does not match the access token")
        jkt = key.thumbprint()
        replay_key = hashlib.sha256(f"{jkt}\x00{jti}".encode()).digest()
        expires = dt.datetime.fromtimestamp(iat, dt.UTC) + dt.timedelta(seconds=self._window)
        if not self._replay.first_use(replay_key, expires_at=max(expires, now)):
            raise InvalidDpopProof("proof replayed (jti already used)")
        return DpopProof(jkt=jkt, jti=jti)

    def _header(self, proof: str) -> dict[str, Any]:
        try:
            header: dict[str, Any] = dict(
                jws.extract_compact(proof.encode("ascii"), registry=self._registry).headers())
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise InvalidDpopProof("not a compact JWS") from None
        if header.get("typ") != "dpop+jwt":
            raise InvalidDpopProof("typ is not dpop+jwt")
        if header.get("alg") not in self._algorithms:
            raise InvalidDpopProof("alg not accepted")
        return header

    @staticmethod
    def _public_key(header: dict[str, Any]) -> Key:
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDpopProof("jwk missing from the header")
        try:
            key = import_key(jwk)
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidDpopProof("jwk not a valid public key") from None
        if key.is_private or key.key_type == "oct":
            raise InvalidDpopProof("jwk must be a public key")
        return key

    def _verified_claims(self, proof: str, key: Key, alg: str) -> dict[str, Any]:
        try:
            token = jwt.decode(proof, key, algorithms=[alg], registry=self._registry)
        except BadSignatureError:
            raise InvalidDpopProof("signature does not verify") from None
        except (JoseError, ValueError, TypeError):
            raise InvalidDpopProof("proof malformed or key unsuited to alg") from None
        return dict(token.claims)
