"""Wiring: every authentication service built once from the runtime, for the edges."""

from __future__ import annotations

from dataclasses import dataclass

from rempart.audit import AuditLog
from rempart.audit.security_sink import AuditSecurityEventSink
from rempart.auth.access_tokens import AccessTokens
from rempart.auth.accounts import AccountService
from rempart.auth.api_auth import ApiAuthService
from rempart.auth.api_clients import ApiClientService
from rempart.auth.api_release_notices import ApiReleaseNotices
from rempart.auth.api_step_up import ApiStepUpCodes
from rempart.auth.api_step_up_policy import ApiStepUpPolicies
from rempart.auth.blocklist import PasswordRangeSource
from rempart.auth.challenges import ChallengeStore
from rempart.auth.config import AuthSettings
from rempart.auth.devices import KnownDevices
from rempart.auth.dpop import DpopVerifier
from rempart.auth.enrolment import EnrolmentService
from rempart.auth.events import LogEventSink, SecurityEventSink
from rempart.auth.invitations import InvitationService
from rempart.auth.login import LoginService
from rempart.auth.outbox import Outbox
from rempart.auth.passkey_removal import PasskeyRemoval
from rempart.auth.passkeys import PasskeyService
from rempart.auth.passwords import PasswordHasher, PasswordPolicy
from rempart.auth.recovery import RecoveryCodes
from rempart.auth.replay_stores import build_proof_replay_cache
from rempart.auth.second_factor import SecondFactorService
from rempart.auth.session_store import DbSessionStore, SessionStore
from rempart.auth.sessions import SessionService
from rempart.auth.signing_keys import SigningKeys
from rempart.auth.throttle import LoginThrottle
from rempart.auth.throttle_storage import make_limiter
from rempart.auth.totp import TotpService
from rempart.runtime import Runtime


@dataclass
class AuthServices:
    settings: AuthSettings
    events: SecurityEventSink
    hasher: PasswordHasher
    policy: PasswordPolicy
    session_store: SessionStore
    accounts: AccountService
    invitations: InvitationService
    sessions: SessionService
    devices: KnownDevices
    outbox: Outbox
    totp: TotpService
    passkeys: PasskeyService
    recovery: RecoveryCodes
    login_throttle: LoginThrottle
    second_factor: SecondFactorService
    login: LoginService
    enrolment: EnrolmentService
    api_clients: ApiClientService
    api_auth: ApiAuthService
    # Answering the guard's step-up of an API key from the portal, and its guesses' throttle.
    api_step_ups: ApiStepUpCodes
    api_step_up_throttle: LoginThrottle
    # Each release told to the organisation's admins (the notification outbox).
    api_release_notices: ApiReleaseNotices
    # Who of an organisation may confirm those codes (its admins by default).
    api_step_up_policies: ApiStepUpPolicies
    # The way back for a lost passkey: an admin or operator removes the account's passkeys.
    passkey_removal: PasskeyRemoval

    @classmethod
    def build(cls, runtime: Runtime, *, events: SecurityEventSink | None = None,
              settings: AuthSettings | None = None,
              blocklist: PasswordRangeSource | None = None,
              session_store: SessionStore | None = None,
              accept_url: str = "/invitation/") -> AuthServices:
        cfg = settings or runtime.settings.auth
        # Every security event is an audit entry (and a log line); fail closed.
        sink = events or AuditSecurityEventSink(
            audit=AuditLog(engine=runtime.engine, clock=runtime.clock), forward_to=LogEventSink())
        engine, vault, clock = runtime.engine, runtime.vault, runtime.clock
        limiter = make_limiter(cfg.throttle_storage, clock, prefix=cfg.throttle_prefix)
        hasher = PasswordHasher(cfg)
        policy = PasswordPolicy(cfg, blocklist)
        store = session_store or DbSessionStore(engine)
        accounts = AccountService(engine=engine, vault=vault, clock=clock, hasher=hasher,
                                  policy=policy, sessions=store, events=sink)
        outbox = Outbox(engine=engine, vault=vault, clock=clock)
        sessions = SessionService(store=store, accounts=accounts, settings=cfg, clock=clock,
                                  events=sink)
        devices = KnownDevices(engine=engine, clock=clock)
        totp = TotpService(engine=engine, vault=vault, clock=clock, settings=cfg)
        challenges = ChallengeStore(engine=engine, clock=clock,
                                    lifetime_seconds=cfg.webauthn_challenge_seconds)
        passkeys = PasskeyService(engine=engine, clock=clock, settings=cfg,
                                  challenges=challenges)
        recovery = RecoveryCodes(engine=engine, clock=clock)
        login_throttle = LoginThrottle(limiter=limiter, clock=clock, settings=cfg)
        second_factor = SecondFactorService(
            sessions=sessions, accounts=accounts, totp=totp, passkeys=passkeys,
            recovery=recovery, devices=devices, outbox=outbox,
            throttle=LoginThrottle(limiter=limiter, clock=clock, settings=cfg,
                                   namespace="second-factor"),
            clock=clock, events=sink)
        login = LoginService(engine=engine, vault=vault, clock=clock, hasher=hasher,
                             max_password_length=cfg.password_max_length,
                             throttle=login_throttle, sessions=sessions, accounts=accounts,
                             devices=devices, passkeys=passkeys, second_factor=second_factor,
                             events=sink)
        enrolment = EnrolmentService(sessions=sessions, second_factor=second_factor,
                                     accounts=accounts, totp=totp, passkeys=passkeys,
                                     recovery=recovery, outbox=outbox, settings=cfg,
                                     clock=clock, events=sink)
        invitations = InvitationService(engine=engine, vault=vault, clock=clock, hasher=hasher,
                                        policy=policy, outbox=outbox, events=sink,
                                        lifetime_seconds=cfg.invitation_seconds,
                                        accept_url=accept_url)
        api_clients = ApiClientService(engine=engine, clock=clock, events=sink)
        tokens = AccessTokens(keys=SigningKeys(engine=engine, vault=vault, clock=clock),
                              clock=clock, settings=cfg)
        replay = build_proof_replay_cache(cfg, workers=runtime.settings.workers,
                                          sqlite=runtime.settings.is_sqlite, engine=engine,
                                          clock=clock)
        dpop = DpopVerifier(settings=cfg, clock=clock, replay=replay)
        api_auth = ApiAuthService(clients=api_clients, tokens=tokens, dpop=dpop, clock=clock,
                                  events=sink)
        return cls(settings=cfg, events=sink, hasher=hasher, policy=policy,
                   session_store=store, accounts=accounts, invitations=invitations,
                   sessions=sessions, devices=devices, outbox=outbox, totp=totp,
                   passkeys=passkeys, recovery=recovery, login_throttle=login_throttle,
                   second_factor=second_factor, login=login, enrolment=enrolment,
                   api_clients=api_clients, api_auth=api_auth,
                   api_step_ups=ApiStepUpCodes(engine=engine, vault=vault, clock=clock),
                   api_step_up_throttle=LoginThrottle(limiter=limiter, clock=clock,
                                                      settings=cfg, namespace="api-step-up"),
                   api_release_notices=ApiReleaseNotices(accounts=accounts, outbox=outbox),
                   api_step_up_policies=ApiStepUpPolicies(engine=engine, clock=clock,
                                                          events=sink),
                   passkey_removal=PasskeyRemoval(accounts=accounts, passkeys=passkeys,
                                                  sessions=sessions, outbox=outbox,
                                                  clock=clock, events=sink))
