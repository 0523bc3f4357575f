"""Putting the security console into an app: its service on app.state.console and its
pages. The guard, when the app holds one (app.state.guard), is told about restores."""

from __future__ import annotations

from fastapi import FastAPI

from rempart.alerts.store import AlertStore
from rempart.audit import AuditLog
from rempart.auth.services import AuthServices
from rempart.console import breach_pages, client_pages, network_pages, pages
from rempart.console.breach import BreachRuns
from rempart.console.service import ConsoleGuard, SecurityConsole
from rempart.response.vault_directory import VaultDirectory
from rempart.runtime import Runtime

RUNS_DIR = "breach-runs"


def install_console(app: FastAPI, *, runtime: Runtime, audit: AuditLog, auth: AuthServices,
                    guard: ConsoleGuard | None = None) -> None:
    engine, clock = runtime.engine, runtime.clock
    app.state.console = SecurityConsole(engine=engine, clock=clock, auth=auth,
                                        alerts=AlertStore(engine=engine), audit=audit,
                                        guard=guard)
    app.state.breach_runs = BreachRuns(
        engine=engine, clock=clock, audit=audit, accounts=auth.accounts,
        directory_for=lambda operator: VaultDirectory(
            engine=engine, vault=runtime.vault, audit=audit,
            purpose="breach_letters_console", account_id=operator),
        root=runtime.settings.data_dir / RUNS_DIR)
    app.include_router(pages.router)
    app.include_router(client_pages.router)
    app.include_router(breach_pages.router)
    app.include_router(network_pages.router)
