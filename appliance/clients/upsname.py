"""NUT's UPS identifiers: ``upsname[@hostname[:port]]`` and ``hostname[:port]`` (also ``[v6 literal]:port``).

The rules restate NUT 2.8.0's ``upscli_splitname`` / ``upscli_splitaddr`` (clients/upsclient.c), quirks included,
because the command-line tools must accept and refuse exactly what NUT's do:

- the text is cut to 511 characters (NUT copies it into a 512-byte buffer);
- the UPS name is the first run of non-``@`` characters (leading ``@`` are skipped, like ``strtok``);
- without ``@`` the host is ``localhost`` and the port 3493;
- the host is the first run of non-``:`` characters; the port is read like ``strtol`` after the first ``:``
  (``"12abc"`` is 12) and must be within 1..65535;
- ``[...]`` encloses an IPv6 literal; anything after ``]`` that does not start with ``:`` is ignored.

A refusal raises :class:`UpsNameError`; its message is the line NUT's library prints on stderr before the tool
prints its own "invalid UPS definition" error (empty when NUT prints nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 3493
_BUFFER = 511
_STRTOL = re.compile(r"\s*([+-]?\d+)")


class UpsNameError(ValueError):
    """An identifier NUT refuses; ``str()`` is NUT's library diagnostic (may be empty)."""


@dataclass(frozen=True)
class UpsAddress:
    """Where a UPS is served: its name on the server (None for a bare ``host[:port]``), host and TCP port."""

    ups: str | None
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = f"{host}:{self.port}"
        return where if self.ups is None else f"{self.ups}@{where}"


def _strtok(text: str, delimiters: str) -> tuple[str | None, str]:
    """C's ``strtok`` on a fresh string: the first token and what follows its delimiter."""
    start = 0
    while start < len(text) and text[start] in delimiters:
        start += 1
    if start == len(text):
        return None, ""
    end = start
    while end < len(text) and text[end] not in delimiters:
        end += 1
    return text[start:end], text[end + 1 :]


def _port(text: str) -> int:
    match = _STRTOL.match(text)
    number = int(match.group(1)) if match else 0
    if not text or not 1 <= number <= 65535:
        raise UpsNameError("upscli_splitaddr: no port specified after ':' separator")
    return number


def _buffered(text: str | None, function: str) -> str:
    """The text as NUT's 512-byte copy holds it; no text or an empty one is refused like NUT does."""
    if text is None:
        raise UpsNameError("")
    if not text:
        raise UpsNameError(f"{function}: can't parse empty string")
    return text[:_BUFFER]


def _split_first(text: str, separator: str, function: str) -> tuple[str, str | None]:
    """NUT's pattern: the first token (strtok) and everything after the *first* separator (strchr), if any."""
    token, _ = _strtok(text, separator)
    if token is None:
        # NUT crashes on a text made only of separators; we refuse it.
        raise UpsNameError(f"{function}: can't parse empty string")
    at = text.find(separator)
    return token, None if at < 0 else text[at + 1 :]


def split_address(text: str | None) -> UpsAddress:
    """Parse ``hostname[:port]`` or ``[ipv6]:port`` (NUT's ``upscli_splitaddr``)."""
    text = _buffered(text, "upscli_splitaddr")
    if text.startswith("["):
        if "]" not in text:
            raise UpsNameError("upscli_splitaddr: missing closing bracket in [domain literal]")
        host, rest = _strtok(text[1:], "]")
        if host is None:
            # NUT dereferences a null token here and crashes; we refuse the empty literal.
            raise UpsNameError("upscli_splitaddr: can't parse empty string")
        if not rest.startswith(":"):
            return UpsAddress(None, host, DEFAULT_PORT)
        return UpsAddress(None, host, _port(rest[1:]))
    host, port = _split_first(text, ":", "upscli_splitaddr")
    return UpsAddress(None, host, DEFAULT_PORT if port is None else _port(port))


def split_name(text: str | None) -> UpsAddress:
    """Parse ``upsname[@hostname[:port]]`` (NUT's ``upscli_splitname``)."""
    text = _buffered(text, "upscli_splitname")
    ups, where = _split_first(text, "@", "upscli_splitname")
    if where is None:
        return UpsAddress(ups, DEFAULT_HOST, DEFAULT_PORT)
    address = split_address(where)
    return UpsAddress(ups, address.host, address.port)
