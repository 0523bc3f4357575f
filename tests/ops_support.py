"""Helpers for the operations tests: services required or skipped, the audit signing
key, free ports, settings changed on a runtime, personal values, metrics samples."""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any, NoReturn

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rempart.audit.signing import SigningKey
from rempart.runtime import Runtime

REDIS_URL = "redis://127.0.0.1:6379/0"


def require_service(what: str, exc: Exception) -> NoReturn:
    """Fail with REMPART_REQUIRE_SERVICES=1 (CI), else skip: as conftest does."""
    message = f"{what} unavailable: {exc}"
    if os.environ.get("REMPART_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def with_signing_key(runtime: Runtime) -> Runtime:
    SigningKey.generate().save(runtime.settings.audit_signing_key)
    return runtime


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_settings(runtime: Runtime, **changes: Any) -> Runtime:
    return dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, **changes))


def with_throttle_storage(runtime: Runtime, uri: str) -> Runtime:
    auth = dataclasses.replace(runtime.settings.auth, throttle_storage=uri)
    return with_settings(runtime, auth=auth)


NAMES = ("Zorglubova", "Quentinette")  # every test person's names (checks_support)


def personal_values(population: Any) -> list[str]:
    """What must never appear in metrics or logs: identifiers, dates of birth, names."""
    people = (population.alice, population.leo, population.bob, population.carol,
              population.stranger)
    return [*NAMES, *(value for person in people for value in person.secrets())]


def sample(scrape: str, name: str, **labels: str) -> float:
    """The value of one sample in a scrape (0 when absent)."""
    for family in text_string_to_metric_families(scrape):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0
