"""A Megatec/Q1 UPS simulator: its state in, the replies out, reachable three ways.

- ``MegatecUps.respond(line)``: the pure responder (Q1, F, I; commands are recorded; anything else is echoed back,
  as real units echo what they do not know);
- ``megatec://NAME``: a pyserial URL handler (``register_url_handler()``) for the simulator ``SIMULATORS[NAME]``;
- ``serve_pty(ups, path)``: a thread answering on one end of a socat pty pair, so that Debian's C nutdrv_qx and our
  driver can each talk to the same simulated device.
"""

from __future__ import annotations

import os
import threading
import tty
from dataclasses import dataclass, field

import serial
from serial.serialutil import SerialBase

from tests.serial_url import register_scheme

COMMANDS = ("Q", "T", "TL", "CT", "C", "S00R0000")


@dataclass
class MegatecUps:
    """The simulated unit: what it answers and what it was told."""

    q1: str | None = "(215.0 195.0 230.0 014 49.0 22.7 30.0 00000000"
    f: str | None = "#230.0 004 24.00 50.0"
    i: str | None = "#NOT_A_LIVE_UPS  TESTING    TESTING   "
    command_reply: str = ""  # what it says to a command it takes (some units say ACK)
    silent: bool = False  # the cable is unplugged
    received: list[str] = field(default_factory=list)

    def respond(self, line: str) -> bytes:
        """The reply to one request (without its CR); b'' when the unit says nothing."""
        self.received.append(line)
        if self.silent:
            return b""
        replies = {"Q1": self.q1, "F": self.f, "I": self.i}
        if line in replies:
            reply = replies[line]
            return (reply if reply is not None else line).encode() + b"\r"
        if line in COMMANDS or (line.startswith(("S", "T")) and len(line) > 1 and line[1] in ".0123456789"):
            return self.command_reply.encode() + b"\r" if self.command_reply else b""
        return line.encode() + b"\r"


SIMULATORS: dict[str, MegatecUps] = {}


class MegatecSerial(SerialBase):
    """pyserial's side of ``megatec://NAME``: writes go to the simulator, its replies come back on read."""

    def open(self) -> None:
        """Attach to the simulator named by the URL."""
        name = str(self.portstr).removeprefix("megatec://")
        if name not in SIMULATORS:
            raise serial.SerialException(f"no simulated UPS {name!r}")
        self.ups = SIMULATORS[name]
        self.pending = b""
        self.inbuf = b""
        self.is_open = True

    def close(self) -> None:
        """Detach."""
        self.is_open = False

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""
        return len(self.inbuf)

    def reset_input_buffer(self) -> None:
        """Drop unread replies."""
        self.inbuf = b""

    def write(self, data: bytes) -> int:
        """Feed requests to the simulator, line by line."""
        if not self.is_open:
            raise serial.PortNotOpenError()
        self.pending += bytes(data)
        while b"\r" in self.pending:
            line, self.pending = self.pending.split(b"\r", 1)
            self.inbuf += self.ups.respond(line.decode("ascii", "replace"))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        """What the simulator answered (no waiting: a silent unit gives b'' at once)."""
        data, self.inbuf = self.inbuf[:size], self.inbuf[size:]
        return data

    def _reconfigure_port(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass


def register_url_handler() -> None:
    """Make ``serial.serial_for_url("megatec://NAME")`` open ``SIMULATORS[NAME]``."""
    register_scheme("megatec", MegatecSerial)


def serve_pty(ups: MegatecUps, path: str) -> threading.Thread:
    """Answer requests arriving on the pty at ``path`` from a daemon thread (ends when the pty closes)."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)

    def run() -> None:
        buffer = b""
        try:
            while data := os.read(fd, 256):
                buffer += data
                while b"\r" in buffer:
                    line, buffer = buffer.split(b"\r", 1)
                    reply = ups.respond(line.decode("ascii", "replace"))
                    if reply:
                        os.write(fd, reply)
        except OSError:
            pass
        finally:
            os.close(fd)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
