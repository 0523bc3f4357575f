"""The benchmarks' domain errors: what the CLI reports as one line and a non-zero exit."""

from __future__ import annotations

from rempart.core.errors import RempartError


class BenchError(RempartError):
    """A benchmark could not run or could not be measured."""
