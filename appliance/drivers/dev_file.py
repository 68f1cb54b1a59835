"""dummy-ups definition files (``.dev`` dumps and ``.seq`` sequences), parsed purely: text in, entries out.

The format is an ``upsc`` dump read with NUT's lexer, one physical line at a time::

    ups.status: OB LB           # a variable (the ':' after the name is optional, as in NUT)
    TIMER 60                    # wait 60 s before going on (sequences)
    #RW:input.transfer.low:ENUM:"170"      # nut-ddl annotations: writable variables ...
    #RW:ups.delay.shutdown:RANGE:"0" "600"
    #RW:ups.id:STRING:8
    #CMD:shutdown.return                   # ... and instant commands
    # DEVICE:COMMENT:                      # comment blocks, closed by '# <subject>:EOC'
    # ...
    # DEVICE:EOC

NUT's dummy-ups lexes the whole file as one stream, so an unbalanced quote swallows the following lines (the
Exide NetUPS dump in the DDL loses 14 variables that way). We lex each physical line on its own: a bad line is
reported with its file and line and the rest of the file is kept.

:func:`parse_dev_file` returns a :class:`DevFile`; :class:`Sequence` replays its entries against an injected
clock (``TIMER`` lines pause it), once or in a loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.nutconf.diagnostics import Diagnostic
from appliance.nutconf.lexer import Line, split_text

# NUT's dummy-ups builds each value in a 128-byte buffer: longer values are cut to 127 characters.
MAX_VALUE = 127
DEFAULT_STRING_AUX = 32
# The lexer's error for a quote still open at the end of the line; a dump line keeps its words in that case.
MISSING_QUOTE = "Unbalanced word due to missing closing quote"

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_ANNOTATION = re.compile(r"#(?P<kind>RW|CMD):(?P<name>[^:\s#]*)(?P<rest>.*)\Z", re.DOTALL)
_RW_TYPE = re.compile(r":(?P<type>[A-Za-z]+)(?P<rest>.*)\Z", re.DOTALL)
_BLOCK = re.compile(r"#\s*(?P<subject>[A-Za-z0-9_.-]+):(?P<tag>COMMENT-BLOCK|COMMENT|EOC)\b")


@dataclass(frozen=True)
class Assignment:
    """``name: words...``: set a variable."""

    name: str
    words: tuple[str, ...]
    line: int

    @property
    def value(self) -> str:
        """The value as dummy-ups stores it: the words joined by single spaces, cut to :data:`MAX_VALUE`."""
        return " ".join(self.words)[:MAX_VALUE]


@dataclass(frozen=True)
class Timer:
    """``TIMER n``: pause the sequence for ``seconds``."""

    seconds: int
    line: int


Entry = Assignment | Timer


@dataclass
class Writable:
    """What ``#RW:`` annotations declare about one variable."""

    name: str
    aux: int | None = None
    enums: list[str] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class DevFile:
    """A parsed definition file: the entries in order, the annotations, and what was wrong with it."""

    path: str
    entries: list[Entry] = field(default_factory=list)
    writable: dict[str, Writable] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics of severity ``error`` (lines that were skipped)."""
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def has_timers(self) -> bool:
        """True when the file is a timed sequence."""
        return any(isinstance(e, Timer) for e in self.entries)


class _Parser:
    """One pass over a file's text; collects entries, annotations and diagnostics."""

    def __init__(self, path: str) -> None:
        self.result = DevFile(path)
        self._block: tuple[str, int] | None = None  # (subject, line) of the open comment block

    def report(self, line: int, message: str, key: str | None = None, severity: str = "error") -> None:
        self.result.diagnostics.append(Diagnostic(self.result.path, line, key, message, severity=severity))

    def parse(self, text: str) -> DevFile:
        for lineno, raw in enumerate(text.split("\n"), start=1):
            self._line(lineno, raw)
        if self._block is not None:
            subject, opened = self._block
            self.report(opened, f"comment block '{subject}' is never closed ('# {subject}:EOC')", severity="warning")
        return self.result

    def _line(self, lineno: int, raw: str) -> None:
        stripped = raw.strip()
        if stripped.startswith("#"):
            self._comment(lineno, stripped)
            return
        lines = split_text(raw)
        for parsed in lines:
            self._statement(lineno, parsed)

    # -- comments: annotations and blocks -----------------------------------------------------
    def _comment(self, lineno: int, text: str) -> None:
        annotation = _ANNOTATION.match(text)
        if annotation:
            self._annotation(lineno, annotation)
            return
        block = _BLOCK.match(text)
        if block is None:
            return
        subject, tag = block["subject"], block["tag"]
        if tag == "EOC":
            if self._block is None:
                self.report(lineno, f"'{subject}:EOC' closes no open comment block", severity="warning")
            elif self._block[0] != subject:
                self.report(
                    lineno,
                    f"'{subject}:EOC' closes the block '{self._block[0]}' opened at line {self._block[1]}",
                    severity="warning",
                )
            self._block = None
            return
        if self._block is not None:
            self.report(
                lineno,
                f"comment block '{self._block[0]}' opened at line {self._block[1]} is not closed before this one",
                severity="warning",
            )
        self._block = (subject, lineno)

    def _annotation(self, lineno: int, match: re.Match[str]) -> None:
        kind, name, rest = match["kind"], match["name"], match["rest"]
        if not _NAME.match(name):
            self.report(lineno, f"#{kind}: needs a valid name, got {name!r}", key=name or None)
            return
        if kind == "CMD":
            if _words(rest) != []:
                self.report(lineno, f"unexpected text after #CMD:{name}", key=name)
            elif name.lower() not in (c.lower() for c in self.result.commands):
                self.result.commands.append(name)
            return
        typed = _RW_TYPE.match(rest)
        if typed is None:
            self.report(lineno, f"#RW:{name} needs a type (STRING, ENUM or RANGE)", key=name)
            return
        kind_word = typed["type"].upper()
        args_text = typed["rest"]
        if args_text and not args_text.startswith(":"):
            if _words(args_text) != []:
                self.report(lineno, f"unexpected text after #RW:{name}:{typed['type']}", key=name)
                return
            args_text = ""
        args = _words(args_text[1:])
        if args is None:
            self.report(lineno, f"unreadable arguments in #RW:{name}:{kind_word}", key=name)
            return
        writable = self.result.writable.setdefault(name.lower(), Writable(name))
        if kind_word == "STRING":
            self._string(lineno, writable, args)
        elif kind_word == "ENUM":
            if len(args) != 1:
                self.report(lineno, f'#RW:{name}:ENUM takes one quoted value, e.g. ENUM:"230"', key=name)
            elif args[0] not in writable.enums:
                writable.enums.append(args[0])
        elif kind_word == "RANGE":
            self._range(lineno, writable, args)
        else:
            self.report(lineno, f"#RW:{name}: unknown type {typed['type']!r} (STRING, ENUM or RANGE)", key=name)

    def _string(self, lineno: int, writable: Writable, args: list[str]) -> None:
        if not args:
            writable.aux = writable.aux or DEFAULT_STRING_AUX
            return
        if len(args) == 1 and args[0].isdigit() and int(args[0]) > 0:
            writable.aux = int(args[0])
            return
        self.report(
            lineno, f"#RW:{writable.name}:STRING takes a positive length, got {' '.join(args)!r}", writable.name
        )

    def _range(self, lineno: int, writable: Writable, args: list[str]) -> None:
        try:
            low, high = (int(a) for a in args)
        except ValueError:
            self.report(lineno, f'#RW:{writable.name}:RANGE takes two integers, e.g. RANGE:"0" "600"', writable.name)
            return
        if low > high:
            self.report(lineno, f"#RW:{writable.name}:RANGE minimum {low} is above maximum {high}", writable.name)
        elif (low, high) not in writable.ranges:
            writable.ranges.append((low, high))

    # -- statements: variables and TIMER ----------------------------------------------------------
    def _statement(self, lineno: int, parsed: Line) -> None:
        if parsed.error == MISSING_QUOTE:
            self.report(lineno, "missing closing quote: value taken to the end of the line", severity="warning")
        elif parsed.error:
            self.report(lineno, f"{parsed.error}; line skipped")
            return
        if parsed.warning:
            self.report(lineno, parsed.warning, severity="warning")
        words = parsed.words
        if words[0] == "TIMER":
            self._timer(lineno, words)
            return
        name = words[0]
        if name.endswith(":"):
            name = name[:-1]
        elif len(words) > 1 and words[1] == ":":
            words = words[:1] + words[2:]
        if not _NAME.match(name):
            shown = name if len(name) <= 40 else name[:40] + "..."
            self.report(lineno, f"not a variable line: {shown!r} is not a variable name; line skipped")
            return
        value = " ".join(words[1:])
        if len(value) > MAX_VALUE:
            self.report(lineno, f"value longer than {MAX_VALUE} characters was cut (as NUT does)", name, "warning")
        self.result.entries.append(Assignment(name, tuple(words[1:]), lineno))

    def _timer(self, lineno: int, words: tuple[str, ...]) -> None:
        if len(words) != 2 or not words[1].isdigit():
            self.report(lineno, "TIMER takes one whole number of seconds, e.g. 'TIMER 60'; line skipped", "TIMER")
            return
        self.result.entries.append(Timer(int(words[1]), lineno))


