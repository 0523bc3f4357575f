"""The drill's domain errors (the CLI turns them into exit codes)."""

from __future__ import annotations

from rempart.core.errors import RempartError


class DrillError(RempartError):
    """A drill that cannot run as asked: unknown scenario, bad size, non-loopback target."""
