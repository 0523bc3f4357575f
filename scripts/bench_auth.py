"""Measure what authentication costs, and that failures take the same time.

    .venv/bin/python scripts/bench_auth.py [--rounds 40] [--requests 400]

Runs on a throw-away SQLite instance under /tmp and prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rempart.auth.client import ClientInfo
from rempart.auth.config import AuthSettings
from rempart.auth.errors import AuthError
from rempart.auth.events import MemoryEventSink
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.tokens import ContactFields
from rempart.runtime import Runtime
from rempart.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from auth_support import DpopClient, add_organisations, totp_now

WRONG = "wrong password here"
PASSWORD = "correct horse battery staple 42"  # noqa: S105 (a throw-away bench account)


@dataclass
class Timing:
    times: list[float]  # ms, each call
    cpu_us: float  # process CPU per call (less noisy than wall time on a shared machine)


def timed(action: Callable[[], object], rounds: int) -> Timing:
    times = []
    cpu = time.process_time()
    for _ in range(rounds):
        start = time.perf_counter()
        with contextlib.suppress(AuthError):
            action()
        times.append((time.perf_counter() - start) * 1000)
    return Timing(times, (time.process_time() - cpu) / rounds * 1e6)


def show(label: str, timing: Timing) -> None:
    times = timing.times
    print(f"{label:<48} median {statistics.median(times):8.3f} ms   "
          f"mean {statistics.fmean(times):8.3f} ms   CPU {timing.cpu_us:7.0f} µs   "
          f"n={len(times)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="rempart-bench-auth-"))
    settings = Settings.load(data_dir=directory,
                             database_url=f"sqlite:///{directory / 'bench.db'}",
                             key_file=directory / "keyring.json")
    # Free failures high enough that throttling never answers instead of Argon2.
    cfg = AuthSettings(throttle_account_free_failures=10**6,
                       throttle_address_free_failures=10**6,
                       throttle_global_failures_per_minute=10**6)
    with Runtime.open(settings, create_keys=True) as runtime:
        auth = AuthServices.build(runtime, events=MemoryEventSink(), settings=cfg)
        org, _, _ = add_organisations(runtime)
        email = "bench@pharmacie.example"
        auth.accounts.create_account(contact=ContactFields(email, "Bench"), password=PASSWORD,
                                     role=Role.PROVIDER_USER, organisation_id=org)
        client = ClientInfo(address="192.0.2.1", user_agent="bench")

        print(f"Argon2id m={cfg.argon2_memory_kib} KiB t={cfg.argon2_time_cost} "
              f"p={cfg.argon2_parallelism}")
        show("hash a new password", timed(lambda: auth.hasher.hash(PASSWORD), args.rounds))
        wrong = timed(lambda: auth.login.password_login(
            login=email, password=WRONG, client=client), args.rounds)
        unknown = timed(lambda: auth.login.password_login(
            login="nobody@pharmacie.example", password=WRONG, client=client),
            args.rounds)
        show("login: wrong password", wrong)
        show("login: unknown login", unknown)
        print(f"{'unknown / wrong (median ratio)':<48} "
              f"{statistics.median(unknown.times) / statistics.median(wrong.times):8.3f}")

        pending = auth.login.password_login(login=email, password=PASSWORD, client=client)
        device = ClientInfo("192.0.2.1", "bench", pending.session.device_token)
        enrolment = auth.enrolment.begin_totp(session_token=pending.session.token,
                                              client=device)
        result = auth.enrolment.confirm_totp(
            session_token=pending.session.token, client=device,
            code=totp_now(enrolment.secret, runtime.clock))
        if result.session is None:
            raise SystemExit("enrolment did not complete the login")
        token = result.session.token
        show("session check per request", timed(
            lambda: auth.sessions.authenticate(token=token, client=device), args.requests))

        admin_id = auth.accounts.create_account(
            contact=ContactFields("admin@pharmacie.example", "Admin"), password=PASSWORD,
            role=Role.ORGANISATION_ADMIN, organisation_id=org).id
        registered = auth.api_clients.register(actor=auth.accounts.get(admin_id).actor,
                                               organisation_id=org, name="bench")
        dpop = DpopClient(runtime.clock)
        token_url, url = "https://api.example/oauth/token", "https://api.example/v1/checks"
        access = auth.api_auth.token(
            grant_type="client_credentials", client_id=registered.info.client_id,
            client_secret=registered.client_secret, dpop_proof=dpop.proof("POST", token_url),
            method="POST", url=token_url).access_token
        proofs = iter([dpop.proof("POST", url, access_token=access)
                       for _ in range(args.requests)])
        show("API: DPoP token + proof check per request", timed(
            lambda: auth.api_auth.authenticate(authorization=f"DPoP {access}",
                                               dpop_proof=next(proofs), method="POST",
                                               url=url), args.requests))


if __name__ == "__main__":
    main()
