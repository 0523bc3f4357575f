"""The demo's provider account: a pharmacy of the instance, its admin, known credentials.

    login = ensure_demo_account(runtime)
    for line in login.lines(f"http://localhost:{port}"):
        print(line)

Idempotent: the organisation and the account are created once; each call gives the
account a fresh TOTP secret (already confirmed), so what is printed always works. These
are demo credentials, not personal data. The demo serves plain HTTP on localhost, so it
also needs `demo_settings` (non-Secure cookies, WebAuthn origin on its port).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from rempart.auth.events import SecurityEventSink
from rempart.auth.models import Account
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.tokens import ContactFields, login_candidates
from rempart.core.identifiers import build_siret
from rempart.providers.models import Organisation
from rempart.runtime import Runtime
from rempart.settings import Settings

DEMO_LOGIN = "demo@pharmacie.example"
DEMO_PASSWORD = "tisane comptoir vitale 42"  # noqa: S105 (printed for the demo)
DEMO_NAME = "Dominique Démo"
PHARMACY = ("pharmacy", "pharmacist")
# A SIREN body for the organisation made when the instance has no pharmacy.
DEMO_SIREN_BODY = 99_000_001


@dataclass(frozen=True, slots=True)
class DemoLogin:
    path: str
    login: str
    password: str
    totp_secret: str
    totp_uri: str
    organisation_id: int
    organisation_name: str

    def lines(self, base_url: str) -> list[str]:
        return [
            f"Portal: {base_url}{self.path}",
            f"  login {self.login}  password {self.password}",
            f"  second factor: TOTP secret {self.totp_secret} (any authenticator app), "
            "or enrol a passkey from the security page",
            f"  organisation: {self.organisation_name} (admin: invite users, register "
            "API clients)",
        ]


def demo_settings(settings: Settings, *, port: int) -> Settings:
    """Plain-HTTP loopback settings: cookies without Secure, WebAuthn on localhost:PORT."""
    origin = f"http://localhost:{port}"
    auth = dataclasses.replace(settings.auth, rp_id="localhost", origins=(origin,),
                               token_issuer=origin)
    return dataclasses.replace(settings, cookie_secure=False, auth=auth)


def ensure_demo_account(runtime: Runtime, *,
                        events: SecurityEventSink | None = None) -> DemoLogin:
    auth = AuthServices.build(runtime, events=events)
    organisation_id, organisation_name = _demo_pharmacy(runtime)
    account_id = _account_id(runtime)
    if account_id is None:
        account_id = auth.accounts.create_account(
            contact=ContactFields(DEMO_LOGIN, DEMO_NAME), password=DEMO_PASSWORD,
            role=Role.ORGANISATION_ADMIN, organisation_id=organisation_id).id
    enrolment = auth.totp.begin_enrolment(account_id=account_id, account_label=DEMO_LOGIN)
    # Confirmed with the previous time step's code, so the code shown now works at once.
    previous = runtime.clock.now().timestamp() - 30
    auth.totp.confirm_enrolment(account_id=account_id,
                                code=pyotp.TOTP(enrolment.secret).at(previous))
    return DemoLogin(path="/portal/login", login=DEMO_LOGIN, password=DEMO_PASSWORD,
                     totp_secret=enrolment.secret, totp_uri=enrolment.provisioning_uri,
                     organisation_id=organisation_id, organisation_name=organisation_name)


def _demo_pharmacy(runtime: Runtime) -> tuple[int, str]:
    with DbSession(runtime.engine) as db, db.begin():
        found = db.execute(select(Organisation.id, Organisation.name)
                           .where(Organisation.profession.in_(PHARMACY))
                           .order_by(Organisation.id).limit(1)).first()
        if found is not None:
            return int(found[0]), str(found[1])
        row = Organisation(siret=build_siret(siren_body=DEMO_SIREN_BODY, establishment=1),
                           finess=None, name="Pharmacie de démonstration",
                           profession="pharmacy", postcode="75011", departement="75")
        db.add(row)
        db.flush()
        return row.id, row.name


def demo_account_exists(runtime: Runtime) -> bool:
    """Whether the demo's account (its password is published) is in this instance."""
    return _account_id(runtime) is not None


def _account_id(runtime: Runtime) -> int | None:
    with DbSession(runtime.engine) as db:
        return db.scalar(select(Account.id).where(
            Account.login_idx.in_(login_candidates(runtime.vault, DEMO_LOGIN))))
