"""`rempart doctor`'s checks: a deployment's configuration, and what to fix.

Each check reads the settings (REMPART_*), the environment and the files they name,
and returns findings: what is wrong and what to do about it, naming settings and
paths, never a secret's value. Configuration first; then, when the database can be
opened with the keys, the instance itself (the demo's known account).

What a production deployment needs (docs/deploy.md):
- the data keys and the audit signing key present and readable by their owner only,
  and neither beside the SQLite database (a copy of the database directory must not
  carry the keys that open it or forge its checkpoints);
- no demo or benchmark switch, no demo account with its published password;
- several workers share state: PostgreSQL, not SQLite, and Redis for login throttling
  and the guard's per-account state;
- TLS: https origins and token issuer, Secure cookies; rempart serves plain HTTP behind
  a TLS proxy, so the proxy's addresses must be the trusted proxies, and no wider;
- no listed shared network (REMPART_GUARD_SHARED_NETWORKS) holding a trusted proxy: every
  client would look as if it were behind that network. (A malformed list stops the
  settings from loading: doctor names the entry and stops there.)
- a local breached-password list (REMPART_PASSWORD_LIST_FILE) well formed: the server
  reads it at start-up and would refuse to start. (Session timeouts beyond NIST's AAL2
  limits, like a missing list, stop the settings from loading.)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from rempart.audit.errors import SigningKeyError
from rempart.audit.signing import KEY_ENV_VAR as SIGNING_ENV
from rempart.audit.signing import SigningKey
from rempart.auth.blocklist import load_file
from rempart.core.errors import RempartError
from rempart.guard.config import REDIS_SCHEMES, GuardSettings
from rempart.guard.errors import GuardConfigError
from rempart.settings import Settings
from rempart.vault.errors import KeyringError
from rempart.vault.keyring import ENV_VAR as KEYRING_ENV
from rempart.vault.keyring import Keyring
from rempart.web.networks import parse_networks

DEMO_ENV = ("REMPART_DEMO_MODE", "REMPART_BENCH_ENDPOINTS", "REMPART_BENCH_AUDIT")


@dataclass(frozen=True)
class Finding:
    check: str
    problem: str
    fix: str


Check = Callable[[Settings, Mapping[str, str]], list[Finding]]


def diagnose(settings: Settings, env: Mapping[str, str] | None = None) -> list[Finding]:
    """Every configuration finding (no connection is made)."""
    env = os.environ if env is None else env
    checks: list[Check] = [_data_keys, _signing_key, _demo_switches, _shared_state, _tls,
                           _proxies, _shared_networks, _password_list]
    return [finding for check in checks for finding in check(settings, env)]


def _data_keys(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    if env.get(KEYRING_ENV):
        try:
            Keyring.from_json(env[KEYRING_ENV], source=KEYRING_ENV)
        except KeyringError as exc:
            return [Finding("data_keys", str(exc), f"set {KEYRING_ENV} to the keyring "
                            "document made by `rempart keys init`")]
        return []
    path = settings.key_file
    found = _key_file_problem("data keys", path, create="rempart keys init")
    if found is not None:
        return [found]
    return _beside_database("data keys", path, settings, env_var=KEYRING_ENV)


def _signing_key(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    if env.get(SIGNING_ENV):
        try:
            SigningKey.from_pem(env[SIGNING_ENV].encode(), source=SIGNING_ENV)
        except SigningKeyError:
            return [Finding("audit_signing_key", f"{SIGNING_ENV} is not an Ed25519 PEM "
                            "private key", f"set {SIGNING_ENV} to the key made by "
                            "`rempart audit keygen`")]
        return []
    path = settings.audit_signing_key
    found = _key_file_problem("audit signing key", path, create="rempart audit keygen")
    if found is not None:
        return [found]
    return _beside_database("audit signing key", path, settings, env_var=SIGNING_ENV)


def _key_file_problem(what: str, path: Path, *, create: str) -> Finding | None:
    check = what.replace(" ", "_")
    try:
        info = path.stat()
    except FileNotFoundError:
        return Finding(check, f"the {what} file {path} does not exist",
                       f"run `{create}`, or point the setting at the existing file")
    except OSError as exc:
        return Finding(check, f"the {what} file {path} cannot be read ({exc.strerror})",
                       "give the service's user access to it")
    if not stat.S_ISREG(info.st_mode):
        return Finding(check, f"the {what} file {path} is not a regular file",
                       "point the setting at the key file itself")
    if info.st_mode & 0o077:
        return Finding(check, f"the {what} file {path} is readable by group or others "
                       f"(mode {stat.S_IMODE(info.st_mode):o})", f"run `chmod 600 {path}`")
    return None


def _beside_database(what: str, path: Path, settings: Settings, *,
                     env_var: str) -> list[Finding]:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return []
    database_dir = Path(url.database).resolve().parent
    if not path.resolve().is_relative_to(database_dir):
        return []
    return [Finding(what.replace(" ", "_"), f"the {what} file {path} is in the database's "
                    f"directory {database_dir}: a copy of that directory carries both",
                    f"move it to another volume (and set its path), or give it through "
                    f"{env_var} from a secret store")]


def _demo_switches(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    found = [Finding("demo_mode", f"{name} is set: a demo or benchmark switch",
                     f"unset {name} (the demo header identity can be forged by anyone; the "
                     "benchmark endpoint is an oracle)")
             for name in DEMO_ENV if env.get(name)]
    if settings.demo_mode or settings.bench_endpoints:
        found.append(Finding("demo_mode", "demo mode or benchmark endpoints are on",
                             "serve with `uvicorn --factory "
                             "rempart.web.asgi:create_app_from_environment`"))
    return found


def _password_list(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    path = settings.auth.password_list_file
    if path is None:
        return []
    try:
        load_file(path)
    except RempartError as exc:
        return [Finding("password_list", str(exc), "fix or replace the file "
                        "REMPART_PASSWORD_LIST_FILE names (docs/auth.md), or unset it")]
    return []


def _shared_state(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    if settings.workers <= 1:
        return []
    found = []
    if settings.is_sqlite:
        found.append(Finding("database", f"{settings.workers} workers on SQLite",
                             "set REMPART_DATABASE_URL=postgresql://... (see docs/deploy.md)"))
    if not settings.auth.throttle_storage.startswith(REDIS_SCHEMES):
        found.append(Finding("redis", "login throttling is in each worker's memory: an "
                             "attacker spreads attempts over the workers",
                             "set REMPART_REDIS_URL=redis://host:6379/0 (or "
                             "REMPART_THROTTLE_STORAGE)"))
    try:
        guard = GuardSettings.from_env(env)
    except GuardConfigError as exc:
        found.append(Finding("redis", str(exc), "fix the setting it names"))
    else:
        if not guard.uses_redis:
            found.append(Finding("redis", "the guard's per-account state is in each "
                                 "worker's memory", "set REMPART_REDIS_URL="
                                 "redis://host:6379/0 (or REMPART_GUARD_STORAGE)"))
    return found


def _tls(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    found = []
    plain = [origin for origin in settings.auth.origins if not origin.startswith("https://")]
    if plain or not settings.auth.origins:
        found.append(Finding("tls", "origins without TLS: " + (", ".join(plain) or "none set"),
                             "set REMPART_ORIGINS to the https:// address users reach"))
    if not settings.auth.token_issuer.startswith("https://"):
        found.append(Finding("tls", "the token issuer is not an https:// address",
                             "set REMPART_TOKEN_ISSUER to the public https:// address"))
    if not settings.cookie_secure:
        found.append(Finding("tls", "portal cookies are sent without Secure",
                             "unset REMPART_COOKIE_SECURE (it defaults to on)"))
    return found


def _proxies(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    try:
        networks = parse_networks("REMPART_TRUSTED_PROXIES", settings.trusted_proxies)
    except RempartError as exc:
        return [Finding("trusted_proxies", str(exc), "list the proxies' addresses or CIDRs")]
    if not networks:
        found = []
        if any(o.startswith("https://") for o in settings.auth.origins):
            found.append(Finding("trusted_proxies", "served over https (through a TLS proxy) "
                                 "but no trusted proxy is set: every client has the proxy's "
                                 "address, so one client's limits and audit address are "
                                 "everyone's",
                                 "set REMPART_TRUSTED_PROXIES to the proxies' addresses"))
        if settings.network_header:
            found.append(Finding("network_header", "REMPART_NETWORK_HEADER is set but no "
                                 "trusted proxy is: the clients' AS is never read, so the "
                                 "guard's per-AS limits and binding do nothing",
                                 "set REMPART_TRUSTED_PROXIES, or unset "
                                 "REMPART_NETWORK_HEADER"))
        return found
    if any(network.prefixlen == 0 for network in networks):
        return [Finding("trusted_proxies", "REMPART_TRUSTED_PROXIES trusts every address: "
                        "any client can forge X-Forwarded-For",
                        "list only the proxies' own addresses")]
    return []


def _shared_networks(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    try:
        proxies = parse_networks("REMPART_TRUSTED_PROXIES", settings.trusted_proxies)
    except RempartError:
        return []  # named by _proxies
    return [Finding("shared_networks", f"the shared network {entry.label!r} ({network}) holds "
                    f"the trusted proxy {proxy}: a client whose address the proxy does not "
                    "pass on is counted as that network's",
                    "list only the shared network's client addresses in "
                    "REMPART_GUARD_SHARED_NETWORKS")
            for entry in settings.guard.shared_networks.entries
            for network in entry.networks for proxy in proxies
            if network.version == proxy.version and network.overlaps(proxy)]
