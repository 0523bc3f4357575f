"""Request latency by route template, observed by the edge layer: cheap on the hot path.

The route label is the matched route's template (`/api/v1/claims/{reference}`), taken
from the scope after routing: FastAPI's routes leave themselves there, plain Starlette
routes (the fast check path, health, static files) only their endpoint, which is looked
up among the router's routes. A request that matched no route is "unmatched". The raw
path never becomes a label: it can carry references and tokens, and it is unbounded.
Each (method, route, status) histogram child is looked up once and kept, so a request
costs two clock reads, one dictionary look-up and one observation.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Mount, Router
from starlette.types import Scope

from rempart.observability.metrics import HTTP_SECONDS

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteLatency:
    """Observes each answered request's latency under (method, route template, status);
    the app's edge layer (`rempart.web.edge`) calls it once per request."""

    def __init__(self, *, router: Router) -> None:
        self._router = router
        self._children: dict[tuple[str, str, int], Any] = {}
        self._by_endpoint: dict[Any, str] = {}
        self._indexed = -1  # how many routes the index was built from

    def observe(self, scope: Scope, status: int, elapsed: float) -> None:
        method = scope["method"]
        key = (method if method in _METHODS else "OTHER", self._template(scope), status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = HTTP_SECONDS.labels(key[0], key[1], str(status))
        child.observe(elapsed)

    def _template(self, scope: Scope) -> str:
        declared = _declared(scope)
        if declared is not None:
            return declared
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        if endpoint not in self._by_endpoint and len(self._router.routes) != self._indexed:
            # Rebuilt only when routes were added since: a miss costs a scan once.
            self._by_endpoint = dict(_endpoints(self._router.routes))
            self._indexed = len(self._router.routes)
        return self._by_endpoint.get(endpoint, UNMATCHED)


def route_template(scope: Scope) -> str:
    """The matched route's template, for a log line (scans the routes: not per request)."""
    declared = _declared(scope)
    if declared is not None:
        return declared
    endpoint, router = scope.get("endpoint"), scope.get("router")
    if endpoint is None or router is None:
        return UNMATCHED
    found: str = dict(_endpoints(router.routes)).get(endpoint, UNMATCHED)
    return found


def _declared(scope: Scope) -> str | None:
    """The template of a route that left itself in the scope (FastAPI's and Starlette's)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else None


def _endpoints(routes: list[BaseRoute]) -> list[tuple[Any, str]]:
    found: list[tuple[Any, str]] = []
    for route in routes:
        if isinstance(route, Mount):
            found.append((route.app, f"{route.path}/{{path}}"))
        elif (endpoint := getattr(route, "endpoint", None)) is not None:
            found.append((endpoint, str(getattr(route, "path", UNMATCHED))))
    return found
