"""A client for NUT's network protocol (docs/net-protocol.txt): one protocol core, two thin transports.

The core is sans-IO: every operation is a *conversation*, a generator that yields the bytes of a request to send
or ``None`` to ask for the next reply line, receives that line, and finally returns the operation's result. All
protocol knowledge (request rendering through the shared NUT lexer, ``BEGIN LIST``/``END LIST`` framing, reply
checks, ``ERR <TOKEN>`` mapping) lives there and is tested without sockets. :class:`NutClient` runs conversations
over a blocking socket (the command-line tools), :class:`AsyncNutClient` over asyncio streams (the monitor, the
MQTT bridge); both expose the same methods (in the async client each returns an awaitable of the same result).

Errors are :class:`NutError`; ``str(error)`` is the text NUT's upsclient library gives for the same failure
(``Unknown UPS``, ``Driver not connected``, ``Connection failure: Connection refused``...), so a tool can print
``Error: {error}`` exactly like NUT's. Replies are bounded: a line may not exceed :data:`MAX_LINE` bytes and a list
may not exceed :data:`MAX_LIST_ITEMS` entries, so a misbehaving server cannot grow our memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import ssl
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from appliance.clients.upsname import DEFAULT_PORT
from appliance.nutconf.lexer import LexError, join_words, split_words

logger = logging.getLogger(__name__)

MAX_LINE = 8192
MAX_LIST_ITEMS = 65536
DEFAULT_TIMEOUT = 5.0  # NUT's DEFAULT_NETWORK_TIMEOUT, seconds

# upsd's ERR tokens and the text upsclient gives for each, in NUT's lookup order (NUT matches by prefix).
ERROR_MESSAGES: dict[str, str] = {
    "VAR-NOT-SUPPORTED": "Variable not supported by UPS",
    "UNKNOWN-UPS": "Unknown UPS",
    "ACCESS-DENIED": "Access denied",
    "PASSWORD-REQUIRED": "Password required",
    "PASSWORD-INCORRECT": "Password incorrect",
    "MISSING-ARGUMENT": "Missing argument",
    "DATA-STALE": "Data stale",
    "VAR-UNKNOWN": "Variable unknown",
    "ALREADY-LOGGED-IN": "Already logged in",
    "ALREADY-SET-PASSWORD": "Already set password",
    "UNKNOWN-TYPE": "Unknown variable type",
    "UNKNOWN-VAR": "Unknown variable",
    "READONLY": "Read-only variable",
    "TOO-LONG": "New value is too long",
    "INVALID-VALUE": "Invalid value for variable",
    "SET-FAILED": "Set command failed",
    "UNKNOWN-INSTCMD": "Unknown instant command",
    "INSTCMD-FAILED": "Instant command failed",
    "CMD-NOT-SUPPORTED": "Instant command not supported",
    "INVALID-USERNAME": "Invalid username",
    "ALREADY-SET-USERNAME": "Already set username",
    "UNKNOWN-COMMAND": "Unknown command",
    "INVALID-PASSWORD": "Invalid password",
    "USERNAME-REQUIRED": "Username required",
    "DRIVER-NOT-CONNECTED": "Driver not connected",
}
UNKNOWN_ERROR = "Unknown error"
PROTOCOL_ERROR = "Protocol error"
SERVER_DISCONNECTED = "Server disconnected"
NO_SUCH_HOST = "No such host"

T = TypeVar("T")
# A conversation yields request bytes to send, or None to receive the next reply line; it returns its result.
Conversation = Generator[bytes | None, str | None, T]


class NutError(Exception):
    """A failed NUT operation; ``str()`` is upsclient's text for it.

    ``token`` is upsd's ``ERR`` token when the server refused (``UNKNOWN-UPS``...), else None; ``line`` is the
    server's reply line when there was one (the tools print it verbatim in some messages).
    """

    def __init__(self, message: str, token: str | None = None, line: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.token = token
        self.line = line


class NutTimeoutError(NutError):
    """No reply within the timeout (upsclient reports this as a server disconnection)."""

    def __init__(self) -> None:
        super().__init__(SERVER_DISCONNECTED)


def error_from_reply(line: str) -> NutError | None:
    """The error an ``ERR ...`` reply line stands for, or None when the line is not an error (NUT's errcheck)."""
    if not line.startswith("ERR"):
        return None
    text = line[4:]
    token = text.split(" ", 1)[0] or None
    for known, message in ERROR_MESSAGES.items():
        if text.startswith(known):
            return NutError(message, token, line)
    return NutError(UNKNOWN_ERROR, token, line)


def format_request(*words: str) -> bytes:
    """One request line: words joined so upsd's parser gives them back (quoted and escaped where needed)."""
    text = join_words(*words)
    if "\n" in text:
        raise ValueError("a NUT request cannot contain a newline")
    return (text + "\n").encode("ascii", "replace")


def parse_reply(line: str) -> list[str]:
    """Split a reply line into words with the NUT lexer; a malformed line is upsclient's "Parse error"."""
    try:
        return split_words(line)
    except LexError as err:
        raise NutError(f"Parse error: {err.message}", line=line) from None


class ReplyBuffer:
    """Reassembles reply lines from byte chunks of any size; refuses a line longer than ``max_line`` bytes."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        """Add received bytes; empty ``data`` is the end of the stream, upsclient's "Server disconnected"."""
        if not data:
            raise NutError(SERVER_DISCONNECTED)
        self._pending += data

    def next_line(self) -> str | None:
        """The next complete line without its newline, or None until more bytes arrive."""
        end = self._pending.find(b"\n")
        if end < 0:
            if len(self._pending) > self.max_line:
                raise NutError(f"{PROTOCOL_ERROR}: reply line longer than {self.max_line} bytes")
            return None
        if end > self.max_line:
            raise NutError(f"{PROTOCOL_ERROR}: reply line longer than {self.max_line} bytes")
        raw = bytes(self._pending[:end])
        del self._pending[: end + 1]
        # latin-1 keeps every byte; the lexer discards what NUT discards (outside 0x20..0x7f).
        return raw.decode("latin-1").removesuffix("\r")


# -- conversations (pure protocol logic) ---------------------------------------------------------------------------


def exchange(*words: str) -> Conversation[str]:
    """Send one request and return the reply line as it came (not checked for ``ERR``)."""
    yield format_request(*words)
    line = yield None
    assert line is not None
    return line


def checked(*words: str) -> Conversation[list[str]]:
    """Send one request; return the reply's words, raising :class:`NutError` for an ``ERR`` reply."""
    line = yield from exchange(*words)
    error = error_from_reply(line)
    if error is not None:
        raise error
    return parse_reply(line)


def _matches(query: tuple[str, ...], words: list[str]) -> bool:
    return len(words) >= len(query) and all(q.lower() == w.lower() for q, w in zip(query, words, strict=False))


def get(*query: str) -> Conversation[list[str]]:
    """``GET <query>``: the reply's words after the echoed query (``GET VAR ups x`` -> ``[value]``)."""
    words = yield from checked("GET", *query)
    if not _matches(query, words):
        raise NutError(PROTOCOL_ERROR, line=join_words(*words))
    return words[len(query) :]


def get_list(*query: str, limit: int = MAX_LIST_ITEMS) -> Conversation[list[list[str]]]:
    """``LIST <query>``: each item's words after the echoed query, framed by ``BEGIN LIST``/``END LIST``."""
    words = yield from checked("LIST", *query)
    if len(words) < 2 or words[0].upper() != "BEGIN" or words[1].upper() != "LIST" or not _matches(query, words[2:]):
        raise NutError(PROTOCOL_ERROR, line=join_words(*words))
    items: list[list[str]] = []
    while True:
        line = yield None
        assert line is not None
        error = error_from_reply(line)
        if error is not None:
            raise error
        words = parse_reply(line)
        if not words:
            raise NutError(PROTOCOL_ERROR, line=line)
        if words[:2] == ["END", "LIST"]:
            return items
        if not _matches(query, words):
            raise NutError(PROTOCOL_ERROR, line=line)
        if len(items) >= limit:
            raise NutError(f"{PROTOCOL_ERROR}: list longer than {limit} items", line=line)
        items.append(words[len(query) :])


def expect_ok(*words: str) -> Conversation[list[str]]:
    """Send a command whose success reply starts with ``OK``; return the words after ``OK``."""
    line = yield from exchange(*words)
    if not line.startswith("OK"):
        raise error_from_reply(line) or NutError(PROTOCOL_ERROR, line=line)
    return parse_reply(line)[1:]


def _tracking_id(words: list[str]) -> str | None:
    return words[1] if len(words) >= 2 and words[0] == "TRACKING" else None


def _first(items: list[list[str]]) -> list[str]:
    return [item[0] for item in items if item]


def _pairs(items: list[list[str]]) -> dict[str, str]:
    return {item[0]: item[1] for item in items if len(item) >= 2}


def _value(words: list[str]) -> str:
    if not words:
        raise NutError(PROTOCOL_ERROR)
    return words[0]


# -- the operations, shared by both transports ---------------------------------------------------------------------


class NutCommands:
    """NUT's client commands; a transport supplies :meth:`_run`, which executes a conversation.

    In :class:`NutClient` each method returns its result; in :class:`AsyncNutClient` it returns an awaitable of it.
    """

    def _run(self, conversation: Conversation[Any]) -> Any:
        raise NotImplementedError

    def request(self, *words: str) -> Any:
        """Send one raw request and return the reply line unchecked (for tools that print upsd's answer)."""
        return self._run(exchange(*words))

    def ver(self) -> Any:
        """``VER``: the server's version line."""
        return self._run(exchange("VER"))

    def netver(self) -> Any:
        """``NETVER``: the network protocol version (``1.3`` for NUT 2.8.0)."""
        return self._run(_map(checked("NETVER"), _value))

    def list_ups(self) -> Any:
        """``LIST UPS``: {ups name: description}."""
        return self._run(_map(get_list("UPS"), _pairs))

    def list_var(self, ups: str) -> Any:
        """``LIST VAR``: {variable: value}, in the server's order."""
        return self._run(_map(get_list("VAR", ups), _pairs))

    def list_rw(self, ups: str) -> Any:
        """``LIST RW``: {writable variable: value}."""
        return self._run(_map(get_list("RW", ups), _pairs))

    def list_cmd(self, ups: str) -> Any:
        """``LIST CMD``: the instant command names."""
        return self._run(_map(get_list("CMD", ups), _first))

    def list_enum(self, ups: str, var: str) -> Any:
        """``LIST ENUM``: the values a variable accepts."""
        return self._run(_map(get_list("ENUM", ups, var), _first))

    def list_range(self, ups: str, var: str) -> Any:
        """``LIST RANGE``: the (min, max) ranges a variable accepts, as the server wrote them."""
        return self._run(_map(get_list("RANGE", ups, var), lambda items: [(i[0], i[1]) for i in items if len(i) >= 2]))

    def list_clients(self, ups: str) -> Any:
        """``LIST CLIENT``: addresses of the clients logged in to the UPS."""
        return self._run(_map(get_list("CLIENT", ups), _first))

    def get_var(self, ups: str, var: str) -> Any:
        """``GET VAR``: a variable's value."""
        return self._run(_map(get("VAR", ups, var), _value))

    def get_type(self, ups: str, var: str) -> Any:
        """``GET TYPE``: a variable's type words (``RW``, ``ENUM``, ``STRING:32``, ``NUMBER``, ``RANGE``)."""
        return self._run(get("TYPE", ups, var))

    def get_desc(self, ups: str, var: str) -> Any:
        """``GET DESC``: a variable's description."""
        return self._run(_map(get("DESC", ups, var), _value))

    def get_cmd_desc(self, ups: str, cmd: str) -> Any:
        """``GET CMDDESC``: an instant command's description."""
        return self._run(_map(get("CMDDESC", ups, cmd), _value))

    def get_ups_desc(self, ups: str) -> Any:
        """``GET UPSDESC``: the UPS's description from ups.conf."""
        return self._run(_map(get("UPSDESC", ups), _value))

    def get_numlogins(self, ups: str) -> Any:
        """``GET NUMLOGINS``: how many clients are logged in to the UPS."""
        return self._run(_map(get("NUMLOGINS", ups), lambda words: int(_value(words))))

    def set_var(self, ups: str, var: str, value: str) -> Any:
        """``SET VAR``: returns the tracking id when tracking is on, else None."""
        return self._run(_map(expect_ok("SET", "VAR", ups, var, value), _tracking_id))

    def instcmd(self, ups: str, cmd: str, param: str | None = None) -> Any:
        """``INSTCMD``: returns the tracking id when tracking is on, else None."""
        words = (ups, cmd) if param is None else (ups, cmd, param)
        return self._run(_map(expect_ok("INSTCMD", *words), _tracking_id))

    def username(self, name: str) -> Any:
        """``USERNAME``."""
        return self._run(expect_ok("USERNAME", name))

    def password(self, secret: str) -> Any:
        """``PASSWORD`` (never logged)."""
        return self._run(expect_ok("PASSWORD", secret))

    def login(self, ups: str) -> Any:
        """``LOGIN``: count this connection as a client of the UPS (what upsmon does)."""
        return self._run(expect_ok("LOGIN", ups))

    def primary(self, ups: str) -> Any:
        """``PRIMARY``: claim the primary role (upsd 2.8.0; older servers know only ``MASTER``)."""
        return self._run(expect_ok("PRIMARY", ups))

    def fsd(self, ups: str) -> Any:
        """``FSD``: set the forced-shutdown flag."""
        return self._run(expect_ok("FSD", ups))

    def logout(self) -> Any:
        """``LOGOUT``: the server says goodbye and closes the connection."""
        return self._run(expect_ok("LOGOUT"))

    def tracking(self, enabled: bool) -> Any:
        """``SET TRACKING ON|OFF``: SET/INSTCMD replies carry a tracking id while on."""
        return self._run(expect_ok("SET", "TRACKING", "ON" if enabled else "OFF"))

    def get_tracking(self, tracking_id: str | None = None) -> Any:
        """``GET TRACKING [id]``: the reply line as sent (``PENDING``, ``SUCCESS``, ``ERR ...``; ``ON``/``OFF``)."""
        return self._run(exchange("GET", "TRACKING", tracking_id) if tracking_id else exchange("GET", "TRACKING"))


def _map(conversation: Conversation[Any], convert: Callable[[Any], T]) -> Conversation[T]:
    return convert((yield from conversation))


# -- transports ----------------------------------------------------------------------------------------------------


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as err:
        if err.errno == socket.EAI_NONAME:
            raise NutError(NO_SUCH_HOST) from None
        raise NutError(UNKNOWN_ERROR) from None


def _read_failure(err: OSError) -> NutError:
    if isinstance(err, TimeoutError):
        return NutTimeoutError()
    return NutError(f"Read error: {err.strerror or err}")


def _connection_failure(err: OSError) -> NutError:
    reason = err.strerror or os.strerror(err.errno or errno.EIO)
    return NutError(f"Connection failure: {reason}")


class NutClient(NutCommands):
    """Blocking transport: one TCP connection to upsd (use :meth:`connect`, or as a context manager)."""

    def __init__(self, sock: socket.socket, host: str, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.host = host
        self.timeout = timeout
        self._sock: socket.socket | ssl.SSLSocket = sock
        self._buffer = ReplyBuffer()
        sock.settimeout(timeout)

    @classmethod
    def connect(
        cls, host: str = "localhost", port: int = DEFAULT_PORT, timeout: float | None = DEFAULT_TIMEOUT
    ) -> NutClient:
        """Open a connection, trying each address of ``host`` in turn like upsclient."""
        failure: NutError = NutError(UNKNOWN_ERROR)
        for family, kind, proto, _, address in _resolve(host, port):
            sock = socket.socket(family, kind, proto)
            sock.settimeout(timeout)
            try:
                sock.connect(address)
            except OSError as err:
                sock.close()
                failure = _connection_failure(err)
                continue
            logger.debug("connected to %s port %d", host, port)
            return cls(sock, host, timeout)
        raise failure

    def _readline(self) -> str:
        while (line := self._buffer.next_line()) is None:
            try:
                data = self._sock.recv(4096)
            except OSError as err:
                raise _read_failure(err) from None
            self._buffer.feed(data)
        return line

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as err:
            raise NutError(f"Write error: {err.strerror or err}") from None

    def _run(self, conversation: Conversation[T]) -> T:
        reply: str | None = None
        try:
            while True:
                step = conversation.send(reply)
                if step is None:
                    reply = self._readline()
                else:
                    self._send(step)
                    reply = None
        except StopIteration as done:
            return done.value

    def starttls(self, context: ssl.SSLContext, server_hostname: str | None = None) -> None:
        """``STARTTLS``, then the TLS handshake; raises :class:`NutError` when the server refuses."""
        self._run(expect_ok("STARTTLS"))
        try:
            self._sock = context.wrap_socket(self._sock, server_hostname=server_hostname)
        except (ssl.SSLError, OSError) as err:
            raise NutError(f"SSL error: {err}") from None

    def close(self) -> None:
        """Say ``LOGOUT`` (without waiting, like upsclient) and close the socket."""
        with contextlib.suppress(OSError):
            self._sock.sendall(b"LOGOUT\n")
        self._sock.close()

    def __enter__(self) -> NutClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncNutClient(NutCommands):
    """asyncio transport: the same commands, each returning an awaitable; one request at a time per client."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        self.timeout = timeout
        self._reader = reader
        self._writer = writer
        self._buffer = ReplyBuffer()
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls, host: str = "localhost", port: int = DEFAULT_PORT, timeout: float | None = DEFAULT_TIMEOUT
    ) -> AsyncNutClient:
        """Open a connection to upsd."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise NutTimeoutError() from None
        except socket.gaierror as err:
            raise NutError(NO_SUCH_HOST if err.errno == socket.EAI_NONAME else UNKNOWN_ERROR) from None
        except OSError as err:
            raise _connection_failure(err) from None
        return cls(reader, writer, timeout)

    async def _readline(self) -> str:
        while (line := self._buffer.next_line()) is None:
            try:
                async with asyncio.timeout(self.timeout):
                    data = await self._reader.read(4096)
            except OSError as err:
                raise _read_failure(err) from None
            self._buffer.feed(data)
        return line

    async def _run(self, conversation: Conversation[T]) -> T:  # type: ignore[override]
        async with self._lock:
            reply: str | None = None
            try:
                while True:
                    step = conversation.send(reply)
                    if step is None:
                        reply = await self._readline()
                    else:
                        self._writer.write(step)
                        try:
                            await self._writer.drain()
                        except OSError as err:
                            raise NutError(f"Write error: {err.strerror or err}") from None
                        reply = None
            except StopIteration as done:
                return done.value

    async def starttls(self, context: ssl.SSLContext, server_hostname: str | None = None) -> None:
        """``STARTTLS``, then the TLS handshake on the same stream."""
        await self._run(expect_ok("STARTTLS"))
        try:
            await self._writer.start_tls(context, server_hostname=server_hostname)
        except (ssl.SSLError, OSError) as err:
            raise NutError(f"SSL error: {err}") from None

    async def close(self) -> None:
        """Say ``LOGOUT`` (without waiting for the answer) and close the connection."""
        try:
            self._writer.write(b"LOGOUT\n")
            self._writer.close()
            await self._writer.wait_closed()
        except OSError:
            pass

    async def __aenter__(self) -> AsyncNutClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
