"""`rempart synth`: write a synthetic population as insurer files."""

from __future__ import annotations


def synth() -> None:
    """Write a synthetic population (placeholder until the synth module lands)."""
    raise NotImplementedError
