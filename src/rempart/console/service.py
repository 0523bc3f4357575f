"""The security console's service: what an operator sees and does about an account.

    console.open_alerts(actor=...)                       alerts no one has closed
    console.account(actor=..., account_id=...)           its facts, sessions, alerts, timeline
    console.suspend_session(actor=..., session_id=...)   end one session
    console.suspend_account(actor=..., account_id=...)   suspend, end its sessions, revoke the
                                                         API clients it registered
    console.restore_account(actor=..., account_id=...)   lift the suspension, tell the guard,
                                                         close the account's open alerts
    console.remove_passkeys(actor=..., account_id=...)  a lost passkey: remove the account's
                                                         passkeys, end its sessions, tell it
    console.close_alert(actor=..., alert_id=...)
    console.client(actor=..., client_id=...)             an API client: its keys as the guard
                                                         holds them, its alerts
    console.suspend_client(actor=..., client_id=...)     the guard refuses all its checks
    console.restore_client(actor=..., client_id=...)     lift it (as restore_account does for
                                                         an account: the same path)
    console.restore_key(actor=..., client_id=..., key_thumbprint=...)
                                                         lift one key the guard suspended
    console.networks(actor=...)                          the listed shared networks as the
                                                         guard watches them, their open alerts

Only operator accounts (security analyst, operator admin) may call it; who may act on
whom is the auth domain's rule (`can_manage_account`). Each action is an audit entry
`console.<action>` naming the operator (account_id) and the target, besides the auth
domain's own events. The guard is optional: an app without one still contains and
restores accounts, and the guard forgets nothing it was never told; an API client is
contained by the guard alone (without one, its organisation or an operator admin
revokes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from rempart.alerts.store import AlertStore, StoredAlert
from rempart.audit import AuditLog
from rempart.audit.security_sink import record_operation
from rempart.auth.accounts import AccountView
from rempart.auth.api_clients import ApiClientInfo
from rempart.auth.client import ClientInfo
from rempart.auth.errors import NotFound, NotPermitted
from rempart.auth.roles import Actor, can_manage_account
from rempart.auth.services import AuthServices
from rempart.auth.sessions import SessionView
from rempart.clock import Clock
from rempart.console.timeline import TimelineItem, alert_items, audit_items, merged
from rempart.guard.context import EntityId
from rempart.guard.gate import CLIENT_PREFIX, key_thumbprint
from rempart.guard.netwatch import NetworkView
from rempart.guard.operator import ClientStanding


class ConsoleGuard(Protocol):
    """What the console needs of the guard (rempart.guard.gate.CheckGate)."""

    def restore_account(self, *, account_id: EntityId) -> None: ...

    def client_standing(self, *, client_id: str,
                        key_thumbprints: Sequence[str] = ()) -> ClientStanding: ...

    def suspend_client(self, *, client_id: str) -> None: ...

    def restore_key(self, *, client_id: str, key_thumbprint: str) -> bool: ...

    def network_views(self, *, ts: float) -> list[NetworkView]: ...


@dataclass(frozen=True, slots=True)
class AccountFile:
    account: AccountView
    sessions: list[SessionView]
    alerts: list[StoredAlert]
    timeline: list[TimelineItem]
    manageable: bool
    clients: list[ApiClientInfo]  # its organisation's practice software
    passkeys: int = 0  # how many it holds (a lost one is removed from the console)


@dataclass(frozen=True, slots=True)
class KeyView:
    thumbprint: str
    suspended: bool  # by the guard, on its own: restore_key
    with_client: bool  # refused while the client was suspended: restore_client
    step_up_pending: bool


@dataclass(frozen=True, slots=True)
class ClientFile:
    client: ApiClientInfo
    guarded: bool  # whether the app has a guard (else nothing to show or do here)
    suspended: bool
    reasons: tuple[str, ...]
    keys: list[KeyView]
    alerts: list[StoredAlert]
    timeline: list[TimelineItem]


@dataclass(frozen=True, slots=True)
class NetworkPanel:
    """A listed shared network (organisations as internal ids; no address, no person)."""

    view: NetworkView
    cidrs: tuple[str, ...]
    named: tuple[str, ...]
    alerts: list[StoredAlert]


@dataclass(frozen=True, slots=True)
class Containment:
    sessions_ended: int
    clients_revoked: int


@dataclass(frozen=True, slots=True)
class Restoration:
    alerts_closed: int
    guard_restored: bool


def require_operator(actor: Actor) -> None:
    if not actor.role.is_operator:
        raise NotPermitted("use the security console")


class SecurityConsole:
    def __init__(self, *, engine: Engine, clock: Clock, auth: AuthServices, alerts: AlertStore,
                 audit: AuditLog, guard: ConsoleGuard | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._auth = auth
        self._alerts = alerts
        self._audit = audit
        self.guard = guard

    def open_alerts(self, *, actor: Actor, limit: int = 200) -> list[StoredAlert]:
        require_operator(actor)
        return self._alerts.open(limit=limit)

    def account(self, *, actor: Actor, account_id: int) -> AccountFile:
        require_operator(actor)
        view = self._auth.accounts.get(account_id)
        alerts = self._alerts.for_account(account_id)
        clients = ([] if view.organisation_id is None else self._auth.api_clients.for_operator(
            actor=actor, organisation_id=view.organisation_id))
        return AccountFile(
            account=view, sessions=self._auth.sessions.list_for_account(account_id),
            alerts=alerts,
            timeline=merged(audit_items(self._engine, account_id), alert_items(alerts)),
            manageable=can_manage_account(actor, role=view.role,
                                          organisation_id=view.organisation_id),
            clients=clients, passkeys=self._auth.passkeys.count(account_id))

    def suspend_session(self, *, actor: Actor, session_id: int, client: ClientInfo) -> int:
        """End one session; returns its account's id."""
        require_operator(actor)
        record = self._auth.session_store.by_id(session_id)
        if record is None:
            raise NotFound("session")
        self._auth.sessions.end_as_admin(actor=actor, session_id=session_id, client=client)
        self._record("console.session_suspended", actor, target_account=record.account_id,
                     session=session_id)
        return record.account_id

    def suspend_account(self, *, actor: Actor, account_id: int) -> Containment:
        require_operator(actor)
        if account_id == actor.account_id:
            raise NotPermitted("suspend your own account")
        ended = self._auth.accounts.suspend(actor=actor, account_id=account_id,
                                            reason="security_console")
        revoked = self._auth.api_clients.revoke_registered_by(actor=actor,
                                                              account_id=account_id)
        self._record("console.account_suspended", actor, target_account=account_id,
                     sessions_ended=len(ended), clients_revoked=len(revoked))
        return Containment(sessions_ended=len(ended), clients_revoked=len(revoked))

    def restore_account(self, *, actor: Actor, account_id: int) -> Restoration:
        """Lift a suspension. Revoked API clients stay revoked: their secrets may be known
        to whoever held the account, so its organisation registers new ones."""
        require_operator(actor)
        self._auth.accounts.reactivate(actor=actor, account_id=account_id)
        return self._restored(actor, account_id, "console.account_restored",
                              target_account=account_id)

    def remove_passkeys(self, *, actor: Actor, actor_method: str | None, account_id: int,
                        session_id: int, address: str | None) -> int:
        """A lost passkey (rempart.auth.passkey_removal): its sessions end, its owner is
        told, and signs in with TOTP or a recovery code to create a new one."""
        require_operator(actor)
        removed = self._auth.passkey_removal.remove_all(
            actor=actor, actor_method=actor_method, account_id=account_id,
            session_id=session_id, address=address)
        self._record("console.passkeys_removed", actor, target_account=account_id,
                     passkeys=removed)
        return removed

    # -- API clients: the guard's account `client:<id>`, each DPoP key a session of it ----

    def client(self, *, actor: Actor, client_id: str) -> ClientFile:
        info = self._client(actor, client_id)
        alerts = self._alerts.for_account(CLIENT_PREFIX + client_id)
        standing = None
        if self.guard is not None:
            standing = self.guard.client_standing(
                client_id=client_id,
                key_thumbprints=self._auth.api_step_ups.key_thumbprints(client_id=client_id))
        keys = [] if standing is None else [
            KeyView(thumbprint=key_thumbprint(k.session_id), suspended=k.suspended,
                    with_client=k.with_client, step_up_pending=k.step_up_pending)
            for k in standing.keys]
        return ClientFile(client=info, guarded=standing is not None,
                          suspended=standing is not None and standing.suspended,
                          reasons=standing.reasons if standing is not None else (),
                          keys=keys, alerts=alerts, timeline=alert_items(alerts))

    def suspend_client(self, *, actor: Actor, client_id: str) -> None:
        info = self._client(actor, client_id)
        if self.guard is None:
            raise NotPermitted("contain an API client without the guard (revoke it)")
        self.guard.suspend_client(client_id=client_id)
        self._record("console.client_suspended", actor, target_client=client_id,
                     organisation=info.organisation_id)

    def restore_client(self, *, actor: Actor, client_id: str) -> Restoration:
        """Lift the guard's suspension of the client and of the keys refused with it
        (not the keys it suspended on their own: restore_key), close its open alerts."""
        info = self._client(actor, client_id)
        return self._restored(actor, CLIENT_PREFIX + client_id, "console.client_restored",
                              target_client=client_id, organisation=info.organisation_id)

    def restore_key(self, *, actor: Actor, client_id: str, key_thumbprint: str) -> None:
        info = self._client(actor, client_id)
        if self.guard is None or not self.guard.restore_key(client_id=client_id,
                                                            key_thumbprint=key_thumbprint):
            raise NotFound("suspended key")
        self._record("console.client_key_restored", actor, target_client=client_id,
                     organisation=info.organisation_id, key=key_thumbprint)

    # -- the operator's listed shared networks (rempart.guard.netwatch) -------------------

    def networks(self, *, actor: Actor) -> list[NetworkPanel] | None:
        """Each listed network with its open alerts; None without a guard."""
        require_operator(actor)
        if self.guard is None:
            return None
        return [NetworkPanel(view=v, cidrs=tuple(str(n) for n in v.entry.networks),
                             named=tuple(sorted(v.entry.organisations)),
                             alerts=self._alerts.open_for_network(v.entry.label))
                for v in self.guard.network_views(ts=self._clock.now().timestamp())]

    def _client(self, actor: Actor, client_id: str) -> ApiClientInfo:
        require_operator(actor)
        found = self._auth.api_clients.for_operator(actor=actor, client_id=client_id)
        if not found:
            raise NotFound("API client")
        return found[0]

    def _restored(self, actor: Actor, guard_account: int | str, event: str,
                  **target: int | str) -> Restoration:
        """What restoring an account and an API client share: the guard told, the
        account's open alerts closed, the action recorded."""
        if self.guard is not None:
            self.guard.restore_account(account_id=guard_account)
        with self._engine.begin() as conn:
            closed = self._alerts.resolve(
                conn, alert_ids=self._alerts.open_ids_for_account(conn, guard_account),
                by=actor.account_id, at=self._clock.now())
        self._record(event, actor, **target, alerts_closed=closed,
                     guard=self.guard is not None)
        return Restoration(alerts_closed=closed, guard_restored=self.guard is not None)

    def close_alert(self, *, actor: Actor, alert_id: int) -> None:
        require_operator(actor)
        if self._alerts.get(alert_id) is None:
            raise NotFound("alert")
        with self._engine.begin() as conn:
            self._alerts.resolve(conn, alert_ids=[alert_id], by=actor.account_id,
                                 at=self._clock.now())
        self._record("console.alert_closed", actor, alert=alert_id)

    def _record(self, event: str, actor: Actor, **detail: int | bool | str) -> None:
        record_operation(self._audit, event=event, account_id=actor.account_id,
                         detail={"role": actor.role.value, **detail})
