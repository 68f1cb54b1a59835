"""genericups: contact-closure UPSes on a serial port's modem-control lines (NUT 2.8.0 drivers/genericups.c).

The cable type (``upstype`` 0-23, see ``contact_lines.CABLE_TYPES``) says which input lines mean on line, low
battery, replace battery and bypass, which output lines power the cable, and which lines (or a BREAK) tell the
UPS to shut down. ``CP``/``SD``/``OL``/``LB``/``RB``/``BYPASS`` override single entries.

Beyond NUT (which reads the lines once per ``pollinterval``), a thread waits for line changes with TIOCMIWAIT
and hands them to the event loop, so ``ups.status`` follows an edge at once; where the port cannot wait (a
pyserial URL, a tty driver without TIOCMIWAIT) the thread polls every 10 ms instead. A UART without a modem-status
interrupt accepts TIOCMIWAIT but never wakes (seen on a VM's ttyS0): the read every ``pollinterval`` still
catches every change, so such a port is no slower than NUT. A new status counts once it
has held for ``debounce`` milliseconds (default 30). The cable power lines are set before the port is opened,
so DTR/RTS do not pulse on open as pyserial would otherwise make them (the kernel's own open may still raise
them for an instant: mind cables whose SD line is DTR or RTS).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import struct
import termios
import threading
from collections.abc import Callable
from typing import Any

import serial

from appliance.drivers.base import DeviceError
from appliance.drivers.contact_lines import (
    DEBOUNCE_OPTION,
    INPUT_OVERRIDES,
    OUTPUT_OVERRIDES,
    TIOCM_CD,
    TIOCM_CTS,
    TIOCM_DSR,
    TIOCM_DTR,
    TIOCM_RI,
    TIOCM_RTS,
    TIOCM_ST,
    CableType,
    ContactClosureDriver,
    ContactConfigError,
    cable_status,
    cable_type,
    configure_cable,
    option_check,
    parse_input_override,
    parse_output_override,
    whole_number_check,
)
from appliance.nutconf.schema import OptionSpec

logger = logging.getLogger(__name__)

WATCHED_LINES = TIOCM_CTS | TIOCM_CD | TIOCM_RI | TIOCM_DSR
FALLBACK_POLL = 0.01
"""Seconds between line reads when the port cannot wait for a change."""
NUT_BREAK_DURATION = 4901
"""NUT's tcsendbreak() argument: glibc turns it into TCSBRKP 50, a 5 s BREAK (pyserial's send_break cannot)."""
BREAK_SECONDS = 5.0
UNSUPPORTED_ERRNOS = frozenset([errno.ENOTTY, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP])


class ModemPort:
    """The modem-control lines of an open pyserial port: one ioctl each on a tty, the properties on a URL."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        fd = getattr(port, "fd", None)
        self.fd: int | None = fd if isinstance(fd, int) else None

    def read(self) -> int:
        """The TIOCM bits of the four input lines (OSError or SerialException when the port is gone)."""
        if self.fd is not None:
            return _ioctl_int(self.fd, termios.TIOCMGET, 0) & WATCHED_LINES
        lines = (
            (self.port.cts, TIOCM_CTS),
            (self.port.cd, TIOCM_CD),
            (self.port.ri, TIOCM_RI),
            (self.port.dsr, TIOCM_DSR),
        )
        return sum(bit for is_set, bit in lines if is_set)

    def write(self, lines: int) -> None:
        """Set DTR and RTS to exactly ``lines`` (TIOCMSET on a tty, as NUT does)."""
        if self.fd is not None:
            _ioctl_int(self.fd, termios.TIOCMSET, lines)
            return
        self.port.dtr = bool(lines & TIOCM_DTR)
        self.port.rts = bool(lines & TIOCM_RTS)

    def wait_for_change(self) -> bool:
        """Block until an input line changes (TIOCMIWAIT); False when this port cannot wait."""
        if self.fd is None:
            return False
        try:
            fcntl.ioctl(self.fd, termios.TIOCMIWAIT, WATCHED_LINES)
        except OSError as err:
            if err.errno in UNSUPPORTED_ERRNOS:
                return False
            raise
        return True


