"""The shape shared by ups.conf and upsd.users: ``[section]`` headers and ``key = value`` lines.

This turns the lexer's lines into entries and reports the lexer's errors and warnings as diagnostics, so each
file's parser only decides what its keys mean.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from appliance.nutconf.diagnostics import ConfigError, Diagnostic, errors_only
from appliance.nutconf.lexer import Line, split_text

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Header:
    """A ``[name]`` line."""

    name: str
    line: int


@dataclass(frozen=True)
class Entry:
    """A ``key = value ...`` line (``values`` holds the words after ``=``), or a bare ``key ...`` line."""

    key: str
    values: tuple[str, ...]
    line: int
    has_equals: bool

    @property
    def value(self) -> str | None:
        """The first value, or None for a bare word."""
        return self.values[0] if self.values else None


def lexed_lines(text: str, path: str, diagnostics: list[Diagnostic]) -> Iterator[Line]:
    """The usable lines of ``text``; lines the lexer rejects, and its warnings, become diagnostics."""
    for line in split_text(text):
        if line.error:
            diagnostics.append(Diagnostic(path, line.lineno, None, f"parse error: {line.error}"))
            continue
        if line.warning:
            diagnostics.append(Diagnostic(path, line.lineno, None, line.warning, severity="warning"))
        yield line


def read_sections(text: str, path: str, diagnostics: list[Diagnostic]) -> Iterator[Header | Entry]:
    """Yield the headers and entries of ``text``, appending lexer problems to ``diagnostics``."""
    for line in lexed_lines(text, path, diagnostics):
        words = line.words
        first = words[0]
        closing = next((i for i, w in enumerate(words) if w.endswith("]")), None) if first.startswith("[") else None
        if closing is not None and len(" ".join(words[: closing + 1])) >= 2:
            # "[my ups]" lexes as two words; NUT then silently drops the header and files what follows under the
            # previous section. We keep it as one header so the parser can name the real problem.
            if closing + 1 < len(words):
                diagnostics.append(
                    Diagnostic(path, line.lineno, first, "text after a section header is ignored", severity="warning")
                )
            yield Header(" ".join(words[: closing + 1])[1:-1], line.lineno)
        elif len(words) >= 2 and words[1] == "=":
            yield Entry(first, words[2:], line.lineno, True)
        else:
            yield Entry(first, words[1:], line.lineno, False)


def load_checked(parse: Callable[[str, str], tuple[T, list[Diagnostic]]], path: str | os.PathLike[str]) -> T:
    """Read a config file and parse it; raise :class:`ConfigError` with every error, log the warnings."""
    name = str(path)
    try:
        with open(name, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError([Diagnostic(name, 0, None, f"cannot read: {exc.strerror or exc}")]) from None
    result, diagnostics = parse(text, name)
    errors = errors_only(diagnostics)
    if errors:
        raise ConfigError(errors)
    for diagnostic in diagnostics:
        log.warning("%s", diagnostic)
    return result
