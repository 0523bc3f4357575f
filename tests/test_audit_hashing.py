"""Hashing: RFC 6962/9162 Merkle trees and the chain's domain separation."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from rempart.audit.hashing import (
    GENESIS_HASH,
    chain_hash,
    leaf_hash,
    merkle_root,
    node_hash,
)

# The Certificate Transparency reference inputs and tree heads (RFC 6962 test data).
CT_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_tree_heads_match_the_certificate_transparency_reference() -> None:
    leaves = [leaf_hash(bytes.fromhex(data)) for data in CT_INPUTS]
    for size in range(len(leaves) + 1):
        assert merkle_root(leaves[:size]).hex() == CT_ROOTS[size], size


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, written as the recursion it states."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return node_hash(_reference_root(leaves[:split]), _reference_root(leaves[split:]))


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=80))
def test_iterative_root_equals_the_rfc_recursion(data: list[bytes]) -> None:
    leaves = [leaf_hash(d) for d in data]
    assert merkle_root(leaves) == _reference_root(leaves)


@given(st.lists(st.binary(max_size=20), min_size=2, max_size=30), st.data())
def test_any_changed_leaf_changes_the_root(data: list[bytes], draw: st.DataObject) -> None:
    index = draw.draw(st.integers(0, len(data) - 1))
    changed = list(data)
    changed[index] = data[index] + b"!"
    assert merkle_root([leaf_hash(d) for d in changed]) != merkle_root(
        [leaf_hash(d) for d in data])


def test_the_three_hash_domains_never_collide_on_the_same_bytes() -> None:
    left, right = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    as_leaf = leaf_hash(left + right)
    as_node = node_hash(left, right)
    as_link = chain_hash(left, right)
    assert len({as_leaf, as_node, as_link, hashlib.sha256(left + right).digest()}) == 4


def test_chain_hash_depends_on_the_previous_hash() -> None:
    leaf = leaf_hash(b"entry")
    assert chain_hash(GENESIS_HASH, leaf) != chain_hash(hashlib.sha256(b"x").digest(), leaf)
