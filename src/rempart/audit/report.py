"""The outcome of a verification: every problem found, each at a position of the chain."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    position: int
    message: str


@dataclass
class VerificationReport:
    problems: list[Problem] = field(default_factory=list)
    entries_checked: int = 0
    checkpoints_checked: int = 0
    first_position: int = 1
    last_position: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return min(self.problems) if self.problems else None

    @property
    def first_bad_position(self) -> int | None:
        first = self.first_problem
        return first.position if first else None

    def summary(self) -> str:
        first = self.first_problem
        if first is None:
            return (f"audit log intact: positions {self.first_position}..{self.last_position}, "
                    f"{self.entries_checked} entries and {self.checkpoints_checked} checkpoint "
                    "ranges recomputed, every signature valid")
        more = len(self.problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        return f"audit log FAILED verification: first bad position {first.position}: " \
               f"{first.message}{tail}"
