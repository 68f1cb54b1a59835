"""One lexer for NUT's grammar: every config file and both wire protocols.

It follows the state machine of NUT's common/parseconf.c, character for character:

- whitespace separates words; a newline ends the logical line;
- ``"..."`` groups a word (spaces kept); ``""`` is an empty word;
- ``\\`` takes the next character literally, inside or outside quotes; a ``\\`` before a newline
  continues the logical line onto the next physical line;
- an unquoted ``#`` starts a comment (it also ends a word in progress); an unescaped ``#`` inside
  quotes is a parse error ("Unbalanced word due to unescaped # in quotes");
- ``=`` is a one-character word of its own (``a=b`` is three words), except inside quotes or after ``\\``;
- characters outside 0x20..0x7f are discarded (NUT's CVE-2012-2944 guard), tabs separate words.

NUT's limits: at most 32 words a line (later words are dropped) and 512 characters a word (the rest is
dropped). NUT drops silently; we keep its result and also say so in :attr:`Line.warning`, so a config
checker can name the place. The lexer is sans-IO: feed it text, get finished lines back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

ARG_LIMIT = 32
WORD_LIMIT = 512

_ESCAPED = '#\\"'
UNBALANCED_HASH = "Unbalanced word due to unescaped # in quotes"


class LexError(ValueError):
    """A line that NUT's parser rejects; carries the physical line number."""

    def __init__(self, message: str, lineno: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


@dataclass(frozen=True)
class Line:
    """One logical line: its words, where it started, and what went wrong, if anything."""

    words: tuple[str, ...]
    lineno: int
    error: str | None = None
    warning: str | None = None


class _State(Enum):
    FIND_WORD_START = auto()
    FIND_EOL = auto()
    QUOTE_COLLECT = auto()
    QUOTE_LITERAL = auto()
    COLLECT = auto()
    COLLECT_LITERAL = auto()


class Lexer:
    """Incremental NUT tokenizer (sans-IO): :meth:`feed` text, receive complete :class:`Line` objects.

    Empty lines (no words, no error) are returned only with ``keep_empty`` (upsd answers them).
    ``lineno`` counts physical lines and names the
    line where a logical line began.
    """

    def __init__(
        self,
        *,
        arg_limit: int = ARG_LIMIT,
        word_limit: int = WORD_LIMIT,
        first_line: int = 1,
        keep_empty: bool = False,
    ) -> None:
        self.arg_limit = arg_limit
        self.word_limit = word_limit
        self.keep_empty = keep_empty
        self._after_error = False
        self._physical = first_line
        self._reset(first_line)

    def _reset(self, lineno: int) -> None:
        self._state = _State.FIND_WORD_START
        self._words: list[str] = []
        self._word: list[str] = []
        self._start = lineno
        self._warning: str | None = None
        self._in_word = False

    @property
    def pending(self) -> bool:
        """True while a logical line has started but not ended (a partial line is buffered)."""
        return bool(self._words or self._in_word or self._state is not _State.FIND_WORD_START)

    @property
    def pending_chars(self) -> int:
        """How many characters of the unfinished line are held (for buffer limits)."""
        return sum(len(w) for w in self._words) + len(self._word)

    def feed(self, text: str) -> list[Line]:
        """Consume ``text`` and return every logical line it completed."""
        done: list[Line] = []
        for ch in text:
            line = self._step(ch)
            if line is not None and (line.words or line.error or self.keep_empty):
                done.append(line)
        return done

    def finish(self) -> Line | None:
        """End of input: tie off a last line that had no newline (NUT loses a lone final word; we don't)."""
        if self._state is _State.FIND_EOL:
            line = self._emit()
        elif self._state in (_State.QUOTE_COLLECT, _State.QUOTE_LITERAL):
            self._end_word()
            line = self._emit(error="Unbalanced word due to missing closing quote")
        else:
            if self._in_word:
                self._end_word()
            line = self._emit()
        return line if (line.words or line.error) else None

    # -- the state machine -------------------------------------------------------------------
    def _add_char(self, ch: str) -> None:
        self._in_word = True
        if not " " <= ch <= "\x7f":
            self._warn(f"discarded invalid character 0x{ord(ch):02x}")
            return
        if len(self._word) >= self.word_limit:
            self._warn(f"word longer than {self.word_limit} characters was cut")
            return
        self._word.append(ch)

    def _warn(self, message: str) -> None:
        if self._warning is None:
            self._warning = message

    def _end_word(self) -> None:
        if len(self._words) >= self.arg_limit:
            self._warn(f"more than {self.arg_limit} words: the rest were dropped")
        else:
            self._words.append("".join(self._word))
        self._word = []
        self._in_word = False

    def _emit(self, error: str | None = None) -> Line:
        line = Line(tuple(self._words), self._start, error, self._warning)
        self._reset(self._physical)
        return line

    def _step(self, ch: str) -> Line | None:
        newline = ch == "\n"
        if newline:
            self._physical += 1
        state = self._state
        if state is _State.FIND_WORD_START:
            return self._find_word_start(ch)
        if state is _State.FIND_EOL:
            if not newline:
                return None
            if self._after_error:  # the tail of a line already reported as an error is not a line of its own
                self._after_error = False
                self._reset(self._physical)
                return None
            return self._emit()
        if state is _State.QUOTE_COLLECT:
            if ch == "#":
                self._end_word()
                line = self._emit(error=UNBALANCED_HASH)
                # NUT restarts parsing right after the '#', so the tail of the line (and an opening quote
                # in it) bleeds into the next lines. We skip to the end of the physical line instead.
                if not newline:
                    self._state = _State.FIND_EOL
                    self._after_error = True
                return line
            if ch == '"':
                self._end_word()
                self._state = _State.FIND_WORD_START
            elif ch == "\\":
                self._state = _State.QUOTE_LITERAL
            else:
                self._add_char(ch)
            return None
        if state is _State.QUOTE_LITERAL:
            if not newline:
                self._add_char(ch)
            self._state = _State.QUOTE_COLLECT
            return None
        if state is _State.COLLECT:
            return self._collect(ch)
        # COLLECT_LITERAL
        if not newline:
            self._add_char(ch)
        elif not self._in_word:
            # A continuation between words. NUT makes an empty word of it here, which breaks "key = value \"
            # lines; we treat it as a pure continuation.
            self._state = _State.FIND_WORD_START
            return None
        self._state = _State.COLLECT
        return None

    def _find_word_start(self, ch: str) -> Line | None:
        if ch == "\n":
            return self._emit()
        if ch == "#":
            self._state = _State.FIND_EOL
        elif ch.isspace():
            pass
        elif ch == "\\":
            self._state = _State.COLLECT_LITERAL
        elif ch == '"':
            self._in_word = True
            self._state = _State.QUOTE_COLLECT
        else:
            self._add_char(ch)
            if ch == "=":
                self._end_word()
            else:
                self._state = _State.COLLECT
        return None

    def _collect(self, ch: str) -> Line | None:
        if ch == "#":
            self._end_word()
            self._state = _State.FIND_EOL
        elif ch == "\n":
            self._end_word()
            return self._emit()
        elif ch.isspace():
            self._end_word()
            self._state = _State.FIND_WORD_START
        elif ch == "=":
            self._end_word()
            self._add_char(ch)
            self._end_word()
            self._state = _State.FIND_WORD_START
        elif ch == "\\":
            self._state = _State.COLLECT_LITERAL
        else:
            self._add_char(ch)
        return None


def split_text(text: str, *, arg_limit: int = ARG_LIMIT, word_limit: int = WORD_LIMIT) -> list[Line]:
    """Tokenize a whole file's text into its non-empty logical lines."""
    lexer = Lexer(arg_limit=arg_limit, word_limit=word_limit)
    lines = lexer.feed(text)
    last = lexer.finish()
    if last is not None:
        lines.append(last)
    return lines


def split_words(line: str) -> list[str]:
    """Tokenize one line (no newline needed); raise :class:`LexError` where NUT reports a parse error."""
    lexer = Lexer()
    lines = lexer.feed(line if line.endswith("\n") else line + "\n")
    if lexer.pending:
        tail = lexer.finish()
        if tail is not None:
            lines.append(tail)
    words: list[str] = []
    for parsed in lines:
        if parsed.error:
            raise LexError(parsed.error, parsed.lineno)
        words.extend(parsed.words)
    return words


def encode(value: str) -> str:
    """NUT's pconf_encode: backslash-escape ``#``, ``\\`` and ``"``."""
    if not any(c in value for c in _ESCAPED):
        return value
    return "".join("\\" + c if c in _ESCAPED else c for c in value)


def quote(value: str) -> str:
    """A value as NUT writes it on the wire: encoded and wrapped in double quotes."""
    return f'"{encode(value)}"'


def join_words(*words: str) -> str:
    """Render words so :func:`split_words` gives them back: bare when safe, else quoted."""
    return " ".join(w if w and _is_bare(w) else quote(w) for w in words)


def _is_bare(word: str) -> bool:
    return not any(c.isspace() or c in '#\\"=' for c in word) and all(" " < c < "\x7f" for c in word)
