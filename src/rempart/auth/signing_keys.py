"""The keys that sign API access tokens: EC P-256, sealed by the vault, named by kid.

The first key is made on first use. Public keys are cached per process; a retired
key stops verifying at once in new processes and within `CACHE_SECONDS` elsewhere
(access tokens live for minutes, so retiring a key ends its tokens quickly).
"""

from __future__ import annotations

import json
import threading

from joserfc.jwk import ECKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DbSession

from rempart.auth.errors import NotInMemory
from rempart.auth.models import TokenSigningKey
from rempart.clock import Clock
from rempart.vault import Vault

SIGNING_KIND = b"token-signing-key"
ALGORITHM = "ES256"
CACHE_SECONDS = 60.0


class SigningKeys:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[str, ECKey] | None = None
        self._public: dict[str, tuple[ECKey | None, float]] = {}

    def current(self) -> tuple[str, ECKey]:
        """(kid, private key) to sign with; made and stored on first use."""
        with self._lock:
            if self._current is None:
                self._current = self._load_or_create()
            return self._current

    def public(self, kid: str, *, in_memory: bool = False) -> ECKey | None:
        """The public key for `kid`, or None if unknown or retired. `in_memory`: from
        the cache alone, NotInMemory if it would have to read the database."""
        now = self._clock.monotonic()
        cached = self._public.get(kid)
        if cached is not None and now - cached[1] < CACHE_SECONDS:
            return cached[0]
        if in_memory:
            raise NotInMemory("signing key not cached")
        with DbSession(self._engine) as db:
            row = db.scalar(select(TokenSigningKey).where(TokenSigningKey.kid == kid,
                                                          TokenSigningKey.retired_at.is_(None)))
            key = self._open(row).as_dict(private=False) if row is not None else None
        public = ECKey.import_key(key) if key is not None else None
        if len(self._public) > 1000:
            self._public.clear()
        self._public[kid] = (public, now)
        return public

    def retire(self, kid: str) -> None:
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(TokenSigningKey).where(TokenSigningKey.kid == kid))
            if row is not None:
                row.retired_at = self._clock.now()
        with self._lock:
            self._public.pop(kid, None)
            if self._current is not None and self._current[0] == kid:
                self._current = None

    def _load_or_create(self) -> tuple[str, ECKey]:
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(TokenSigningKey)
                            .where(TokenSigningKey.retired_at.is_(None))
                            .order_by(TokenSigningKey.id.desc()).limit(1))
            if row is not None:
                return row.kid, self._open(row)
            key = ECKey.generate_key("P-256", private=True)
            kid = key.thumbprint()
            sealed = self._vault.seal([json.dumps(key.as_dict(private=True))],
                                      kind=SIGNING_KIND, row_token=kid.encode())
            db.add(TokenSigningKey(kid=kid, key_version=self._vault.current_version,
                                   sealed=sealed, created_at=self._clock.now()))
            return kid, key

    def _open(self, row: TokenSigningKey) -> ECKey:
        text = self._vault.open(row.sealed, version=row.key_version, kind=SIGNING_KIND,
                                row_token=row.kid.encode())[0]
        return ECKey.import_key(json.loads(text))
