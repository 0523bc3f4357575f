"""A bounded least-recently-used map, for the per-process caches of the API's checks.

The API's caches (a DPoP key imported from a proof, a token whose signature verified, a
client known to be active) are keyed by client: a server meets tens of thousands of
practices' software, each calling every few seconds or minutes. Emptied whenever full,
such a cache held nothing once the clients outnumbered it (every entry was gone before
its client called again); evicting the least recently used keeps the clients that call,
and a client evicted is only looked up again, never refused.

Not locked: the API's checks run in the server's thread pool, and each operation is a
few dict operations under the GIL; a race costs at worst one entry dropped early or
the map one entry over its size for a moment.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import suppress
from typing import Generic, TypeVar

# How many clients each of the API's caches keeps per process: a DPoP key takes about
# 2.6 KB once imported (measured), so the key cache is about 85 MB when full.
API_CLIENTS_KEPT = 32_768

K = TypeVar("K")
V = TypeVar("V")


class LruMap(Generic[K, V]):
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("an LRU map holds at least one entry")
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            # Evicted by another thread meanwhile: the value is still good.
            with suppress(KeyError):
                self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self._size:
            try:
                entries.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                break

    def keys(self) -> list[K]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
