"""The guard on the check path: who asks turned into a CheckContext, the guard asked
before the look-up and before the answer leaves, and its rung carried out.

    ctx = gate.before(requester)          # CheckWithheld, or go on with the look-up
    gate.after(ctx, outcome)              # CheckWithheld, or the answer may leave
    gate.claimed(requester, reference)    # a claim quoted the check

The gate knows the request only through `rempart.disclosure.Requester` (ids, address,
device), the organisation through `Organisations` (rempart.providers.directory), and
acts on sessions and accounts through `Containment`; the edges turn CheckWithheld and
GuardUnavailable into HTTP answers (docs/guard.md, "On the check path").

Keys. A portal session is its own guard session, its account the login account. An API
client has no login account: the client is the guard's account (`client:<id>`), and
each DPoP key it uses is a session of it (`<session>|<key thumbprint>`), so stolen
credentials used with the attacker's own key are a new session on a new device beside
the practice's own, not a hijack of it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Protocol

from rempart.core.care import Profession
from rempart.disclosure import Requester
from rempart.guard.context import Channel, CheckContext, LookupOutcome, SizeClass, new_context
from rempart.guard.decision import Action, Decision
from rempart.guard.errors import CheckWithheld
from rempart.guard.guard import Guard, StepUpFactor
from rempart.guard.netwatch import NetworkView
from rempart.guard.operator import ClientStanding

PORTAL_PREFIX = "portal:"
API_PREFIX = "api:"
CLIENT_PREFIX = "client:"
UNKNOWN_DEPARTEMENT = "00"


class Facts(Protocol):
    @property
    def profession(self) -> str: ...

    @property
    def departement(self) -> str: ...

    @property
    def postcode(self) -> str: ...

    @property
    def size_class(self) -> str: ...


class Organisations(Protocol):
    def facts(self, organisation_id: int) -> Facts | None: ...


class Containment(Protocol):
    """What the guard's rungs do to authentication (implemented over rempart.auth)."""

    def require_step_up(self, session_id: str) -> None:
        """Ask the session for a fresh second factor before it reads anything more."""

    def end_session(self, session_id: str) -> None:
        """Revoke the session."""

    def suspend_account(self, account_id: int) -> None:
        """Suspend the account: every session ends, no login until an operator restores it."""


