"""Copies of the checkpoints kept where a database administrator cannot reach them.

A checkpoint file is JSON lines, one signed checkpoint per line in number order
(`Checkpoint.to_json`). Exporting appends only the checkpoints the file lacks, after
checking that what it holds agrees with the database. A webhook receives the same
records as one JSON document per POST and must answer 2xx; it is retried with backoff.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import Engine

from rempart.audit.chain import check_sequence
from rempart.audit.errors import AuditFileError, ExportConflict, WebhookFailed
from rempart.audit.report import Problem
from rempart.audit.signing import TrustedKeys
from rempart.audit.statements import CHECKPOINT_FORMAT, Checkpoint
from rempart.audit.store import read_checkpoints, require_schema

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def read_checkpoint_file(path: Path, trusted: TrustedKeys | None = None) -> list[Checkpoint]:
    """Every checkpoint of an exported file; a clear error for anything unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AuditFileError(f"checkpoint file {path} does not exist") from None
    except OSError as exc:
        raise AuditFileError(f"checkpoint file {path} cannot be read ({exc.strerror})") from None
    checkpoints: list[Checkpoint] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            checkpoint = Checkpoint.from_json(orjson.loads(line))
        except orjson.JSONDecodeError:
            raise AuditFileError(f"checkpoint file {path} line {number}: not valid JSON") from None
        except ValueError as exc:
            raise AuditFileError(f"checkpoint file {path} line {number}: {exc}") from None
        if checkpoints and checkpoint.number != checkpoints[-1].number + 1:
            raise AuditFileError(f"checkpoint file {path} line {number}: checkpoint "
                                 f"{checkpoint.number} follows {checkpoints[-1].number}")
        if trusted is not None:
            reason = trusted.problem_with(checkpoint.key_id, checkpoint.statement(),
                                          checkpoint.signature)
            if reason:
                raise AuditFileError(f"checkpoint file {path} line {number}: checkpoint "
                                     f"{checkpoint.number} {reason}")
        checkpoints.append(checkpoint)
    return checkpoints


def export_to_file(path: Path, checkpoints: Sequence[Checkpoint]) -> int:
    """Append the checkpoints the file lacks; return how many were added."""
    held = read_checkpoint_file(path) if path.exists() else []
    stored = {cp.number: cp for cp in checkpoints}
    for copy in held:
        if stored.get(copy.number) != copy:
            raise ExportConflict(f"checkpoint {copy.number} in {path} disagrees with the "
                                 "database (or is missing from it); run `rempart audit verify "
                                 f"--against {path}`")
    last = held[-1].number if held else 0
    new = [cp for cp in sorted(checkpoints, key=lambda c: c.number) if cp.number > last]
    if not new:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    with os.fdopen(fd, "ab") as handle:
        handle.write(b"".join(orjson.dumps(cp.to_json()) + b"\n" for cp in new))
        handle.flush()
        os.fsync(handle.fileno())
    return len(new)


class WebhookExporter:
    """POSTs checkpoints to a URL, retrying transient failures with exponential backoff."""

    def __init__(self, *, url: str, transport: httpx.BaseTransport | None = None,
                 attempts: int = 5, backoff_s: float = 0.5, timeout_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise WebhookFailed("the checkpoint webhook needs an http(s) URL")
        self._url = url
        self._where = parts.hostname  # never the path or query: they may carry a token
        self._transport = transport
        self._attempts = max(1, attempts)
        self._backoff = backoff_s
        self._timeout = timeout_s
        self._sleep = sleep

    def send(self, checkpoints: Sequence[Checkpoint]) -> None:
        if not checkpoints:
            return
        body = orjson.dumps({"format": CHECKPOINT_FORMAT,
                             "checkpoints": [cp.to_json() for cp in checkpoints]})
        headers = {"content-type": "application/json"}
        last_failure = ""
        with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
            for attempt in range(self._attempts):
                if attempt:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
                try:
                    response = client.post(self._url, content=body, headers=headers)
                except httpx.TransportError as exc:
                    last_failure = type(exc).__name__
                    continue
                if response.is_success:
                    return
                last_failure = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    break
        raise WebhookFailed(f"checkpoint webhook at {self._where} refused the checkpoints "
                            f"({last_failure})")


def stored_checkpoints(engine: Engine, trusted: TrustedKeys) -> list[Checkpoint]:
    """The database's checkpoints, refusing to copy out any that do not verify."""
    require_schema(engine)
    with engine.connect() as conn:
        checkpoints, broken = read_checkpoints(conn)
    valid, problems = check_sequence(checkpoints, trusted)
    problems += [Problem(position, message) for position, message in broken]
    if problems:
        first = min(problems)
        raise ExportConflict(f"the database's checkpoints do not verify (first bad position "
                             f"{first.position}: {first.message}); run `rempart audit verify`")
    return valid
