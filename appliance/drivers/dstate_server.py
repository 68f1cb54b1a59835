"""The driver end of NUT's driver socket (NUT's drivers/dstate.c), on asyncio.

:class:`DriverSocketServer` serves ``<statepath>/<driver>-<ups>``: a Unix stream socket created under umask 007
and chmod 0660 after removing a stale file. Every client (upsd, a monitor, a test) may send:

- ``DUMPALL``: the whole state in NUT's order (:meth:`DeviceState.dump`), written with one send;
- ``PING`` -> ``PONG``; ``GETPID`` -> ``PID n``; ``LOGOUT`` -> ``OK Goodbye`` and the connection closes;
- ``DUMPSTATUS`` / ``DUMPVALUE var``: the same framing as DUMPALL with one variable (NUT 2.8.1+);
- ``NOBROADCAST`` / ``BROADCAST [0|1]``: stop or restart the stream of changes to this client;
- ``INSTCMD cmd [param] [TRACKING id]`` and ``SET var "val" [TRACKING id]``: run through the driver's hooks;
  with a tracking id the result code goes back as ``TRACKING id <code>``.

Every change to the DeviceState is broadcast to each client that has not opted out. NUT 2.8.0 knows neither
GETPID, DUMPSTATUS, DUMPVALUE, LOGOUT nor (NO)BROADCAST; later upsd versions send them, so we answer them.

Garbage never stops the server: unusable lines are logged (rate-limited per client) and skipped. A client that
does not read its data cannot hold the others back: its pending output is bounded, and past the bound it is
dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from appliance.protocol.driver_socket import (
    STAT_FAILED,
    Event,
    LineCodec,
    ProtocolError,
    format_message,
    format_messages,
)
from appliance.state import DeviceState, Message

logger = logging.getLogger(__name__)

# A whole DUMPALL of a big device is a few tens of KB; a client this far behind is not reading.
MAX_PENDING_OUTPUT = 1024 * 1024
# At most one complaint per client per interval about bad lines; the rest are counted.
COMPLAINT_INTERVAL = 10.0


class CommandHandler(Protocol):
    """What the server calls for INSTCMD and SET (the driver's hooks); each returns a STAT_* code."""

    async def instcmd(self, name: str, param: str | None) -> int:
        """Run an instant command."""
        ...

    async def setvar(self, name: str, value: str) -> int:
        """Set a variable."""
        ...


class ComplaintLimiter:
    """Lets one complaint through per ``interval`` seconds and counts the ones it held back (pure; clock injected)."""

    def __init__(self, interval: float = COMPLAINT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next = float("-inf")
        self.suppressed = 0

    def allow(self) -> tuple[bool, int]:
        """(may log now, how many were suppressed since the last one logged)."""
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return False, 0
        held, self.suppressed = self.suppressed, 0
        self._next = now + self.interval
        return True, held


class _Client:
    """One connection: its codec, its broadcast choice and its writer."""

    def __init__(self, writer: asyncio.StreamWriter, number: int) -> None:
        self.writer = writer
        self.codec = LineCodec()
        self.broadcast = True
        self.name = f"client {number}"
        self.complaints = ComplaintLimiter()
        self.closed = False


class DriverSocketServer:
    """Serves one DeviceState on a Unix socket; see the module docstring."""

    def __init__(
        self,
        state: DeviceState,
        path: str | os.PathLike[str],
        handler: CommandHandler,
        *,
        max_pending_output: int = MAX_PENDING_OUTPUT,
    ) -> None:
        self.state = state
        self.path = Path(path)
        self.handler = handler
        self.max_pending_output = max_pending_output
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[_Client] = set()
        self._count = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> int:
        """How many clients are connected."""
        return len(self._clients)

    async def start(self) -> None:
        """Create the socket (removing a stale one) and start accepting; subscribe to the state."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o007)
        try:
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o660)
        self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        self.state.subscribe(self._broadcast)
        logger.debug("serving driver socket %s", self.path)

    async def close(self) -> None:
        """Stop accepting, disconnect every client, unsubscribe and remove the socket file."""
        if self._server is None:
            return
        self.state.unsubscribe(self._broadcast)
        self._server.close()
        for client in list(self._clients):
            self._drop(client, None)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- connections ----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count += 1
        client = _Client(writer, self._count)
        self._clients.add(client)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]
        logger.debug("%s connected", client.name)
        try:
            while not client.closed:
                data = await reader.read(4096)
                if not data:
                    break
                for event in client.codec.receive(data):
                    await self._handle(client, event)
                    if client.closed:
                        break
        except (ConnectionError, OSError) as err:
            logger.debug("%s: %s", client.name, err)
        finally:
            self._drop(client, None)
            if task is not None:
                self._tasks.discard(task)  # type: ignore[arg-type]

    def _drop(self, client: _Client, reason: str | None) -> None:
        if client in self._clients:
            self._clients.discard(client)
            if reason:
                logger.warning("driver socket: dropping %s: %s", client.name, reason)
            else:
                logger.debug("%s disconnected", client.name)
        client.closed = True
        if reason:
            client.writer.transport.abort()
        else:
            client.writer.close()

    def _send(self, client: _Client, data: bytes) -> None:
        if client.closed:
            return
        transport = client.writer.transport
        if transport.is_closing():
            self._drop(client, None)
            return
        if transport.get_write_buffer_size() + len(data) > self.max_pending_output:
            self._drop(client, f"more than {self.max_pending_output} bytes of output pending (not reading)")
            return
        client.writer.write(data)

    def _broadcast(self, message: Message) -> None:
        data = format_message(message)
        for client in list(self._clients):
            if client.broadcast:
                self._send(client, data)

    # -- requests -------------------------------------------------------------------------------
    def _complain(self, client: _Client, text: str) -> None:
        allowed, held = client.complaints.allow()
        if allowed:
            more = f" ({held} more suppressed)" if held else ""
            logger.warning("driver socket %s: %s%s", client.name, text, more)

    async def _handle(self, client: _Client, event: Event) -> None:
        if isinstance(event, ProtocolError):
            self._complain(client, f"{event.reason}: {event.excerpt!r}")
            return
        verb = event[0].upper()
        args = event[1:]
        if verb == "DUMPALL":
            self._send(client, format_messages(self.state.dump()))
        elif verb in ("DUMPSTATUS", "DUMPVALUE"):
            self._dump_one(client, "ups.status" if verb == "DUMPSTATUS" else (args[0] if args else None))
        elif verb == "PING":
            self._send(client, b"PONG\n")
        elif verb == "GETPID":
            self._send(client, format_message(("PID", str(os.getpid()))))
        elif verb == "LOGOUT":
            self._send(client, b"OK Goodbye\n")
            self._drop(client, None)
        elif verb == "NOBROADCAST":
            client.broadcast = False
        elif verb == "BROADCAST":
            client.broadcast = not (args and _int_or(args[0], 1) < 1)
        elif verb == "INSTCMD" and args:
            await self._instcmd(client, args)
        elif verb == "SET" and len(args) >= 2:
            await self._set(client, args)
        else:
            self._complain(client, f"unknown command {' '.join(event)[:80]!r}")

    def _dump_one(self, client: _Client, name: str | None) -> None:
        messages: list[Message] = [] if self.state.data_ok else [("DATASTALE",)]
        var = self.state.variable(name) if name else None
        if var is not None:
            messages += [m for m in self.state.dump() if len(m) > 1 and m[0] != "ADDCMD" and m[1] == var.name]
        messages += [("DATAOK",), ("DUMPDONE",)] if self.state.data_ok else [("DUMPDONE",)]
        self._send(client, format_messages(messages))

    async def _instcmd(self, client: _Client, args: Sequence[str]) -> None:
        # INSTCMD <cmd> [<param>] [TRACKING <id>], matched exactly as NUT's sock_arg does.
        name, rest = args[0], list(args[1:])
        param: str | None = None
        tracking: str | None = None
        if len(rest) == 1:
            param = rest[0]
        elif len(rest) == 2 and rest[0].upper() == "TRACKING":
            tracking = rest[1]
        elif len(rest) == 3 and rest[1].upper() == "TRACKING":
            param, tracking = rest[0], rest[2]
        elif rest:
            self._complain(client, f"malformed INSTCMD {' '.join(args)[:80]!r}")
            return
        code = await self._run_hook(f"instcmd {name}", self.handler.instcmd(name, param))
        self._track(client, tracking, code)

    async def _set(self, client: _Client, args: Sequence[str]) -> None:
        name, value, rest = args[0], args[1], list(args[2:])
        tracking: str | None = None
        if len(rest) == 2 and rest[0].upper() == "TRACKING":
            tracking = rest[1]
        elif rest:
            self._complain(client, f"SET with unsupported parameters {' '.join(rest)[:80]!r}")
            return
        code = await self._run_hook(f"set {name}", self.handler.setvar(name, value))
        self._track(client, tracking, code)

    async def _run_hook(self, what: str, call: Awaitable[int]) -> int:
        try:
            code = await call
        except Exception:
            logger.exception("driver hook failed: %s", what)
            return STAT_FAILED
        return int(code)

    def _track(self, client: _Client, tracking: str | None, code: int) -> None:
        if tracking is not None:
            self._send(client, format_message(("TRACKING", tracking, str(code))))


def _int_or(word: str, default: int) -> int:
    try:
        return int(word)
    except ValueError:
        return default
