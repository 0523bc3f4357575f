"""Authentication settings, with the reasoning behind each default.

Password hashing follows the OWASP Password Storage Cheat Sheet, which recommends
Argon2id with at least 19 MiB of memory, 2 iterations and 1 degree of parallelism
(m=19456 KiB, t=2, p=1). Raising any of these makes stored hashes "need rehash", and
they are upgraded at the next successful login.

Session timeouts follow NIST SP 800-63B for AAL2: revision 3 (2017) requires
reauthentication at least every 12 hours and after 30 minutes of inactivity;
revision 4 (2025) relaxed this to "should" 24 hours and 1 hour. We keep the stricter
12 h absolute / 30 min idle, since one session is enough to scrape many records.
A deployment may shorten either (REMPART_SESSION_IDLE_SECONDS,
REMPART_SESSION_ABSOLUTE_SECONDS) but not lengthen it beyond those revision-3 "shall"
ceilings: a value beyond them, an idle timeout longer than the absolute one, or an idle
timeout under five minutes (last-seen is written once a minute, so a shorter one would
end sessions in use) is refused at start-up.

The breached-password list is the shipped one plus, when REMPART_PASSWORD_LIST_FILE
names one, a larger local file in the same prefix layout (rempart.auth.blocklist),
checked at start-up.

Throttling: a few free failures, then delays that double up to a ceiling, never a
lockout, so an honest user is delayed at most `throttle_max_delay_seconds` and not at
all from a device that already completed a login (OWASP's "device cookie" approach).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rempart.core.errors import ConfigurationError
from rempart.ratelimit import redis_prefix, shared_storage

# NIST SP 800-63B rev. 3 AAL2 "shall" limits: reauthenticate after 30 minutes idle and
# at least every 12 hours. Deployments may go shorter, never longer.
AAL2_IDLE_CEILING_SECONDS = 30 * 60
AAL2_ABSOLUTE_CEILING_SECONDS = 12 * 60 * 60
# Last-seen is written at most once a minute (rempart.auth.sessions.TOUCH_EVERY): an
# idle timeout near that would end sessions in use.
IDLE_FLOOR_SECONDS = 5 * 60


@dataclass(frozen=True)
class AuthSettings:
    # WebAuthn relying party: the browser refuses an rp id that is not the page's host.
    rp_id: str = "localhost"
    rp_name: str = "rempart"
    origins: tuple[str, ...] = ("http://localhost:8000",)

    # Passwords (OWASP Argon2id minimum; NIST 800-63B length and blocklist rules).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    password_min_length: int = 12
    password_max_length: int = 256
    # A larger breached-password file (prefix layout) checked with the shipped one.
    password_list_file: str | None = None

    # Sessions (NIST SP 800-63B AAL2, see the module docstring); bounded by from_env.
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 60 * 60
    # A session that passed the password only must finish its second factor quickly.
    pending_login_seconds: int = 5 * 60
    # Sensitive actions (adding a factor, API clients) need a second factor this recent.
    recent_auth_seconds: int = 15 * 60

    # Accounts, factors, ceremonies.
    invitation_seconds: int = 72 * 60 * 60
    webauthn_challenge_seconds: int = 5 * 60
    totp_valid_window: int = 1
    recovery_code_count: int = 10

    # Login throttling (the `limits` storage URI: memory:// or redis://host:port), and
    # the prefix of its keys in Redis (rempart.ratelimit: REMPART_REDIS_PREFIX).
    throttle_storage: str = "memory://"
    throttle_prefix: str = "rempart-throttle"
    throttle_window_seconds: int = 15 * 60
    throttle_account_free_failures: int = 5
    throttle_address_free_failures: int = 20
    # Failures per minute across the service above which every free allowance shrinks.
    throttle_global_failures_per_minute: int = 100
    throttle_attack_free_failures: int = 1
    throttle_base_delay_seconds: int = 1
    throttle_max_delay_seconds: int = 60
    # The DPoP replay store (rempart.auth.replay_stores): memory:// or redis://host:port,
    # its keys under the prefix.
    replay_storage: str = "memory://"
    replay_prefix: str = "rempart-replay"

    # API clients: OAuth 2.0 client credentials with DPoP (RFC 9449).
    token_issuer: str = "http://localhost:8000"  # noqa: S105 (an issuer URL)
    access_token_seconds: int = 5 * 60
    dpop_iat_window_seconds: int = 60
    dpop_algorithms: tuple[str, ...] = ("ES256", "ES384", "Ed25519", "PS256", "RS256")

    # Outgoing mail for login alerts.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    mail_from: str = "rempart <no-reply@localhost>"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        """The few deployment-specific values, from REMPART_* variables."""
        env = os.environ if env is None else env
        defaults = cls()
        origins = env.get("REMPART_ORIGINS")
        smtp_port = env.get("REMPART_SMTP_PORT")
        base_delay = env.get("REMPART_THROTTLE_BASE_DELAY_SECONDS")
        idle = _seconds(env, "REMPART_SESSION_IDLE_SECONDS", defaults.session_idle_seconds,
                        least=IDLE_FLOOR_SECONDS, most=AAL2_IDLE_CEILING_SECONDS)
        absolute = _seconds(env, "REMPART_SESSION_ABSOLUTE_SECONDS",
                            defaults.session_absolute_seconds, least=IDLE_FLOOR_SECONDS,
                            most=AAL2_ABSOLUTE_CEILING_SECONDS)
        if idle > absolute:
            raise ConfigurationError(
                f"REMPART_SESSION_IDLE_SECONDS ({idle}) must not exceed "
                f"REMPART_SESSION_ABSOLUTE_SECONDS ({absolute})")
        return cls(
            rp_id=env.get("REMPART_RP_ID", defaults.rp_id),
            origins=tuple(o.strip() for o in origins.split(",") if o.strip())
            if origins else defaults.origins,
            token_issuer=env.get("REMPART_TOKEN_ISSUER", defaults.token_issuer),
            throttle_storage=shared_storage(env, "REMPART_THROTTLE_STORAGE"),
            throttle_prefix=redis_prefix(env, "throttle"),
            replay_storage=shared_storage(env, "REMPART_REPLAY_STORAGE"),
            replay_prefix=redis_prefix(env, "replay"),
            throttle_base_delay_seconds=_delay_seconds(base_delay, defaults)
            if base_delay else defaults.throttle_base_delay_seconds,
            session_idle_seconds=idle,
            session_absolute_seconds=absolute,
            password_list_file=_readable_file(env, "REMPART_PASSWORD_LIST_FILE"),
            smtp_host=env.get("REMPART_SMTP_HOST") or None,
            smtp_port=int(smtp_port) if smtp_port else defaults.smtp_port,
            mail_from=env.get("REMPART_MAIL_FROM", defaults.mail_from),
        )


def _delay_seconds(value: str, defaults: AuthSettings) -> int:
    """REMPART_THROTTLE_BASE_DELAY_SECONDS: whole seconds, 1 to the maximum delay."""
    if not value.isdigit() or not 1 <= int(value) <= defaults.throttle_max_delay_seconds:
        raise ConfigurationError("REMPART_THROTTLE_BASE_DELAY_SECONDS must be a whole number of "
                         f"seconds from 1 to {defaults.throttle_max_delay_seconds}")
    return int(value)


def _seconds(env: Mapping[str, str], name: str, default: int, *, least: int,
             most: int) -> int:
    """A timeout in whole seconds from `least` to `most`; a wrong value is named."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not least <= int(raw) <= most:
        raise ConfigurationError(f"{name} must be a whole number of seconds from {least} to "
                                 f"{most} (NIST SP 800-63B AAL2), not {raw[:40]!r}")
    return int(raw)


def _readable_file(env: Mapping[str, str], name: str) -> str | None:
    """A path that must name a readable file (its content is checked where it is loaded)."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigurationError(f"{name} names {raw!r}, which is not a readable file")
    return raw