def is_variable_name(name: str) -> bool:
    """True for a NUT variable or command name (letters, digits, '_', '.', '-')."""
    return bool(_NAME.match(name))


def _words(text: str) -> list[str] | None:
    """The lexer's words of ``text`` (a trailing ``# comment`` dropped), or None when it cannot be read."""
    words: list[str] = []
    for parsed in split_text(text):
        if parsed.error:
            return None
        words.extend(parsed.words)
    return words


def parse_dev_file(text: str, path: str = "dummy.dev") -> DevFile:
    """Parse a definition file's text; never raises: bad lines become diagnostics naming ``path`` and the line."""
    return _Parser(path).parse(text)


def decode(data: bytes) -> str:
    """File bytes as text for :func:`parse_dev_file` (bytes above 0x7f survive to be reported, never crash)."""
    return data.decode("latin-1")


class Sequence:
    """Replays a :class:`DevFile`'s entries against a clock, as dummy-ups does.

    Each :meth:`due` call yields the assignments from the current position up to the next ``TIMER`` (which
    pauses the sequence for its seconds, counted from that call) or the end of the file. At the end, a looping
    sequence starts again at the top on the next call; a one-shot one is :attr:`finished`.
    """

    def __init__(self, entries: list[Entry], *, loop: bool, clock: Callable[[], float]) -> None:
        self._entries = entries
        self._loop = loop
        self._clock = clock
        self._position = 0
        self.resume_at: float | None = None
        self.finished = False

    def due(self) -> list[Assignment]:
        """The assignments to apply now (none while paused or finished)."""
        now = self._clock()
        if self.finished or (self.resume_at is not None and now < self.resume_at):
            return []
        self.resume_at = None
        batch: list[Assignment] = []
        while self._position < len(self._entries):
            entry = self._entries[self._position]
            self._position += 1
            if isinstance(entry, Timer):
                self.resume_at = now + entry.seconds
                return batch
            batch.append(entry)
        self._position = 0
        self.finished = not self._loop
        return batch

    def seconds_to_next(self) -> float | None:
        """How long until :meth:`due` has something again (None: nothing scheduled)."""
        if self.finished or self.resume_at is None:
            return None
        return max(0.0, self.resume_at - self._clock())
