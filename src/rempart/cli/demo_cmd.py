"""`rempart demo`: a local instance over a synthetic population."""

from __future__ import annotations


def demo() -> None:
    """Build and show a local instance (placeholder)."""
    raise NotImplementedError
