"""The DPoP identification's cost in instructions (callgrind), in process (issue 4).

    PYTHONPATH=src:scripts valgrind --tool=callgrind --instr-atstart=no \
        --collect-atstart=no --callgrind-out-file=OUT \
        python scripts/count_dpop_identification.py [--calls N] [--clients C]
    callgrind_annotate OUT            # totals, and the functions by instructions

What is counted, per call: `AccessTokens.verify` (its signature kept from a first
verification, as for a steady client) and `DpopVerifier.verify` (the proof split and
its header read, its key found, the ES256 signature, htm/htu/iat/jti/ath, the replay
entry in the process's memory store), and the binding (the proof's key is the one the
token names): what `ApiAuthService.authenticate` does apart from the client's state.
Collection is toggled on around those calls only (callgrind's client requests,
compiled into a small library as `count_served_guard.py` does; no-ops outside
valgrind), so the proofs' signing, made before, is not counted. Each client's first
call (its key imported, its token's signature verified) is made before the counted
ones; then N calls, client n mod C, a fresh proof each. The toggles' own cost is
measured on empty regions and dumped alone (`toggles`), to subtract.
`--count-in TARGET` counts only inside one part instead (the outer toggles off); nested
targets would cancel each other: one part, or parts that do not call each other.

Outside valgrind it times the same calls (CPU µs per call), which says nothing
reliable on a shared machine: the instruction counts are the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

from count_served_guard import _marks, count_in
from joserfc.jwk import ECKey

from rempart.auth.access_tokens import AccessTokens
from rempart.auth.config import AuthSettings
from rempart.auth.dpop import DpopVerifier
from rempart.auth.dpop_signer import DpopSigner
from rempart.auth.errors import InvalidDpopProof
from rempart.auth.replay_stores import MemoryReplayCache
from rempart.auth.signing_keys import SigningKeys
from rempart.clock import SystemClock

URL = "http://127.0.0.1:8000/api/v1/checks"


class HeldKeys(SigningKeys):
    """The service's signing key held in memory (no database): `public` is
    SigningKeys' own cache hit, as in a steady process."""

    def __init__(self, clock: SystemClock) -> None:
        super().__init__(engine=None, vault=None, clock=clock)  # type: ignore[arg-type]
        key = ECKey.generate_key("P-256", private=True)
        kid = key.thumbprint()
        self._current = (kid, key)
        self._public[kid] = (ECKey.import_key(key.as_dict(private=False)), float("inf"))

    def public(self, kid: str, *, in_memory: bool = False) -> ECKey | None:
        cached = self._public.get(kid)
        return cached[0] if cached is not None else None


def _token_binding(claims: Any, token: str) -> dict[str, str]:
    ath = getattr(claims, "ath", None)
    return {"ath": ath} if ath else {"access_token": token}


def identify(tokens: AccessTokens, dpop: DpopVerifier, token: str, proof: str) -> str:
    claims = tokens.verify(token, in_memory=True)
    # As ApiAuthService.authenticate asks it (where the token's hash is kept, it is given).
    checked = dpop.verify(proof, method="POST", url=URL, **_token_binding(claims, token))
    if checked.jkt != claims.jkt:
        raise InvalidDpopProof("proof key is not the key the token is bound to")
    return claims.client_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--count-in", metavar="MODULE:NAME", action="append", default=[],
                        help="count only inside this function or method (repeatable; "
                             "e.g. rempart.auth.dpop:DpopVerifier._parsed)")
    args = parser.parse_args()
    clock = SystemClock()
    settings = AuthSettings()
    # The store refuses proofs made before it (restart safety): begun a second back.
    replay = MemoryReplayCache(clock=clock)
    replay._since -= 2  # the proofs below are made within this second
    dpop = DpopVerifier(settings=settings, clock=clock, replay=replay)
    tokens = AccessTokens(keys=HeldKeys(clock), clock=clock, settings=settings)
    signers = [DpopSigner(clock=clock) for _ in range(args.clients)]
    issued = [tokens.issue(client_id=f"client-{i}", organisation_id=i,
                           jkt=s.jkt).access_token for i, s in enumerate(signers)]
    for signer, token in zip(signers, issued, strict=True):  # first contact, not counted
        identify(tokens, dpop, token, signer.proof("POST", URL, access_token=token))
    calls = [(issued[n % args.clients],
              signers[n % args.clients].proof("POST", URL, access_token=issued[n % args.clients]))
             for n in range(args.calls)]
    marks = _marks()
    for target in args.count_in:
        count_in(marks, target)
    outer = not args.count_in
    marks.cg_start()
    marks.cg_zero()
    for _ in range(args.calls):
        marks.cg_toggle()
        marks.cg_toggle()
    marks.cg_dump(b"toggles")
    started = time.process_time()
    for token, proof in calls:
        if outer:
            marks.cg_toggle()
        identify(tokens, dpop, token, proof)
        if outer:
            marks.cg_toggle()
    cpu = time.process_time() - started
    marks.cg_dump(b"measured")
    print(json.dumps({"calls": args.calls, "clients": args.clients,
                      "cpu_us_per_call": round(cpu / args.calls * 1e6, 1),
                      "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}))


if __name__ == "__main__":
    main()
