"""Member links: only a fresh, unused token signed by a registered key of the insurer it
names opens anything; everything else is refused with a reason code, never a crash."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import OKPKey

from member_support import public_pem
from rempart.audit import AuditLog
from rempart.auth.replay import DbReplayCache
from rempart.clock import ManualClock
from rempart.member.errors import (
    ExpiredLink,
    ForgedLink,
    InsurerKeyError,
    InvalidMemberLink,
    MalformedLink,
    ReplayedLink,
    UnknownLinkKey,
)
from rempart.member.insurer_keys import InsurerKeys, key_id_of
from rempart.member.links import AUDIENCE, LINK_TYPE, MemberLinkVerifier, sign_member_link
from rempart.population.models import Insurer
from rempart.runtime import Runtime

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
AMC = "12345678"
OTHER_AMC = "87654321"


@pytest.fixture
def backend() -> str:
    """Token parsing does not depend on the database: SQLite is enough here."""
    return "sqlite"


class Bed:
    def __init__(self, runtime: Runtime) -> None:
        self.clock = ManualClock(NOW)
        self.audit = AuditLog(engine=runtime.engine, clock=self.clock)
        with runtime.engine.begin() as conn:
            conn.execute(Insurer.__table__.insert(), [
                {"amc_number": AMC, "name": "Mutuelle A"},
                {"amc_number": OTHER_AMC, "name": "Mutuelle B"}])
        self.keys = InsurerKeys(engine=runtime.engine, clock=self.clock, audit=self.audit)
        self.key = Ed25519PrivateKey.generate()
        self.other = Ed25519PrivateKey.generate()
        self.key_id = self.keys.add(amc=AMC, public_key_pem=public_pem(self.key))
        self.keys.add(amc=OTHER_AMC, public_key_pem=public_pem(self.other))
        self.verifier = MemberLinkVerifier(
            keys=self.keys, replay=DbReplayCache(engine=runtime.engine, clock=self.clock),
            clock=self.clock)

    def token(self, *, header: dict[str, Any] | None = None, key: Ed25519PrivateKey | None = None,
              **claims: Any) -> str:
        now = int(NOW.timestamp())
        body = {"iss": AMC, "aud": AUDIENCE, "sub": "MA0001", "iat": now, "exp": now + 300,
                "jti": "n" * 22}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signer = key or self.key
        raw_id = key_id_of(signer.public_key().public_bytes_raw())
        head = {"alg": "Ed25519", "typ": LINK_TYPE, "kid": raw_id, **(header or {})}
        return jws.serialize_compact(head, orjson.dumps(body), OKPKey.import_key(signer),
                                     algorithms=["Ed25519"])


@pytest.fixture
def bed(runtime: Runtime) -> Bed:
    return Bed(runtime)


def test_a_fresh_link_verifies_once(bed: Bed) -> None:
    token = sign_member_link(private_key=bed.key, amc=AMC, member_number=" ma0001 ", now=NOW)
    link = bed.verifier.verify(token)
    assert (link.insurer_amc, link.key_id, link.member_number) == (AMC, bed.key_id, "ma0001")
    assert "ma0001" not in repr(link)
    with pytest.raises(ReplayedLink):
        bed.verifier.verify(token)


@pytest.mark.parametrize(("claims", "header", "error"), [
    ({"iss": OTHER_AMC}, None, ForgedLink),             # A's key cannot speak for B
    ({"aud": "somewhere-else"}, None, MalformedLink),
    ({"sub": None}, None, MalformedLink),
    ({"sub": "x" * 41}, None, MalformedLink),
    ({"jti": "short"}, None, MalformedLink),
    ({"jti": None}, None, MalformedLink),
    ({"exp": None}, None, MalformedLink),
    ({"iat": "yesterday"}, None, MalformedLink),
    ({"exp": int(NOW.timestamp()) + 601}, None, MalformedLink),   # lives too long
    ({"iat": int(NOW.timestamp()) + 120, "exp": int(NOW.timestamp()) + 300}, None,
     MalformedLink),                                                # signed in the future
    ({"exp": int(NOW.timestamp())}, None, ExpiredLink),
    ({}, {"typ": "JWT"}, MalformedLink),
    ({}, {"kid": "0" * 16}, UnknownLinkKey),
    ({}, {"kid": "not-hex"}, MalformedLink),
    ({}, {"jku": "https://keys.example.test/"}, MalformedLink),  # no key from elsewhere
])
def test_a_bad_claim_or_header_is_refused(bed: Bed, claims: dict[str, Any],
                                          header: dict[str, Any] | None,
                                          error: type[InvalidMemberLink]) -> None:
    with pytest.raises(error):
        bed.verifier.verify(bed.token(header=header, **claims))


def test_a_signature_by_another_key_is_forged(bed: Bed) -> None:
    genuine = bed.token()
    by_other = bed.token(key=bed.other)
    # B's signature under A's key id: the signature does not verify.
    head = genuine.split(".")[0]
    swapped = ".".join([head, *by_other.split(".")[1:]])
    with pytest.raises(ForgedLink):
        bed.verifier.verify(swapped)
    # And "alg": "none" with no signature is never accepted.
    unsigned = genuine.rsplit(".", 1)[0] + "."
    with pytest.raises(InvalidMemberLink):
        bed.verifier.verify(unsigned)


def test_a_replayed_link_is_refused_only_after_its_signature_is_checked(bed: Bed) -> None:
    """A forged token does not consume the nonce of the genuine one."""
    forged = bed.token(key=Ed25519PrivateKey.generate(), header={"kid": bed.key_id})
    with pytest.raises(ForgedLink):
        bed.verifier.verify(forged)
    bed.verifier.verify(bed.token())


def test_a_revoked_key_signs_nothing(bed: Bed) -> None:
    token = bed.token()
    bed.keys.revoke(key_id=bed.key_id)
    with pytest.raises(UnknownLinkKey):
        bed.verifier.verify(token)
    with pytest.raises(InsurerKeyError, match="already revoked"):
        bed.keys.revoke(key_id=bed.key_id)


def test_expired_by_the_clock(bed: Bed) -> None:
    token = bed.token()
    bed.clock.advance(300)
    with pytest.raises(ExpiredLink):
        bed.verifier.verify(token)


def test_a_clock_set_back_does_not_lengthen_a_link(bed: Bed) -> None:
    """The link's life is the insurer's (iat, exp), not ours: set back 3 hours, this
    clock reads a link signed before the jump as signed in the future (beyond the 60 s
    skew) and refuses it, so no link outlives its real 5 minutes; a small step back
    (under 60 s) keeps a fresh one good. Nothing to change here (docs/auth.md)."""
    token = bed.token()
    bed.clock.jump(-3 * 3600)
    with pytest.raises(MalformedLink, match="signed in the future"):
        bed.verifier.verify(token)
    bed.clock.jump(3 * 3600 - 50)
    assert bed.verifier.verify(token).nonce == "n" * 22
    bed.clock.jump(50 + 300)
    with pytest.raises(ExpiredLink):
        bed.verifier.verify(bed.token(jti="m" * 22))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.one_of(
    st.text(max_size=300),
    st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                     max_size=120), min_size=1, max_size=5).map(".".join),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
))
def test_garbage_is_refused_cleanly(bed: Bed, garbage: str) -> None:
    with pytest.raises(InvalidMemberLink):
        bed.verifier.verify(garbage)


@pytest.mark.parametrize(("pem", "reason"), [
    (b"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n", "private key"),
    (b"not a key", "not a PEM public key"),
])
def test_only_ed25519_public_keys_are_registered(bed: Bed, pem: bytes, reason: str) -> None:
    with pytest.raises(InsurerKeyError, match=reason):
        bed.keys.add(amc=AMC, public_key_pem=pem)


def test_a_key_is_registered_once_and_for_a_known_insurer(bed: Bed) -> None:
    with pytest.raises(InsurerKeyError, match="already registered"):
        bed.keys.add(amc=AMC, public_key_pem=public_pem(bed.key))
    with pytest.raises(InsurerKeyError, match="no insurer"):
        bed.keys.add(amc="999", public_key_pem=public_pem(Ed25519PrivateKey.generate()))
    assert [k.insurer_amc for k in bed.keys.list()] == [AMC, OTHER_AMC]


def test_the_documented_signing_recipe_verifies(bed: Bed) -> None:
    """docs/member-history.md shows insurers how to sign with `cryptography` alone."""
    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    key, member_number = bed.key, "MA0001"
    kid = hashlib.sha256(key.public_key().public_bytes_raw()).hexdigest()[:16]
    now = int(NOW.timestamp())
    header = {"alg": "Ed25519", "typ": "rempart-member-link+jwt", "kid": kid}
    claims = {"iss": "12345678", "aud": "rempart-member-history", "sub": member_number,
              "iat": now, "exp": now + 300, "jti": secrets.token_urlsafe(16)}
    signing_input = (b64url(json.dumps(header).encode()) + "."
                     + b64url(json.dumps(claims).encode()))
    token = signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))
    assert bed.verifier.verify(token).member_number == member_number


def test_a_key_whose_id_looks_like_a_long_number_is_still_registered(bed: Bed) -> None:
    """About 1 key id in 100 holds 13 decimal digits in a row, which an audit entry
    refuses as a possible NIR: the entry names the key by a shorter prefix."""
    for _ in range(20_000):
        key = Ed25519PrivateKey.generate()
        if re.search(r"\d{13}", key_id_of(key.public_key().public_bytes_raw())):
            break
    else:
        pytest.fail("no such key id in 20,000 tries")
    key_id = bed.keys.add(amc=AMC, public_key_pem=public_pem(key))
    assert re.search(r"\d{13}", key_id)
    bed.keys.revoke(key_id=key_id)
