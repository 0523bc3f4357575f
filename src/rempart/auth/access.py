"""The second-factor rule, checked before anything reaches personal data.

A session reaches personal data only at the FULL level, that is after a second
factor; operator accounts only when that factor was a passkey. Sensitive actions
(enrolling a factor, managing API clients) also need the factor to be recent.
"""

from __future__ import annotations

import datetime as dt

from rempart.auth.errors import PasskeyRequired, SecondFactorRequired, StepUpRequired
from rempart.auth.session_store import SessionLevel
from rempart.auth.sessions import SessionView

PASSKEY = "passkey"
TOTP = "totp"
RECOVERY = "recovery"


def require_personal_data_access(view: SessionView) -> None:
    if view.level is SessionLevel.STEP_UP:
        raise StepUpRequired("the client changed")
    if view.level is not SessionLevel.FULL:
        raise SecondFactorRequired
    if view.account.role.is_operator and view.method != PASSKEY:
        raise PasskeyRequired


def require_recent_second_factor(view: SessionView, *, now: dt.datetime,
                                 within_seconds: int) -> None:
    require_personal_data_access(view)
    if view.authenticated_at is None or (
            now - view.authenticated_at > dt.timedelta(seconds=within_seconds)):
        raise StepUpRequired("this action needs a recent second factor")


def methods_for(*, is_operator: bool, has_passkey: bool, has_totp: bool,
                has_recovery: bool, step_up: bool = False) -> list[str]:
    """Second factors the account may use now, passkeys first (phishing resistant).

    At a step-up (a session past its password: moved, stepped up by the guard, or
    refreshed for a sensitive action) an account with a passkey has only the passkey:
    a real-time phishing proxy holding the session could relay a fresh TOTP code, not a
    passkey's signature. Its login still takes TOTP or a recovery code, the way back
    for a lost passkey (docs/auth.md "Step-up")."""
    methods = [PASSKEY] if has_passkey else []
    if has_passkey and step_up:
        return methods
    if not is_operator:
        methods += [TOTP] if has_totp else []
        methods += [RECOVERY] if has_recovery else []
    return methods
