"""Errors of the synthetic population generator."""

from __future__ import annotations

from rempart.core.errors import RempartError


class SynthError(RempartError):
    """The population cannot be generated as asked (bad arguments, output in the way, capacity)."""
