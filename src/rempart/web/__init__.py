"""The HTTP edge: create_app, middleware, error answers and the identity seam."""

from rempart.web.app import create_app
from rempart.web.identity import (
    DemoHeaderIdentity,
    IdentitySource,
    NotAuthenticated,
    ProviderIdentity,
    StaticIdentity,
)

__all__ = [
    "DemoHeaderIdentity",
    "IdentitySource",
    "NotAuthenticated",
    "ProviderIdentity",
    "StaticIdentity",
    "create_app",
]
