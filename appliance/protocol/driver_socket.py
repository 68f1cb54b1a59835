"""The driver <-> upsd socket protocol (NUT's docs/sock-protocol.txt), sans-IO.

Both ends use :class:`LineCodec`: bytes in, tokenized messages out (through the one NUT lexer), and
:func:`format_message` to turn a message back into a line. Values are always escaped on the way out
(NUT's C drivers send broadcast SETINFO values raw; DUMPALL escapes them; we always escape).

Limits: a line may not exceed :data:`MAX_LINE` bytes; a longer one is dropped with an error event and the
codec resynchronises at the next newline, so a misbehaving peer can never grow our buffers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from appliance.nutconf.lexer import Lexer, encode

# NUT's ST_SOCK_BUF_LEN is 512; 32 words of 512 characters bound a line far above it. A line this long is
# certainly garbage.
MAX_LINE = 32 * 514 + 64

# Words that carry a free-form value and are written quoted (their position in the message).
_QUOTED_ARG = {"SETINFO": 2, "ADDENUM": 2, "DELENUM": 2, "SET": 2}

# TRACKING result codes sent by the driver (sock-protocol.txt) and what upsd answers the client.
TRACKING_RESULTS = {
    0: "SUCCESS",
    1: "ERR UNKNOWN",
    2: "ERR INVALID-ARGUMENT",
    3: "ERR FAILED",
    4: "ERR INVALID-ARGUMENT",
}
STAT_HANDLED, STAT_UNKNOWN, STAT_INVALID, STAT_FAILED, STAT_CONVERSION_FAILED = range(5)


@dataclass(frozen=True)
class ProtocolError:
    """A line that could not be used: why, and the start of the offending text (for logs)."""

    reason: str
    excerpt: str


Event = tuple[str, ...] | ProtocolError


def format_message(words: Sequence[str]) -> bytes:
    """One message as a wire line: keywords bare, free-form values quoted and escaped."""
    if not words:
        raise ValueError("empty message")
    verb = words[0].upper()
    quoted_at = _QUOTED_ARG.get(verb)
    parts: list[str] = []
    for i, word in enumerate(words):
        if i == quoted_at or (i > 0 and not _is_plain(word)):
            parts.append(f'"{encode(word)}"')
        else:
            parts.append(word)
    return (" ".join(parts) + "\n").encode("ascii", "replace")


def format_messages(messages: Iterable[Sequence[str]]) -> bytes:
    """Several messages as one buffer (one send for a whole DUMPALL)."""
    return b"".join(format_message(m) for m in messages)


_SIMPLE = re.compile(r"[ \t\r!$-<>-\[\]-~]*\n")


def _is_simple(chunk: str) -> bool:
    """True for a line the lexer would merely split on whitespace (and within NUT's word limits)."""
    return _SIMPLE.fullmatch(chunk) is not None and len(chunk) <= 512 and chunk.count(" ") + chunk.count("\t") < 32


def _is_plain(word: str) -> bool:
    return bool(word) and all(" " < c < "\x7f" and c not in '#\\"=' for c in word)


class LineCodec:
    """Incremental decoder: :meth:`receive` bytes, get messages (word tuples) or :class:`ProtocolError`."""

    def __init__(self, max_line: int = MAX_LINE, *, keep_empty: bool = False) -> None:
        self.max_line = max_line
        self.keep_empty = keep_empty
        self._lexer = Lexer(keep_empty=keep_empty)
        self._line_bytes = 0
        self._discarding = False

    @property
    def pending(self) -> bool:
        """True while part of a line is buffered (or an over-long one is being discarded)."""
        return self._discarding or self._line_bytes > 0 or self._lexer.pending

    def receive(self, data: bytes) -> list[Event]:
        """Consume bytes; return every complete message (and errors) they finish."""
        events: list[Event] = []
        text = data.decode("latin-1")
        start = 0
        while start < len(text):
            newline = text.find("\n", start)
            end = len(text) if newline < 0 else newline + 1
            chunk = text[start:end]
            start = end
            if self._discarding:
                if newline >= 0:
                    self._discarding = False
                    self._line_bytes = 0
                continue
            self._line_bytes += len(chunk)
            if self._line_bytes > self.max_line:
                events.append(ProtocolError(f"line longer than {self.max_line} bytes dropped", chunk[:60]))
                self._lexer = Lexer(keep_empty=self.keep_empty)
                self._line_bytes = 0
                self._discarding = newline < 0
                continue
            if newline >= 0 and not self._lexer.pending and _is_simple(chunk):
                # Fast path: no quote, escape, comment or '=' and only printable ASCII: the state machine would
                # give exactly the whitespace-separated words, so skip it (this is most of upsd's traffic).
                words = tuple(chunk.split())
                if words or self.keep_empty:
                    events.append(words)
                self._line_bytes = 0
                continue
            for line in self._lexer.feed(chunk):
                if line.error:
                    events.append(ProtocolError(line.error, " ".join(line.words)[:60]))
                else:
                    events.append(line.words)
            if newline >= 0:
                self._line_bytes = 0
                if self._lexer.pending:
                    # An unclosed quote (or a trailing backslash): NUT's parser would swallow the following lines
                    # into this one; on a socket a newline always ends the message.
                    events.append(ProtocolError("unclosed quote at end of line", chunk[:60]))
                    self._lexer = Lexer(keep_empty=self.keep_empty)
        return events
