"""Member links: a short-lived token signed by the insurer that opens a person's history.

The token is a compact JWS (RFC 7515) signed with the insurer's Ed25519 key
(`alg` "Ed25519", RFC 9864), header `typ` "rempart-member-link+jwt" and `kid` the key
id, claims:

    iss  the insurer's AMC number (must be the insurer the key belongs to)
    aud  "rempart-member-history"
    sub  the member number, as printed on the insurer card
    iat  when it was signed, exp when it stops working (at most 10 minutes later)
    jti  a random nonce: each token opens a history once

The token carries a member number, so it travels in a POST body or an Authorization
header, never in a URL (docs/member-history.md). Nothing here logs it, and errors say
what is wrong with it without repeating any of it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OKPKey

from rempart.auth.replay import ReplayCache
from rempart.clock import Clock
from rempart.member.errors import (
    ExpiredLink,
    ForgedLink,
    MalformedLink,
    ReplayedLink,
    UnknownLinkKey,
)
from rempart.member.insurer_keys import ActiveLinkKey, InsurerKeys, key_id_of

LINK_TYPE = "rempart-member-link+jwt"
AUDIENCE = "rempart-member-history"
ALGORITHM = "Ed25519"
MAX_LIFETIME_S = 600
DEFAULT_LIFETIME_S = 300
CLOCK_SKEW_S = 60
MAX_TOKEN_CHARS = 2048
KEY_ID = re.compile(r"[0-9a-f]{16}")
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
AMC = re.compile(r"[0-9A-Za-z]{1,10}")
MEMBER_NUMBER_MAX = 40
_REPLAY_DOMAIN = b"rempart-member-link/1\x00"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """A verified link. The member number is personal data: kept out of the repr."""

    key_id: str
    insurer_amc: str
    member_number: str = field(repr=False)
    nonce: str
    expires_at: dt.datetime


def sign_member_link(*, private_key: Ed25519PrivateKey, amc: str, member_number: str,
                     now: dt.datetime, lifetime_s: int = DEFAULT_LIFETIME_S,
                     nonce: str | None = None) -> str:
    """What an insurer's member area does (here for tests and `rempart insurers sign-link`)."""
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    issued = int(now.timestamp())
    claims = {"iss": amc, "aud": AUDIENCE, "sub": member_number, "iat": issued,
              "exp": issued + lifetime_s, "jti": nonce or secrets.token_urlsafe(16)}
    header = {"alg": ALGORITHM, "typ": LINK_TYPE, "kid": key_id_of(raw)}
    key = OKPKey.import_key(private_key)
    return jws.serialize_compact(header, _json(claims), key, algorithms=[ALGORITHM])


class MemberLinkVerifier:
    """Checks a token's form, signature, claims, lifetime and single use, in that order
    (single use last: a forged token must not fill the replay cache)."""

    def __init__(self, *, keys: InsurerKeys, replay: ReplayCache, clock: Clock,
                 max_lifetime_s: int = MAX_LIFETIME_S) -> None:
        self._keys = keys
        self._replay = replay
        self._clock = clock
        self._max_lifetime = max_lifetime_s

    def verify(self, token: str) -> LinkClaims:
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise MalformedLink("the token is missing or too long")
        header = _header(token)
        key = self._keys.find(header["kid"])
        if key is None:
            raise UnknownLinkKey("the signing key is not registered, or was revoked")
        claims = _verified_claims(token, key)
        link = self._check_claims(claims, key)
        digest = hashlib.sha256(_REPLAY_DOMAIN + key.key_id.encode() + b"\x00"
                                + link.nonce.encode()).digest()
        if not self._replay.first_use(
                digest, expires_at=link.expires_at + dt.timedelta(seconds=CLOCK_SKEW_S)):
            raise ReplayedLink("the link was already used")
        return link

    def _check_claims(self, claims: dict[str, Any], key: ActiveLinkKey) -> LinkClaims:
        if claims.get("iss") != key.insurer_amc:
            raise ForgedLink("the link names another insurer than the one whose key signed it")
        if claims.get("aud") != AUDIENCE:
            raise MalformedLink("the link is not meant for the member history (aud)")
        member = claims.get("sub")
        if not isinstance(member, str) or not 0 < len(member.strip()) <= MEMBER_NUMBER_MAX:
            raise MalformedLink("the member number (sub) is missing or too long")
        nonce = claims.get("jti")
        if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
            raise MalformedLink("the nonce (jti) must be 16 to 64 base64url characters")
        issued, expires = _seconds(claims, "iat"), _seconds(claims, "exp")
        now = self._clock.now().timestamp()
        if expires - issued > self._max_lifetime:
            raise MalformedLink(f"the link lives longer than {self._max_lifetime} seconds")
        if issued > now + CLOCK_SKEW_S:
            raise MalformedLink("the link was signed in the future (iat)")
        if now >= expires:
            raise ExpiredLink("the link has expired")
        return LinkClaims(key_id=key.key_id, insurer_amc=key.insurer_amc,
                          member_number=member.strip(), nonce=nonce,
                          expires_at=dt.datetime.fromtimestamp(expires, dt.UTC))


def _header(token: str) -> dict[str, Any]:
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise MalformedLink("the token is not a compact JWS") from None
    if header.get("alg") != ALGORITHM:
        raise MalformedLink(f"the token must be signed with {ALGORITHM}")
    if header.get("typ") != LINK_TYPE:
        raise MalformedLink(f"the token's typ must be {LINK_TYPE}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
        raise MalformedLink("the token's kid must be a key id (16 hex digits)")
    if set(header) - {"alg", "typ", "kid"}:
        raise MalformedLink("the token's header has unexpected members")
    return dict(header)


def _verified_claims(token: str, key: ActiveLinkKey) -> dict[str, Any]:
    public = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519",
                                "x": _b64url(key.public_key)})
    try:
        verified = jws.deserialize_compact(token, public, algorithms=[ALGORITHM])
    except BadSignatureError:
        raise ForgedLink("the signature does not verify") from None
    except (JoseError, ValueError, TypeError):
        raise MalformedLink("the token is not a compact JWS") from None
    try:
        claims = orjson.loads(verified.payload)
    except (orjson.JSONDecodeError, TypeError):
        raise MalformedLink("the token's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise MalformedLink("the token's payload is not a JSON object")
    return claims


def _seconds(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**40:
        raise MalformedLink(f"the link's {name} must be a time in seconds since 1970")
    return value


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)
