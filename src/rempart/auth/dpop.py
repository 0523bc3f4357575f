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
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key, import_key
from joserfc.jws import CompactSignature, JWSRegistry

from rempart.auth.config import AuthSettings
from rempart.auth.errors import InvalidDpopProof
from rempart.auth.lru import API_CLIENTS_KEPT, LruMap
from rempart.auth.replay import ProofReplayCache
from rempart.clock import Clock

MAX_PROOF = 8 * 1024
MAX_JTI = 256
# RSA keys in the header make it larger than joserfc's default 512-byte ceiling.
MAX_HEADER = 4096
DEFAULT_PORTS = {"http": 80, "https": 443}
KEY_CACHE_SIZE = API_CLIENTS_KEPT
# The request URLs a proof is checked against: the API's few endpoints under the Host
# names it is reached by (bounded: the Host header is the client's to choose).
REQUEST_URLS_KEPT = 256


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


@functools.lru_cache(maxsize=REQUEST_URLS_KEPT)
def _normalised_request_url(url: str) -> str:
    """normalise_htu of a request URL (ValueError too: lru_cache keeps no exception).
    Every proof is checked against one of a few URLs: normalised once, not per proof."""
    return normalise_htu(url)


def htu_matches(htu: object, url: str) -> bool:
    """Whether the proof's `htu` names the request URL, both normalised. A proof names
    the URL exactly as the client was told it, so an `htu` equal to the request URL (and
    normalising, as the request URL does) is a match without normalising it again."""
    try:
        expected = _normalised_request_url(url)
        return isinstance(htu, str) and (htu == url or normalise_htu(htu) == expected)
    except ValueError:
        return False


class DpopVerifier:
    def __init__(self, *, settings: AuthSettings, clock: Clock,
                 replay: ProofReplayCache) -> None:
        self._algorithms = set(settings.dpop_algorithms)
        self._window = settings.dpop_iat_window_seconds
        self._clock = clock
        self._replay = replay
        self._registry = JWSRegistry(algorithms=list(settings.dpop_algorithms))
        self._registry.max_header_length = MAX_HEADER
        self._keys = ProofKeys()

    @property
    def replay_in_process(self) -> bool:
        """Whether recording a proof's replay entry is memory alone (no I/O)."""
        return self._replay.in_process

    def verify(self, proof: str | None, *, method: str, url: str,
               ath: str | None = None) -> DpopProof:
        """The proof checked for `method url`; at a resource, bound to the access token
        whose hash (b64url_sha256, kept with the verified token) is `ath`."""
        if not proof:
            raise InvalidDpopProof("missing DPoP proof")
        if len(proof) > MAX_PROOF:
            raise InvalidDpopProof("proof too large")
        compact, header = self._parsed(proof)
        key, jkt = self._keys.public_key(header.get("jwk"))
        claims = self._verified_claims(compact, key, str(header["alg"]))
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise InvalidDpopProof("jti missing or malformed")
        if claims.get("htm") != method.upper():
            raise InvalidDpopProof("htm does not match the request method")
        if not htu_matches(claims.get("htu"), url):
            raise InvalidDpopProof("htu does not match the request URL")
        iat = claims.get("iat")
        now = self._clock.now()
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise InvalidDpopProof("iat missing")
        if abs(now.timestamp() - iat) > self._window:
            raise InvalidDpopProof("iat outside the accepted window")
        if ath is not None and claims.get("ath") != ath:
            raise InvalidDpopProof("ath does not match the access token")
        replay_key = hashlib.sha256(f"{jkt}\x00{jti}".encode()).digest()
        issued = dt.datetime.fromtimestamp(iat, dt.UTC)
        expires = issued + dt.timedelta(seconds=self._window)
        if not self._replay.first_use(replay_key, issued_at=issued,
                                      expires_at=max(expires, now)):
            raise InvalidDpopProof("proof replayed (jti already used)")
        return DpopProof(jkt=jkt, jti=jti)

    def _parsed(self, proof: str) -> tuple[CompactSignature, dict[str, Any]]:
        """The proof split and its header read once (the key to verify it is in there)."""
        try:
            compact = jws.extract_compact(proof.encode("ascii"), registry=self._registry)
            header: dict[str, Any] = dict(compact.headers())
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise InvalidDpopProof("not a compact JWS") from None
        if header.get("typ") != "dpop+jwt":
            raise InvalidDpopProof("typ is not dpop+jwt")
        if header.get("alg") not in self._algorithms:
            raise InvalidDpopProof("alg not accepted")
        return compact, header

    def _verified_claims(self, compact: CompactSignature, key: Key,
                         alg: str) -> dict[str, Any]:
        try:
            verified = jws.validate_compact(compact, key, algorithms=[alg],
                                            registry=self._registry)
        except (JoseError, ValueError, TypeError):
            raise InvalidDpopProof("proof malformed or key unsuited to alg") from None
        if not verified:
            raise InvalidDpopProof("signature does not verify")
        try:
            claims = json.loads(compact.payload)
        except (TypeError, ValueError):
            raise InvalidDpopProof("proof malformed or key unsuited to alg") from None
        if not isinstance(claims, dict):
            raise InvalidDpopProof("proof malformed or key unsuited to alg")
        return claims


class ProofKeys:
    """Public keys from proofs' `jwk` headers, imported once and kept with their thumbprint.

    A client signs every proof with the same key, and importing it (and hashing its
    thumbprint) cost more than verifying the signature. The cache holds only public
    keys that imported cleanly, keyed by the header's members; it decides nothing that
    a fresh import would decide differently, so it can never keep anything "valid".
    It keeps the most recently used (`rempart.auth.lru`): one key per client.
    """

    def __init__(self, *, size: int = KEY_CACHE_SIZE) -> None:
        self._keys: LruMap[str | tuple[tuple[str, str], ...], tuple[Key, str]] = LruMap(size)

    def public_key(self, jwk: object) -> tuple[Key, str]:
        """(key, RFC 7638 thumbprint), or InvalidDpopProof."""
        if not isinstance(jwk, dict):
            raise InvalidDpopProof("jwk missing from the header")
        name = _key_name(jwk)
        cached = self._keys.get(name)
        if cached is not None:
            return cached
        try:
            key = import_key(jwk)
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidDpopProof("jwk not a valid public key") from None
        if key.is_private or key.key_type == "oct":
            raise InvalidDpopProof("jwk must be a public key")
        entry = (key, key.thumbprint())
        self._keys.put(name, entry)
        return entry


def _key_name(jwk: dict[Any, Any]) -> str | tuple[tuple[str, str], ...]:
    """The `jwk`'s members as a cache key: two names are equal only for the same members.
    A public key's members are all strings (EC: kty, crv, x, y; RSA: kty, n, e, and any
    kid or alg): their sorted pairs, built at a sixth of canonical JSON's cost (JSON
    object keys are distinct strings, so sorting never compares values); anything else
    (a list, a number: 1 and true would be equal pairs) by its canonical JSON, as before."""
    pairs = tuple(sorted(jwk.items()))
    for name, value in pairs:
        if type(name) is not str or type(value) is not str:
            break
    else:
        return pairs
    try:
        return json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        raise InvalidDpopProof("jwk not a valid public key") from None
