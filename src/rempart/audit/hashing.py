"""SHA-256 hashing of the audit log, domain-separated as in RFC 9162 (and RFC 6962).

- leaf  = H(0x00 || canonical entry bytes)   the Merkle leaf of one entry
- node  = H(0x01 || left || right)           an interior Merkle node
- chain = H(0x02 || previous chain hash || leaf)

The Merkle tree over a range is RFC 9162's: split at the largest power of two below the
size, no duplicated odd node. The chain prefix 0x02 keeps chain links out of the tree
domains, so no chain hash can ever be presented as a leaf or a node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
CHAIN_PREFIX = b"\x02"
HASH_BYTES = 32
GENESIS_HASH = bytes(HASH_BYTES)  # the "previous hash" of position 1


def leaf_hash(entry_bytes: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + entry_bytes).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def chain_hash(prev_hash: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(CHAIN_PREFIX + prev_hash + leaf).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle tree head over leaf hashes (already H(0x00 || entry)).

    Pairing level by level and promoting an odd last node unchanged gives exactly the
    tree that splits at the largest power of two, without recursion.
    """
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