class CheckGate:
    def __init__(self, *, guard: Guard, organisations: Organisations,
                 containment: Containment) -> None:
        self._guard = guard
        self._organisations = organisations
        self._containment = containment
        # With a database server the look-ups run in worker threads. Each guard call
        # holds its account's order (Guard.serial): in memory one lock for all (the
        # profiles are shared objects); on Redis one of several lanes, held across the
        # call's round trips, so that checks of other accounts go on meanwhile.
        self._serial = guard.serial
        # In process every account's order is one lock: held without two calls a step.
        self._one_serial = guard.one_serial

    def before(self, requester: Requester, *, at: dt.datetime) -> CheckContext:
        ctx = self._context(requester, at)
        with self._one_serial or self._serial(ctx.account_id):
            decision = self._guard.before_check(ctx)
        if decision.action is not Action.ALLOW:
            self._enforce(ctx, requester, decision)
        return ctx

    def after(self, ctx: CheckContext, requester: Requester, outcome: LookupOutcome) -> None:
        with self._one_serial or self._serial(ctx.account_id):
            decision = self._guard.after_lookup(ctx, outcome)
        if decision.action is Action.SLOW_DOWN:
            # Only a failed match reaches a ceiling here, and its answer is the plain
            # negative anyone gets: withholding it would tell a miss from a match.
            # The next check is slowed before its look-up.
            return
        if decision.action is not Action.ALLOW:
            self._enforce(ctx, requester, decision)

    def claimed(self, requester: Requester, *, check_reference: str) -> None:
        account = account_key(requester)
        with self._serial(account):
            self._guard.on_claim(check_reference=check_reference, account_id=account)

    # A session's step-up and end reach the guard by session, its account unknown here:
    # they hold every account's order (rare, and short).

    def stepped_up(self, *, portal_session_id: int, factor: StepUpFactor) -> None:
        with self._serial(None):
            self._guard.on_step_up(session_id=f"{PORTAL_PREFIX}{portal_session_id}",
                                   factor=factor)

    def api_stepped_up(self, *, client_id: str, key_thumbprint: str,
                       factor: StepUpFactor) -> bool:
        """A user of the client's organisation answered the step-up of one of its DPoP
        keys (rempart.auth.api_step_up): that key's session only, never the client's
        other keys. False when the guard holds it or its client suspended."""
        with self._serial(None):
            return self._guard.on_step_up(session_id=key_session(client_id, key_thumbprint),
                                          factor=factor)

    def session_ended(self, *, portal_session_id: int) -> None:
        with self._serial(None):
            self._guard.end_session(session_id=f"{PORTAL_PREFIX}{portal_session_id}")

    def restore_account(self, *, account_id: int | str) -> None:
        with self._serial(account_id):
            self._guard.restore_account(account_id=account_id)

    # An operator's actions on an API client (the security console, rempart.console).

    def client_standing(self, *, client_id: str,
                        key_thumbprints: Sequence[str] = ()) -> ClientStanding:
        """The client's suspension and its keys': those the guard keeps, and those named
        (keys asked for a step-up)."""
        with self._serial(CLIENT_PREFIX + client_id):
            return self._guard.standing(
                account_id=CLIENT_PREFIX + client_id,
                sessions=[key_session(client_id, jkt) for jkt in key_thumbprints])

    def suspend_client(self, *, client_id: str) -> None:
        with self._serial(CLIENT_PREFIX + client_id):
            self._guard.suspend_account(account_id=CLIENT_PREFIX + client_id)

    def restore_key(self, *, client_id: str, key_thumbprint: str) -> bool:
        with self._serial(CLIENT_PREFIX + client_id):
            return self._guard.restore_key(account_id=CLIENT_PREFIX + client_id,
                                           session_id=key_session(client_id, key_thumbprint))

    def network_views(self, *, ts: float) -> list[NetworkView]:
        """The listed shared networks as the guard watches them (none unlisted)."""
        watch = self._guard.network_watch
        return [] if watch is None else watch.views(ts)

    def _context(self, requester: Requester, at: dt.datetime) -> CheckContext:
        facts = self._organisations.facts(requester.organisation_id)
        session = requester.session_id or f"org:{requester.organisation_id}"
        api = session.startswith(API_PREFIX)
        device = requester.device_id or "-"
        if facts is None:
            profession, size, departement, postcode = (
                Profession.PHARMACY, SizeClass.SMALL, UNKNOWN_DEPARTEMENT, None)
        else:
            profession = _PROFESSIONS.get(facts.profession, Profession.PHARMACY)
            size = _SIZES.get(facts.size_class, SizeClass.SMALL)
            departement, postcode = facts.departement, facts.postcode
        # new_context: CheckContext(...) without the frozen dataclass's per-field setattr.
        return new_context(
            account_key(requester), requester.organisation_id,
            f"{session}|{device}" if api else session, profession, size, departement,
            requester.client_address or "0.0.0.0", device, at,  # noqa: S104
            Channel.API if api else Channel.PORTAL, postcode, requester.network)

    def _enforce(self, ctx: CheckContext, requester: Requester, decision: Decision) -> None:
        action = decision.action
        if action is Action.ALLOW:
            return
        portal = requester.session_id is not None and requester.session_id.startswith(
            PORTAL_PREFIX)
        if portal and action is Action.STEP_UP:
            self._containment.require_step_up(str(requester.session_id))
        elif portal and action is Action.SUSPEND_SESSION:
            self._containment.end_session(str(requester.session_id))
        elif action is Action.SUSPEND_ACCOUNT and requester.account_id is not None:
            self._containment.suspend_account(requester.account_id)
        # API clients have stateless tokens: the guard's own state refuses every later
        # check of a suspended key (session) or client (account) until it is restored.
        # A key asked for a step-up is named to the edge, which gives it a code that a
        # user of its organisation can confirm (rempart.auth.api_step_up).
        raise CheckWithheld(int(action), retry_after_s=max(1, math.ceil(decision.delay_s)),
                            api_key=_api_key(requester) if action is Action.STEP_UP else None)


def account_key(requester: Requester) -> str:
    """The guard's account: the login account, or the API client (see module docstring)."""
    if requester.account_id is not None:
        return str(requester.account_id)
    session = requester.session_id or ""
    if session.startswith(API_PREFIX):
        return CLIENT_PREFIX + session.removeprefix(API_PREFIX)
    return session or f"org:{requester.organisation_id}"


def key_session(client_id: str, key_thumbprint: str) -> str:
    """The guard's session of one DPoP key of an API client (see module docstring)."""
    return f"{API_PREFIX}{client_id}|jkt:{key_thumbprint}"


def key_thumbprint(session_id: str) -> str:
    """The DPoP key thumbprint of an API key's guard session (key_session's inverse)."""
    return session_id.rpartition("|jkt:")[2]


def _api_key(requester: Requester) -> tuple[str, str] | None:
    """(client id, DPoP key thumbprint) of an API requester, None for a portal session."""
    session = requester.session_id or ""
    device = requester.device_id or ""
    if not session.startswith(API_PREFIX) or not device.startswith("jkt:"):
        return None
    return session.removeprefix(API_PREFIX), device.removeprefix("jkt:")


# By value: a dict read, where calling the enum costs microseconds on every check.
_PROFESSIONS = {p.value: p for p in Profession}
_SIZES = {s.value: s for s in SizeClass}
