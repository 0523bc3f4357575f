"""Set-up for the member-view tests: the checks population, insurers' link keys, a client
that speaks HTTPS (the member cookie is Secure) and a link signer."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from checks_support import AMC_A, AMC_B, AppClient, Person, Population
from rempart.audit import AuditLog
from rempart.member.insurer_keys import InsurerKeys
from rempart.member.links import sign_member_link
from rempart.runtime import Runtime


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@dataclass
class Insurers:
    """Insurer A's and insurer B's link keys, registered in rempart."""

    runtime: Runtime
    keys: dict[str, Ed25519PrivateKey]

    def link(self, person: Person, *, amc: str | None = None,
             key: Ed25519PrivateKey | None = None, lifetime_s: int = 300,
             now: dt.datetime | None = None, member_number: str | None = None,
             nonce: str | None = None) -> str:
        amc = amc or person.amc_number
        return sign_member_link(private_key=key or self.keys[amc], amc=amc,
                                member_number=member_number or person.member_number,
                                now=now or self.runtime.clock.now(), lifetime_s=lifetime_s,
                                nonce=nonce)


def register_insurers(runtime: Runtime) -> Insurers:
    keys = {AMC_A: Ed25519PrivateKey.generate(), AMC_B: Ed25519PrivateKey.generate()}
    with AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        registry = InsurerKeys(engine=runtime.engine, clock=runtime.clock, audit=audit)
        for amc, key in keys.items():
            registry.add(amc=amc, public_key_pem=public_pem(key))
    return Insurers(runtime=runtime, keys=keys)


class HttpsClient(AppClient):
    """AppClient over https://, so that the Secure member cookie goes back and forth."""

    def __init__(self, app: Any) -> None:
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="https://rempart.test")

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies


def provider_checks(client: AppClient, population: Population) -> dict[str, str]:
    """A covered check for Alice, a negative one for Bob (contract ended), one for Carol
    (the other insurer) and one for nobody; returns the references by name."""
    made = {}
    for name, person in (("alice", population.alice), ("bob", population.bob),
                         ("carol", population.carol), ("stranger", population.stranger)):
        response = client.post("/api/v1/checks", json=person.payload("optical"))
        assert response.status_code == 201, response.text
        made[name] = response.json()["reference"]
    return made
