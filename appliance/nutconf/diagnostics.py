"""Errors for people: every config problem names its file, line and key, and suggests the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a config file."""

    path: str
    line: int
    key: str | None
    message: str
    hint: str | None = None
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        """True for errors (a daemon refuses to start), False for warnings."""
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        key = f" {self.key}:" if self.key else ""
        hint = f" ({self.hint})" if self.hint else ""
        level = "" if self.is_error else " warning:"
        return f"{where}:{level}{key} {self.message}{hint}"


class ConfigError(Exception):
    """Raised by the ``load_*`` functions: carries every error found, not just the first."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean" hint for a misspelt ``word``, or None when nothing is close."""
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.7)
    return f"did you mean '{lowered[match[0]]}'?" if match else None


def errors_only(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics that are errors."""
    return [d for d in diagnostics if d.is_error]
