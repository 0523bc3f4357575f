"""The API's per-process caches keep the clients that call, however many there are."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey

from rempart.auth.dpop import ProofKeys
from rempart.auth.lru import LruMap


def test_the_least_recently_used_entry_leaves_first() -> None:
    cache: LruMap[str, int] = LruMap(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the more recent
    cache.put("c", 3)
    assert cache.keys() == ["a", "c"]
    assert cache.get("b") is None
    assert len(cache) == 2


def test_a_full_cache_keeps_its_other_entries() -> None:
    cache: LruMap[int, int] = LruMap(100)
    for n in range(1000):
        cache.put(n, n)
    assert len(cache) == 100
    assert cache.keys() == list(range(900, 1000))


def test_an_lru_map_holds_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LruMap(0)


def test_a_proof_key_in_use_is_not_imported_again_when_others_come() -> None:
    keys = ProofKeys(size=2)
    jwks = [ECKey.generate_key("P-256", private=True).as_dict(private=False)
            for _ in range(3)]
    first, _ = keys.public_key(jwks[0])
    keys.public_key(jwks[1])
    assert keys.public_key(jwks[0])[0] is first  # in use: kept
    keys.public_key(jwks[2])  # the third evicts the second, not the first
    assert keys.public_key(jwks[0])[0] is first
    _, jkt = keys.public_key(jwks[1])
    assert jkt == ECKey.import_key(jwks[1]).thumbprint()


def test_a_proof_key_is_found_by_its_members_whatever_their_order() -> None:
    keys = ProofKeys(size=4)
    jwk = ECKey.generate_key("P-256", private=True).as_dict(private=False)
    first, jkt = keys.public_key(jwk)
    assert keys.public_key(dict(reversed(list(jwk.items()))))[0] is first
    # Another member is another entry (the same key, the same thumbprint), strings or not.
    named, named_jkt = keys.public_key({**jwk, "kid": "k1"})
    assert named is not first
    assert named_jkt == jkt
    listed, listed_jkt = keys.public_key({**jwk, "key_ops": ["verify"]})
    assert listed is not first
    assert listed is not named
    assert listed_jkt == jkt
