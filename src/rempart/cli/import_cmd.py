"""`rempart import`: load insurer and provider files."""

from __future__ import annotations


def import_files() -> None:
    """Import files (placeholder until the ingest module lands)."""
    raise NotImplementedError
