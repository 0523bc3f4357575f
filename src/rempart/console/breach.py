"""Breach response from the security console: the same scope and documents as
`rempart breach scope` and `rempart breach report`, run by an operator from a page.

    run = runs.run(actor=..., accounts=[12], organisations=[3], since=..., until=...)
    run.counts                      per insurer and per field: safe to show
    runs.file(actor=..., run_id=run.run_id, name="report/article33.fr.md")

Each run writes <root>/<run id>/scope/ (scope.json, scope.csv) and <root>/<run id>/report/
(article 33 draft, article 34 letters, mail-merge CSVs, MANIFEST.json), owner-only, with
`rempart.response`'s own code. Organisations are expanded to their accounts. Bad input
(no account, no lower bound, an inverted window) raises InvalidScope before anything is
read or written. The run and each file handed out are audit entries naming the operator.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import Engine

from rempart.audit import AuditLog
from rempart.audit.security_sink import record_operation
from rempart.auth.accounts import AccountService
from rempart.auth.roles import Actor
from rempart.clock import Clock
from rempart.console.service import require_operator
from rempart.response import (
    BreachReporter,
    ContactPoint,
    InvalidScope,
    PersonDirectory,
    ScopeCounts,
    Selector,
    Window,
)
from rempart.response.article33 import Deadline
from rempart.response.output import MANIFEST
from rempart.response.scoping import CSV_NAME, JSON_NAME, BreachScoper

RUN_ID = re.compile(r"[0-9a-f]{16}")
MAX_MEASURES = 10


class UnknownRunFile(InvalidScope):
    def __init__(self) -> None:
        super().__init__("file", "no such file in this run")


@dataclass(frozen=True, slots=True)
class BreachRun:
    run_id: str
    counts: ScopeCounts
    deadline: Deadline
    files: tuple[str, ...]  # relative to the run directory
    to_complete: tuple[str, ...]


class BreachRuns:
    def __init__(self, *, engine: Engine, clock: Clock, audit: AuditLog,
                 accounts: AccountService, directory_for: Callable[[int], PersonDirectory],
                 root: Path) -> None:
        """`directory_for(operator account id)` opens the persons' names for the letters,
        each person opened audited in that operator's name."""
        self._clock = clock
        self._audit = audit
        self._accounts = accounts
        self._scoper = BreachScoper(engine=engine, clock=clock, audit=audit)
        self._directory_for = directory_for
        self._root = root

    def run(self, *, actor: Actor, accounts: Sequence[int], organisations: Sequence[int],
            since: dt.datetime | None, until: dt.datetime | None,
            detected_at: dt.datetime | None = None, contact: ContactPoint | None = None,
            measures: Sequence[str] = ()) -> BreachRun:
        require_operator(actor)
        if since is None:
            raise InvalidScope("since", "is required: a scope without a lower bound would "
                                        "read the whole log")
        window = Window(since=since, until=until or self._clock.now())
        selector = Selector(accounts=(*accounts, *self._members(organisations)))
        scope = self._scoper.compute(selector=selector, window=window, detected_at=detected_at)
        run_id = secrets.token_hex(8)
        out = self._root / run_id
        self._scoper.export(scope=scope, out=out / "scope", account_id=actor.account_id)
        reporter = BreachReporter(directory=self._directory_for(actor.account_id),
                                  clock=self._clock)
        summary = reporter.write_report(scope=scope, out=out / "report",
                                              contact=contact or ContactPoint(),
                                              measures=tuple(measures)[:MAX_MEASURES])
        files = (f"scope/{JSON_NAME}", f"scope/{CSV_NAME}", *self._report_files(out))
        record_operation(self._audit, event="console.breach_run", account_id=actor.account_id,
                         detail={"role": actor.role.value, "run": run_id,
                                 "persons": scope.counts.persons,
                                 "accounts": len(selector.accounts),
                                 "organisations": len(set(organisations)),
                                 "files": len(files)})
        return BreachRun(run_id=run_id, counts=scope.counts, deadline=summary.deadline,
                         files=files, to_complete=summary.to_complete)

    def file(self, *, actor: Actor, run_id: str, name: str) -> Path:
        """A file of a run, by the name the run listed; the hand-over is audited."""
        require_operator(actor)
        if not RUN_ID.fullmatch(run_id):
            raise UnknownRunFile
        out = self._root / run_id
        listed = {f"scope/{JSON_NAME}", f"scope/{CSV_NAME}", *self._report_files(out)}
        if name not in listed or not (out / name).is_file():
            raise UnknownRunFile
        record_operation(self._audit, event="console.breach_file", account_id=actor.account_id,
                         detail={"role": actor.role.value, "run": run_id, "file": name[:120]})
        return out / name

    def _members(self, organisations: Sequence[int]) -> list[int]:
        members: list[int] = []
        for organisation in sorted(set(organisations)):
            found = [view.id for view in self._accounts.in_organisation(organisation)]
            if not found:
                raise InvalidScope("organisations", f"organisation {organisation} has no "
                                                    "account")
            members += found
        return members

    @staticmethod
    def _report_files(out: Path) -> list[str]:
        manifest = out / "report" / MANIFEST
        if not manifest.is_file():
            return []
        listed = orjson.loads(manifest.read_bytes())["files"]
        return [f"report/{entry['path']}" for entry in listed] + [f"report/{MANIFEST}"]
