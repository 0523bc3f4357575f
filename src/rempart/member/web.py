"""Wiring the member area into the app: one call from create_app."""

from __future__ import annotations

from fastapi import FastAPI

from rempart.audit import AuditLog
from rempart.auth.replay import DbReplayCache
from rempart.auth.throttle_storage import make_limiter
from rempart.member import api, pages
from rempart.member.history import MemberHistory
from rempart.member.insurer_keys import InsurerKeys
from rempart.member.links import MemberLinkVerifier
from rempart.member.service import MemberArea
from rempart.member.sessions import MemberSessions
from rempart.member.throttle import MemberThrottle
from rempart.runtime import Runtime


def build_member_area(runtime: Runtime, *, audit: AuditLog,
                      throttle: MemberThrottle | None = None) -> MemberArea:
    engine, clock = runtime.engine, runtime.clock
    keys = InsurerKeys(engine=engine, clock=clock, audit=audit)
    verifier = MemberLinkVerifier(keys=keys, replay=DbReplayCache(engine=engine, clock=clock),
                                  clock=clock)
    return MemberArea(engine=engine, vault=runtime.vault, clock=clock, audit=audit,
                      verifier=verifier, sessions=MemberSessions(engine=engine, clock=clock),
                      history=MemberHistory(engine=engine, clock=clock, audit=audit),
                      throttle=throttle or default_throttle(runtime))


def default_throttle(runtime: Runtime) -> MemberThrottle:
    """On the login throttle's storage: memory on one machine, Redis when configured."""
    auth = runtime.settings.auth
    return MemberThrottle(limiter=make_limiter(auth.throttle_storage, runtime.clock,
                                               prefix=auth.throttle_prefix),
                          clock=runtime.clock)


def install_member_area(app: FastAPI, runtime: Runtime, *, audit: AuditLog) -> None:
    """The member pages (/moi/) and API (/api/v1/me/), served by one MemberArea."""
    app.state.member_area = build_member_area(runtime, audit=audit)
    app.state.member_cookie_secure = runtime.settings.cookie_secure
    app.include_router(pages.router)
    app.include_router(api.router)
