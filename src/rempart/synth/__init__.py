"""The synthetic population: insurer and provider files as an operator receives them.

`generate_population(out=..., people=..., seed=...)` writes them, reproducibly for a
seed and in constant memory; `rempart synth` is its command-line edge.
"""

from rempart.synth.errors import SynthError
from rempart.synth.generate import generate_population
from rempart.synth.manifest import SynthFile, SynthManifest

__all__ = ["SynthError", "SynthFile", "SynthManifest", "generate_population"]
