"""Deployment settings of authentication: session timeouts bounded by NIST SP 800-63B
AAL2 and refused at start-up beyond them; a configured idle or absolute timeout ends a
portal session; a local breached-password list in the prefix layout, checked at start-up
and consulted with the shipped one."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auth_support import PASSWORD
from portal_support import PORTAL_AUTH, portal_env, sqlite_instance
from rempart.auth.blocklist import load_file
from rempart.auth.config import AuthSettings
from rempart.auth.errors import WeakPassword
from rempart.auth.events import EventKind
from rempart.auth.passwords import PasswordPolicy
from rempart.cli.main import app
from rempart.core.errors import ConfigurationError
from rempart.settings import Settings

IDLE = "REMPART_SESSION_IDLE_SECONDS"
ABSOLUTE = "REMPART_SESSION_ABSOLUTE_SECONDS"
LIST = "REMPART_PASSWORD_LIST_FILE"
# Long, varied, not in the shipped list: only a local list can refuse it.
LOCAL_ONLY = "Corbeau-violet du matin 1987"
ALSO_LISTED = "Mouette grise sur le quai 64"


def test_timeouts_default_to_aal2_and_may_be_shortened() -> None:
    defaults = AuthSettings.from_env({})
    assert (defaults.session_idle_seconds, defaults.session_absolute_seconds) == (1800, 43200)
    shorter = AuthSettings.from_env({IDLE: "600", ABSOLUTE: " 28800 "})
    assert (shorter.session_idle_seconds, shorter.session_absolute_seconds) == (600, 28800)


@pytest.mark.parametrize(("env", "named"), [
    ({IDLE: "1801"}, IDLE),                 # beyond AAL2's 30 minutes
    ({ABSOLUTE: "43201"}, ABSOLUTE),        # beyond AAL2's 12 hours
    ({IDLE: "0"}, IDLE),
    ({IDLE: "-300"}, IDLE),
    ({IDLE: "299"}, IDLE),                  # under the 5-minute floor
    ({IDLE: "thirty"}, IDLE),
    ({IDLE: "1e3"}, IDLE),
    ({IDLE: "٣٠٠٠"}, IDLE),                 # digits, but not ASCII ones
    ({ABSOLUTE: "12h"}, ABSOLUTE),
    ({IDLE: "1800", ABSOLUTE: "900"}, IDLE),  # idle longer than the absolute timeout
])
def test_a_nonsensical_or_too_long_timeout_is_refused(env: dict[str, str],
                                                      named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        AuthSettings.from_env(env)


def test_the_one_settings_place_reads_them(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv(IDLE, "900")
    assert Settings.load(data_dir=tmp_path).auth.session_idle_seconds == 900
    monkeypatch.setenv(IDLE, "7200")
    with pytest.raises(ConfigurationError, match="from 300 to 1800"):
        Settings.load(data_dir=tmp_path)
    # `rempart doctor` reads the settings as the server does: it stops and says why.
    refused = CliRunner().invoke(app, ["doctor", "--data-dir", str(tmp_path)])
    assert refused.exit_code == 2
    assert "REMPART_SESSION_IDLE_SECONDS must be a whole number of seconds from 300 to " \
        "1800" in " ".join(refused.output.split())


def test_configured_timeouts_end_portal_sessions(tmp_path: Path) -> None:
    configured = AuthSettings.from_env({IDLE: "300", ABSOLUTE: "3600"})
    auth = dataclasses.replace(PORTAL_AUTH,
                               session_idle_seconds=configured.session_idle_seconds,
                               session_absolute_seconds=configured.session_absolute_seconds)
    with portal_env(sqlite_instance(tmp_path), auth_settings=auth) as env:
        idle, _, _, _ = env.signed_in()
        active, _, _, _ = env.signed_in()
        assert idle.get("/portal/check").status_code == 200
        assert active.get("/portal/check").status_code == 200
        env.clock.advance(240)  # within five minutes: both still in
        assert idle.get("/portal/check").status_code == 200
        assert active.get("/portal/check").status_code == 200
        # One is left alone for over five minutes; the other is used every four.
        for _ in range(2):
            env.clock.advance(240)
            assert active.get("/portal/check").status_code == 200
        assert idle.get("/portal/check").headers["location"] == (
            "/portal/login?notice=session_ended")
        ticks = 3
        while active.get("/portal/check").status_code == 200 and ticks < 30:
            env.clock.advance(240)
            ticks += 1
        # Ended at the hour (counted from its start, a little before the first tick).
        assert 3600 <= 240 * (ticks + 1) < 3600 + 2 * 240
        reasons = [e.reason for e in env.events.of_kind(EventKind.SESSION_ENDED)]
        assert reasons == ["idle_timeout", "absolute_timeout"]


def _prefix_line(password: str, count: str = "") -> str:
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
    return f"{digest[:5]}:{digest[5:]}{count}"


def test_a_local_list_refuses_what_the_shipped_one_lets_through(tmp_path: Path) -> None:
    listed = tmp_path / "pwned.txt"
    # Have I Been Pwned's counts may stay; comments and blank lines are skipped.
    listed.write_text(f"# local list\n\n{_prefix_line(LOCAL_ONLY, ':41')}\n"
                      f"{_prefix_line(ALSO_LISTED)[:21]}\n")  # 15 digits, as shipped
    PasswordPolicy(AuthSettings()).check(LOCAL_ONLY)
    settings = AuthSettings.from_env({LIST: str(listed)})
    assert settings.password_list_file == str(listed)
    policy = PasswordPolicy(settings)
    with pytest.raises(WeakPassword) as refused:
        policy.check(LOCAL_ONLY)
    assert refused.value.reason == "common"
    with pytest.raises(WeakPassword):  # the shipped list still counts
        policy.check("password12345")
    with pytest.raises(WeakPassword):
        policy.check(ALSO_LISTED)
    policy.check(PASSWORD)
    assert len(load_file(listed)) == 2


@pytest.mark.parametrize(("content", "message"), [
    ("00096:5C0ACD3516888D3\nnot a hash\n", "line 2 is not PREFIX:SUFFIX"),
    ("0009:5C0ACD3516888D3\n", "line 1"),
    ("00096:" + "A" * 36 + "\n", "line 1"),
    ("00096:5C0ACD35ZZ\n", "line 1"),
    ("00096:5C0ACD35:many\n", "line 1"),
    ("# only a comment\n", "holds no hash"),
])
def test_a_malformed_local_list_stops_the_start(tmp_path: Path, content: str,
                                                message: str) -> None:
    listed = tmp_path / "pwned.txt"
    listed.write_text(content)
    settings = AuthSettings.from_env({LIST: str(listed)})
    with pytest.raises(ConfigurationError, match=message):
        PasswordPolicy(settings)


def test_a_missing_or_unreadable_list_is_refused_with_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a readable file"):
        AuthSettings.from_env({LIST: str(tmp_path / "absent.txt")})
    with pytest.raises(ConfigurationError, match="not a readable file"):
        AuthSettings.from_env({LIST: str(tmp_path)})
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_file(binary)
