"""Import errors: what was wrong, where (file, line, field), never the offending value."""

from __future__ import annotations

from dataclasses import dataclass, field

from rempart.core.errors import RempartError

MAX_REPORTED = 20  # problems listed in full; the rest are counted


class ImportFailed(RempartError):
    """Base of import errors."""


class FieldError(ValueError):
    """A single field failed validation; `reason` never quotes the value."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # 1-based line in the file; 0 when the problem concerns the whole file
    field: str  # column name, or "" for a whole line or file
    reason: str

    def describe(self, file_name: str) -> str:
        where = f"{file_name}:{self.line}" if self.line else file_name
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


@dataclass
class Problems:
    """Every problem found in one file; the first MAX_REPORTED are kept in full."""

    file_name: str
    kept: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, line: int, field_name: str, reason: str) -> None:
        self.total += 1
        if len(self.kept) < MAX_REPORTED:
            self.kept.append(Problem(line, field_name, reason))

    def extend(self, problems: list[Problem], total: int) -> None:
        """Add the problems another collector found (a worker's, for one chunk)."""
        room = MAX_REPORTED - len(self.kept)
        self.kept.extend(problems[:max(room, 0)])
        self.total += total

    def __bool__(self) -> bool:
        return self.total > 0

    def lines(self) -> list[str]:
        described = [p.describe(self.file_name) for p in self.kept]
        if self.total > len(self.kept):
            described.append(f"... and {self.total - len(self.kept)} more")
        return described


class FileRejected(ImportFailed):
    """A file had bad rows or bad framing; nothing of it was applied."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        count = problems.total
        super().__init__(
            f"{problems.file_name}: rejected, {count} problem{'s' if count != 1 else ''}, "
            "nothing applied:\n  " + "\n  ".join(problems.lines())
        )


class KeyringMismatch(ImportFailed):
    """The keyring cannot open rows already stored: the wrong key file was given."""


class RotationInProgress(ImportFailed):
    """Rows are still sealed under an older key version; imports wait for the rotation."""


class NothingToImport(ImportFailed):
    """A path named no importable file."""