def _ioctl_int(fd: int, request: int, value: int) -> int:
    result = fcntl.ioctl(fd, request, struct.pack("I", value))
    return int(struct.unpack("I", result)[0])


def open_modem(path: str, lines: int) -> ModemPort:
    """Open ``path`` (a device or a pyserial URL) with DTR/RTS already at ``lines``; keep them after close.

    pyserial raises DTR and RTS while opening unless they are set before ``open()``; HUPCL is cleared so the
    lines stay as set when the driver exits (NUT does the same).
    """
    port = serial.serial_for_url(path, do_not_open=True)
    port.dtr = bool(lines & TIOCM_DTR)
    port.rts = bool(lines & TIOCM_RTS)
    port.open()
    modem = ModemPort(port)
    if modem.fd is not None:
        attributes = termios.tcgetattr(modem.fd)
        attributes[2] &= ~termios.HUPCL
        termios.tcsetattr(modem.fd, termios.TCSANOW, attributes)
    modem.write(lines)
    return modem


class LineWatcher(threading.Thread):
    """Waits for modem-line changes (or polls) and reports each new reading through ``report``.

    A thread blocked in TIOCMIWAIT cannot be woken by us; after :meth:`stop` it ends at the next line change or
    hang-up without touching the port again.
    """

    def __init__(self, modem: ModemPort, report: Callable[[int], None], failed: Callable[[Exception], None]) -> None:
        super().__init__(name="genericups-lines", daemon=True)
        self.modem = modem
        self.report = report
        self.failed = failed
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Ask the thread to end (see the class docstring)."""
        self._stopping.set()

    def run(self) -> None:
        """Wait, read, report, until stopped or the port fails."""
        can_wait = True
        last: int | None = None
        while not self._stopping.is_set():
            try:
                if can_wait:
                    can_wait = self.modem.wait_for_change()
                    if not can_wait:
                        logger.info("port cannot wait for line changes (TIOCMIWAIT): polling every %s s", FALLBACK_POLL)
                if not can_wait and self._stopping.wait(FALLBACK_POLL):
                    return
                if self._stopping.is_set():
                    return
                lines = self.modem.read()
            except (OSError, serial.SerialException) as err:
                if not self._stopping.is_set():
                    self.failed(err)
                return
            if lines != last:
                last = lines
                self.report(lines)


class GenericUps(ContactClosureDriver):
    """NUT's genericups; see the module docstring."""

    name = "genericups"
    version = "1.38"
    description = "Generic contact-closure UPS driver"
    options = (
        OptionSpec("upstype", help="Set UPS type (required)", check=option_check(cable_type)),
        OptionSpec("mfr", help="Override manufacturer name"),
        OptionSpec("model", help="Override model name"),
        OptionSpec("serial", help="Specify the serial number"),
        *(
            OptionSpec(
                option, help=f"Override {what}", check=option_check(functools.partial(parse_input_override, option))
            )
            for option, what in zip(
                INPUT_OVERRIDES,
                ("on line signal", "low battery signal", "replace battery signal", "battery bypass signal"),
                strict=True,
            )
        ),
        *(
            OptionSpec(
                option, help=f"Override {what}", check=option_check(functools.partial(parse_output_override, option))
            )
            for option, what in zip(OUTPUT_OVERRIDES, ("cable power setting", "shutdown setting"), strict=True)
        ),
        OptionSpec("sdtime", help="Hold time for shutdown value (seconds)", check=whole_number_check("sdtime")),
        DEBOUNCE_OPTION,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cable: CableType | None = None
        self.modem: ModemPort | None = None
        self._watcher: LineWatcher | None = None

    async def open(self) -> None:
        """Resolve the cable, open the port with cable power already set, read the lines once."""
        try:
            self.cable = configure_cable(self.config.options)
        except ContactConfigError as err:
            raise DeviceError(str(err)) from None
        cable = self.cable
        try:
            self.modem = await asyncio.to_thread(open_modem, self.config.port, cable.cp)
        except (OSError, serial.SerialException, ValueError) as err:
            raise DeviceError(f"port {self.config.port}: can't open: {err}") from None
        logger.info("UPS type: %s", cable.desc)

    async def initinfo(self) -> None:
        """ups.mfr/model/serial, the first status, then start watching the lines."""
        assert self.cable is not None and self.modem is not None
        self.state.set_info("ups.mfr", self.config.option("mfr") or self.cable.mfr)
        self.state.set_info("ups.model", self.config.option("model") or self.cable.model)
        serial_number = self.config.option("serial")
        if serial_number is not None:
            self.state.set_info("ups.serial", serial_number)
        self.start_readings(tuple(cable_status(self.cable, await self._read())))
        self._watcher = LineWatcher(self.modem, self._lines_from_thread, self.failure_from_thread)
        self._watcher.start()

    async def update(self) -> float | None:
        """Read the lines (the fallback for a missed edge); a lost port raises DeviceError."""
        self.raise_failure()
        assert self.cable is not None
        self.take_reading(tuple(cable_status(self.cable, await self._read())))
        return None

    async def shutdown(self) -> None:
        """Set exactly the SD lines and hold them ``sdtime`` s, or send a 5 s BREAK for ST types."""
        assert self.cable is not None and self.modem is not None
        lines = self.cable.sd
        if lines is None:
            raise DeviceError("No shutdown command defined for this model! (set SD= in ups.conf)")
        if lines == TIOCM_ST:
            logger.info("sending a %s s BREAK", BREAK_SECONDS)
            await self._send_break(self.modem)
            return
        try:
            await asyncio.to_thread(self.modem.write, lines)
        except (OSError, serial.SerialException) as err:
            raise DeviceError(f"port {self.config.port}: can't set the shutdown lines: {err}") from None
        sdtime = int(self.config.option("sdtime") or 0)
        if sdtime > 0:
            logger.info("Holding shutdown signal for %d seconds...", sdtime)
            await self.sleep(sdtime)

    async def close(self) -> None:
        """Stop watching and close the port (the lines stay as they are: HUPCL is off)."""
        self.stop_readings()
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            watcher.stop()
            # A polling watcher ends within one poll: wait for it, so that it never reads a port being closed (under
            # umockdev that read aborted the process). One blocked in TIOCMIWAIT cannot be woken: the wait times out.
            await asyncio.to_thread(watcher.join, 5 * FALLBACK_POLL)
        if self.modem is not None:
            modem, self.modem = self.modem, None
            with contextlib.suppress(OSError, serial.SerialException):
                modem.port.close()

    def publish(self, reading: Any) -> None:
        """An accepted status tuple becomes ups.status."""
        self.publish_status(list(reading))

    def _lines_from_thread(self, lines: int) -> None:
        cable = self.cable
        if cable is not None:
            self.reading_from_thread(tuple(cable_status(cable, lines)))

    async def _read(self) -> int:
        assert self.modem is not None
        try:
            return await asyncio.to_thread(self.modem.read)
        except (OSError, serial.SerialException) as err:
            raise DeviceError(f"port {self.config.port}: can't read the modem lines: {err}") from None

    async def _send_break(self, modem: ModemPort) -> None:
        try:
            if modem.fd is not None:
                await asyncio.to_thread(termios.tcsendbreak, modem.fd, NUT_BREAK_DURATION)
                return
            modem.port.break_condition = True
            await self.sleep(BREAK_SECONDS)
            modem.port.break_condition = False
        except (OSError, serial.SerialException, termios.error) as err:
            raise DeviceError(f"port {self.config.port}: can't send a BREAK: {err}") from None
