"""Local time slots: the hour of the week and the day, in the providers' time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from rempart.guard.errors import GuardConfigError

SECONDS_PER_HOUR = 3600


class LocalSlots:
    """Maps timestamps to (hour of week, local day number); cached per UTC hour, since
    every time zone France uses is offset by whole hours."""

    def __init__(self, timezone: str = "Europe/Paris") -> None:
        try:
            self._zone = ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise GuardConfigError(f"unknown time zone {timezone!r}") from exc
        self._cache: dict[int, tuple[int, int, str]] = {}

    def slot(self, ts: float) -> tuple[int, int]:
        """(hour of week with Monday 00h = 0, local day ordinal)."""
        # The cache read inline (two or three calls a check, nearly always found).
        found = self._cache.get(int(ts // SECONDS_PER_HOUR)) or self._lookup(ts)
        return found[0], found[1]

    def at(self, ts: float) -> tuple[int, int, str]:
        """(hour of week, local day ordinal, label) in one call, the cache read inline."""
        return self._cache.get(int(ts // SECONDS_PER_HOUR)) or self._lookup(ts)

    def label(self, ts: float) -> str:
        """'Tuesday 10:00' — for reasons."""
        return self._lookup(ts)[2]

    def _lookup(self, ts: float) -> tuple[int, int, str]:
        key = int(ts // SECONDS_PER_HOUR)
        found = self._cache.get(key)
        if found is None:
            local = dt.datetime.fromtimestamp(key * SECONDS_PER_HOUR, self._zone)
            found = (local.weekday() * 24 + local.hour, local.toordinal(),
                     local.strftime("%A %H:00"))
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = found
        return found
