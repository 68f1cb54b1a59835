"""nutdrv_qx: Q*-family UPSes over a serial line (NUT 2.8.0 drivers/nutdrv_qx.c), the dialect from a table.

The link is 2400 8N1; every request and reply ends with CR and a reply must come within a second. ``cablepower``
(normal: DTR on, RTS off; reverse; both; none) is set before the port opens, so the lines do not glitch on open.
``protocol`` picks the dialect (``qx_megatec.DIALECTS``; megatec only for now). Static queries (ratings, identity)
run once at start, skipped with ``norating``/``novendor``; the status query runs every poll.

battery.charge is guesstimated from the battery voltage between NUT's low and high levels (104/120 and 130/120 of
nominal, unless ups.conf gives ``default.battery.voltage.low/high``), with the battery-pack multiplier detected as
NUT detects it. Deliberate difference: NUT 2.8.0 computes the guess once and never updates it without runtimecal;
we recompute it at every poll.

Lost data: no valid reply to the status query (silence, a garbled or short reply, an echo) raises DeviceError, so
the runner marks the data stale and reopens the port until the UPS answers again; the first such event of a run is
logged with the reply, not every poll. ``-k`` sends shutdown.stop, then shutdown.return (shutdown.stayoff with the
``stayoff`` flag), as NUT does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import serial

from appliance.drivers.base import DeviceError, Driver
from appliance.drivers.qx_megatec import (
    DIALECTS,
    OFFDELAY_DEFAULT,
    OFFDELAY_RANGE,
    ONDELAY_DEFAULT,
    ONDELAY_RANGE,
    CommandError,
    Delays,
    Dialect,
    Query,
    battery_charge,
    battery_levels,
    battery_packs,
    parse_reply,
    status_from_bits,
)
from appliance.nutconf.schema import OptionSpec
from appliance.protocol.driver_socket import STAT_FAILED, STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN

logger = logging.getLogger(__name__)

CABLE_POWER = {"normal": (True, False), "reverse": (False, True), "both": (True, True), "none": (False, False)}
REPLY_TIMEOUT = 1.0
SETTLE = 0.1  # after setting the cable power, as NUT waits
TRIES = 3  # the status query, before the data goes stale


def _check_protocol(value: str) -> str | None:
    return None if value in DIALECTS else f"unknown protocol {value!r} (known: {', '.join(sorted(DIALECTS))})"


def _check_cablepower(value: str) -> str | None:
    return None if value in CABLE_POWER else f"cablepower must be one of {', '.join(CABLE_POWER)}"


def _range_check(low: int, high: int) -> Any:
    def check(value: str) -> str | None:
        if not value.strip().isdigit() or not low <= int(value) <= high:
            return f"must be a whole number of seconds from {low} to {high}"
        return None

    return check


class NutdrvQx(Driver):
    """The Q* serial driver; see the module docstring."""

    name = "nutdrv_qx"
    version = "0.1"
    description = "Generic Q* Serial driver (Megatec/Q1)"
    options = (
        OptionSpec("protocol", help="Preselect communication protocol (megatec)", check=_check_protocol),
        OptionSpec("ondelay", help="Delay before UPS startup (seconds)", check=_range_check(*ONDELAY_RANGE)),
        OptionSpec("offdelay", help="Delay before UPS shutdown (seconds)", check=_range_check(*OFFDELAY_RANGE)),
        OptionSpec("cablepower", help="Set cable power for serial interface", check=_check_cablepower),
        OptionSpec("stayoff", takes_value=False, help="If invoked the UPS won't return after a shutdown"),
        OptionSpec("novendor", takes_value=False, help="Don't query the vendor information"),
        OptionSpec("norating", takes_value=False, help="Don't query the UPS ratings"),
        OptionSpec("pollfreq", help="Accepted for NUT's ups.conf; every poll reads the full status here"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dialect: Dialect = DIALECTS[self.config.option("protocol") or "megatec"]
        self.port: serial.SerialBase | None = None
        self.delays = Delays(
            int(self.config.option("offdelay") or OFFDELAY_DEFAULT),
            int(self.config.option("ondelay") or ONDELAY_DEFAULT),
        )
        self.packs = 1.0
        self.levels: tuple[float, float] | None = None
        self._lost_logged = False

    # -- the wire ----------------------------------------------------------------------------------------

    def _open_port(self) -> serial.SerialBase:
        dtr, rts = CABLE_POWER[self.config.option("cablepower") or "normal"]
        try:
            port = serial.serial_for_url(self.config.port, do_not_open=True, baudrate=2400, timeout=REPLY_TIMEOUT)
            port.dtr, port.rts = dtr, rts  # before open(): pyserial would otherwise raise both on open
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"cannot open {self.config.port}: {exc}") from exc
        return port

    def _exchange(self, request: str) -> str:
        """Send one request and read its reply up to CR ('' on silence); a lost port raises DeviceError."""
        if self.port is None:
            raise DeviceError("port not open")
        try:
            self.port.reset_input_buffer()
            self.port.write(request.encode("ascii"))
            reply = self.port.read_until(b"\r", 256)
        except (serial.SerialException, OSError) as exc:
            raise DeviceError(f"{self.config.port}: {exc}") from exc
        return reply.decode("ascii", "replace")

    async def _query(self, query: Query) -> dict[str, str] | None:
        reply = await asyncio.to_thread(self._exchange, query.command)
        values = parse_reply(query, reply)
        if values is not None and query.status_bits is not None:
            text = reply.rstrip("\r")
            bits = text[query.status_bits : query.status_bits + 8]
            values.update(status_from_bits(bits, values.get("input.voltage"), values.get("output.voltage")))
        if values is None:
            logger.debug("%s: no valid reply to %r: %r", self.config.ups, query.command, reply)
        return values

    # -- hooks -----------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the port with the cable powered and wait for the UPS to answer the status query."""
        self.port = await asyncio.to_thread(self._open_port)
        await asyncio.sleep(SETTLE)
        status = self.dialect.queries[0]
        for _ in range(TRIES):
            if await self._query(status) is not None:
                return
        await self.close()
        raise DeviceError(f"no {self.dialect.name} UPS answers on {self.config.port}")

    async def initinfo(self) -> None:
        """Ratings and identity once, the delays, the commands, then a first status."""
        skip = {"F\r": self.config.flag("norating"), "I\r": self.config.flag("novendor")}
        for query in self.dialect.queries:
            if query.static and not skip.get(query.command):
                for name, value in ((await self._query(query)) or {}).items():
                    self.state.set_info(name, value)
        self.state.set_info("driver.version.data", self.dialect.version)
        for name, value, (low, high) in (
            ("ups.delay.shutdown", self.delays.offdelay, OFFDELAY_RANGE),
            ("ups.delay.start", self.delays.ondelay, ONDELAY_RANGE),
        ):
            self.state.set_info(name, str(value))
            self.state.set_flags(name, ["RW", "NUMBER"])
            self.state.add_range(name, low, high)
        for command in self.dialect.commands:
            self.state.add_command(command)
        await self.update()

    async def update(self) -> float | None:
        """Poll the status query; publish its variables, the status and the battery charge."""
        status = self.dialect.queries[0]
        for _ in range(TRIES):
            values = await self._query(status)
            if values is not None:
                break
        else:
            if not self._lost_logged:
                logger.warning("%s: no valid reply from the UPS: data stale until it answers", self.config.ups)
                self._lost_logged = True
            raise DeviceError("no valid reply to the status query")
        self._lost_logged = False
        self.state.alarm_init()
        self.state.status_init()
        for token in values.pop("ups.status", "").split():
            self.state.status_set(token)
        for text in (values.pop("ups.alarm", None),):
            if text:
                self.state.alarm_set(text)
        for name, value in values.items():
            self.state.set_info(name, value)
        self._battery()
        self.state.alarm_commit()
        self.state.status_commit()
        return None

    def _battery(self) -> None:
        """battery.charge from battery.voltage (see the module docstring)."""
        voltage, nominal = self.state.get("battery.voltage"), self.state.get("battery.voltage.nominal")
        if voltage is None or nominal is None:
            return
        if self.levels is None:
            low, high = self.state.get("battery.voltage.low"), self.state.get("battery.voltage.high")
            if low is None or high is None:
                low, high = (f"{level:.2f}" for level in battery_levels(float(nominal)))
                self.state.set_info("battery.voltage.low", low)
                self.state.set_info("battery.voltage.high", high)
            self.levels = (float(low), float(high))
            self.packs = battery_packs(float(voltage), float(nominal))
        low_v, high_v = self.levels
        if high_v > low_v:
            self.state.set_info("battery.charge", battery_charge(self.packs * float(voltage), low_v, high_v))

    async def instcmd(self, name: str, param: str | None) -> int:
        """Send a command's wire string; an echo or a NAK means the UPS refused it."""
        build = self.dialect.commands.get(name)
        if build is None:
            return STAT_UNKNOWN
        try:
            wire = build(self.delays, param)
        except CommandError as exc:
            logger.error("%s: %s", name, exc)
            return STAT_INVALID
        reply = (await asyncio.to_thread(self._exchange, wire)).rstrip("\r")
        if reply == wire.rstrip("\r") or reply.lstrip("(").startswith("NAK"):
            logger.error("%s: the UPS refused %r (%r)", name, wire.rstrip("\r"), reply)
            return STAT_FAILED
        logger.info("instant command %s sent (%r)", name, wire.rstrip("\r"))
        return STAT_HANDLED

    async def setvar(self, name: str, value: str) -> int:
        """ups.delay.shutdown / ups.delay.start, within NUT's ranges."""
        ranges = {"ups.delay.shutdown": OFFDELAY_RANGE, "ups.delay.start": ONDELAY_RANGE}
        if name not in ranges:
            return STAT_UNKNOWN
        low, high = ranges[name]
        if not value.isdigit() or not low <= int(value) <= high:
            return STAT_INVALID
        if name == "ups.delay.shutdown":
            self.delays.offdelay = int(value)
        else:
            self.delays.ondelay = int(value)
        self.state.set_info(name, value)
        return STAT_HANDLED

    async def shutdown(self) -> None:
        """Cancel a pending shutdown, then shut down with return (or stay off with ``stayoff``)."""
        await self.instcmd("shutdown.stop", None)
        command = "shutdown.stayoff" if self.config.flag("stayoff") else "shutdown.return"
        for _ in range(TRIES):
            if await self.instcmd(command, None) == STAT_HANDLED:
                logger.info("Shutting down in %s seconds", self.delays.offdelay)
                return
        raise DeviceError("Shutdown failed!")

    async def close(self) -> None:
        """Close the port."""
        if self.port is not None:
            port, self.port = self.port, None
            await asyncio.to_thread(port.close)
