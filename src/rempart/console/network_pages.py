"""The security console's page about the operator's listed shared networks, for
operators:

    GET  /portal/console/networks    each listed network: its entry (label, CIDRs, named
                                     organisations), whether the guard is still learning
                                     it, the organisations seen checking through it in the
                                     last 24 h with their checks, and its open alerts

Organisations are internal ids; nothing about a person, no client address. The list
itself is a start-up setting (REMPART_GUARD_SHARED_NETWORKS): the page shows it and
does not change it (docs/guard.md, "Shared networks"). Its alerts are closed with the
alerts page's form, as any other.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from rempart.console.pages import Operator, console_of, page

router = APIRouter(prefix="/portal/console/networks", include_in_schema=False)


@router.get("")
def networks_page(request: Request, user: Operator) -> Response:
    networks = console_of(request).networks(actor=user.actor)
    return page(request, user, "console_networks.html", networks=networks)
