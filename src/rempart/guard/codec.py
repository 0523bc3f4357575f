"""Profiles and sessions to and from JSON, for state kept outside the process (Redis, and
the memory backend's snapshots in the database).

The guard's dataclasses are turned into dicts and lists here before orjson sees them:
orjson reads a dataclass's slots itself, which crashes the process on the native classes
mypyc makes of them when the guard is compiled (docs/guard.md). The bytes are the ones
orjson's own dataclass support wrote: the fields in their declared order, tuples as lists
(tests/test_guard_codec.py pins them).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import orjson

from rempart.guard import rates as rw
from rempart.guard.decision import Evidence
from rempart.guard.patients import FILTER_BYTES, PatientFilter, Patients
from rempart.guard.profile import AccountProfile, PendingCheck, SessionState

# Field names in declared order, read once: what orjson's dataclass support wrote.
_ACCOUNT_FIELDS = tuple(f.name for f in fields(AccountProfile))
_SESSION_FIELDS = tuple(f.name for f in fields(SessionState))
_PENDING_FIELDS = tuple(f.name for f in fields(PendingCheck))
_EVIDENCE_FIELDS = ("novelty", "pending", "composition")


def _evidence(found: tuple[Evidence, ...]) -> list[dict[str, Any]]:
    return [{"feature": e.feature, "bits": e.bits, "reason": e.reason} for e in found]


def account_dict(profile: AccountProfile) -> dict[str, Any]:
    """The profile as plain JSON values (every field holds str, numbers, lists, tuples
    and dicts of them)."""
    return {name: getattr(profile, name) for name in _ACCOUNT_FIELDS}


def session_dict(session: SessionState) -> dict[str, Any]:
    """The session as plain JSON values, its evidence as one dict per item."""
    data = {name: getattr(session, name) for name in _SESSION_FIELDS}
    for name in _EVIDENCE_FIELDS:
        data[name] = _evidence(data[name])
    return data


def dump(state: AccountProfile | SessionState) -> bytes:
    if isinstance(state, AccountProfile):
        return orjson.dumps(account_dict(state))
    return orjson.dumps(session_dict(state))


def load_account(blob: bytes) -> AccountProfile:
    data: dict[str, Any] = orjson.loads(blob)
    stored = data["rates"]
    if isinstance(stored, dict):
        # Saved before the rates were one flat list: one object per feature, by name.
        flat = rw.empty()
        for name, at in rw.OFFSET.items():
            for i, field in enumerate(rw.FIELD_NAMES):
                flat[at + i] = float(stored[name][field])
        stored = flat
    data["rates"] = [float(v) for v in stored]
    # Saved before they were lazy: an empty histogram or history is the absent one.
    data["hours_raw"] = data["hours_raw"] or None
    data["peaks_history"] = tuple(tuple(day) for day in data["peaks_history"])
    for name in ("peaks_today", "peaks_high", "volume_cache", "suspension"):
        data[name] = tuple(data[name])
    # Profiles saved before suspended keys were kept load without them.
    for name in ("suspended_keys", "keys_with_client"):
        data[name] = tuple(str(k) for k in data.get(name, ()))
    return AccountProfile(**data)


def load_session(blob: bytes) -> SessionState:
    data: dict[str, Any] = orjson.loads(blob)
    for name in ("novelty", "pending", "composition"):
        data[name] = tuple(Evidence(**e) for e in data[name])
    for name in ("counts", "step_up_reasons"):
        data[name] = tuple(data[name])
    data["intervals"] = data["intervals"] or None  # saved empty before it was lazy
    # Sessions saved before far_places existed load without it.
    data["far_places"] = tuple(data.get("far_places", ()))
    data["near_keys"] = {k: (int(v[0]), float(v[1])) for k, v in data["near_keys"].items()}
    # Sessions saved before failed_attempts existed load without it.
    data["failed_attempts"] = {k: float(v)
                               for k, v in data.get("failed_attempts", {}).items()}
    return SessionState(**data)


def dump_reasons(reasons: Sequence[str]) -> bytes:
    return orjson.dumps(reasons)


def load_reasons(blob: bytes) -> tuple[str, ...]:
    return tuple(str(reason) for reason in orjson.loads(blob))


def pending_list(account_id: str, check: PendingCheck) -> list[Any]:
    """A pending claim and its account as plain JSON values."""
    return [account_id, {name: getattr(check, name) for name in _PENDING_FIELDS}]


def dump_pending(account_id: str, check: PendingCheck) -> bytes:
    return orjson.dumps(pending_list(account_id, check))


def load_pending(blob: bytes) -> tuple[str, PendingCheck]:
    account_id, data = orjson.loads(blob)
    origin = data["origin"]
    data["origin"] = None if origin is None else (str(origin[0]), str(origin[1]), origin[2])
    return str(account_id), PendingCheck(**data)


def dump_patients(found: Patients) -> bytes:
    """An account's patient filter (rempart.guard.patients), for the memory backend's
    snapshot: per generation its set bits, or its bitmap in base64. Bits only."""
    if isinstance(found, tuple):
        return orjson.dumps([[found[0], list(found[1])]])
    return orjson.dumps([[gen, list(held) if isinstance(held, tuple)
                          else base64.b64encode(held).decode()]
                         for gen, held in found.generations.items()])


def load_patients(blob: bytes) -> Patients:
    stored = orjson.loads(blob)
    if len(stored) == 1 and isinstance(stored[0][1], list):
        gen, bits = stored[0]
        return (int(gen), tuple(int(b) for b in bits))
    found = PatientFilter()
    for gen, held in stored:
        if isinstance(held, list):
            found.generations[int(gen)] = tuple(int(b) for b in held)
        else:
            bitmap = bytearray(base64.b64decode(held, validate=True))
            if len(bitmap) != FILTER_BYTES:
                raise ValueError("patient filter size")
            found.generations[int(gen)] = bitmap
    return found
