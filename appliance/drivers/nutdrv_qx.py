"""nutdrv_qx: Q*-family UPSes over a serial line (NUT 2.8.0 drivers/nutdrv_qx.c), the dialect from a table.

The link is 2400 8N1; every request and reply ends with CR and a reply must come within a second. ``cablepower``
(normal: DTR on, RTS off; reverse; both; none) is set before the port opens, so the lines do not glitch on open.
``protocol`` picks the dialect (``qx_megatec.DIALECTS``; megatec only for now). Static queries (ratings, identity)
run once at start, skipped with ``norating``/``novendor``; the status query runs every poll.

battery.charge is guesstimated from the battery voltage between NUT's low and high levels (104/120 and 130/120 of
nominal, unless ups.conf gives ``default.battery.voltage.low/high``), with the battery-pack multiplier detected as
NUT detects it (or ``default.battery.packs``). With ``runtimecal`` (two runtimes at two loads), ``chargetime`` and
``idleload`` the charge and battery.runtime follow NUT's load model instead (:class:`RuntimeModel`).

Deliberate differences from NUT 2.8.0: NUT publishes the status bits every poll but the other values only every
``pollfreq`` (30 s); the status query carries them all, so we publish them every poll (``pollfreq`` is accepted
and ignored). NUT's first charge guess is made before the battery packs are detected (a unit reporting a per-cell
voltage shows 0 % until the first full update); we detect the packs first. A runtimecal with two equal loads is
a config error here (NUT divides by zero).

Lost data: no valid reply to the status query (silence, a garbled or short reply, an echo, an impossible status
bit) after three tries raises DeviceError, so the runner marks the data stale and reopens the port every poll
until the UPS answers again (NUT needs five failed polls and never reopens the port, so an unplugged USB-serial
adapter never comes back there); the event is logged once. ``-k`` sends shutdown.stop, then shutdown.return
(shutdown.stayoff with the ``stayoff`` flag), as NUT does.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from appliance.drivers.base import DeviceError, Driver
from appliance.drivers.qx_megatec import (
    DELAY_RANGES,
    DIALECTS,
    OFFDELAY_RANGE,
    ONDELAY_RANGE,
    CommandError,
    Delays,
    Dialect,
    Query,
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


PACKS = (120, 100, 80, 60, 48, 36, 30, 24, 18, 12, 8, 6, 4, 3, 2, 1, 0.5)
CHARGETIME_DEFAULT = 43200  # seconds from empty to full
IDLELOAD_DEFAULT = 10.0  # percent


def battery_levels(nominal: float) -> tuple[float, float]:
    """NUT's guesstimated (low, high) battery voltages for a nominal voltage, when the UPS gives none."""
    return 104 * nominal / 120, 130 * nominal / 120


def battery_packs(voltage: float, nominal: float) -> float:
    """The multiplier from reported to real battery voltage: the largest that lands within 0.8-1.2 of nominal."""
    for packs in PACKS:
        if packs * voltage > 1.2 * nominal:
            continue
        return packs if packs * voltage >= 0.8 * nominal else 1
    return 1


def charge_fraction(voltage: float, low: float, high: float) -> float:
    """Where ``voltage`` sits between ``low`` and ``high``, clamped to 0-1."""
    return min(1.0, max(0.0, (voltage - low) / (high - low)))


def battery_charge(voltage: float, low: float, high: float) -> str:
    """battery.charge guesstimated from the battery voltage, clamped to 0-100, as NUT prints it."""
    return f"{100 * charge_fraction(voltage, low, high):.0f}"


def parse_runtimecal(value: str) -> tuple[float, float, float, float]:
    """``runtimecal = rh,lh,rl,ll``: runtime rh s at load lh %, runtime rl s at load ll %; ValueError when wrong."""
    try:
        rh, lh, rl, ll = (float(part) for part in value.split(","))
    except ValueError:
        raise ValueError("runtimecal needs four numbers: runtime,load,runtime,load (e.g. 240,100,720,50)") from None
    if rl < rh or rh <= 0:
        raise ValueError("runtimecal runtimes out of range: the second must be at least the first, both above 0")
    # NUT accepts equal loads and divides by zero; we refuse them (deliberate difference).
    if lh > 100 or ll >= lh or ll <= 0:
        raise ValueError("runtimecal loads out of range: 0 < second load < first load <= 100")
    return rh, lh, rl, ll


@dataclass
class RuntimeModel:
    """NUT's runtimecal estimate: remaining full-load runtime, charged while OL and drained by the load while OB.

    ``exponent`` and ``nominal`` (full-load runtime, s) come from the two calibration points; the estimate starts
    from the voltage-based charge, gains ``nominal / chargetime`` per second on line, loses the effective load
    (``(load/100) ** exponent``, at least ``idleload``) per second on battery, and never stays above what the
    battery voltage says. The effective load used for the drain is the one of the previous update, as in NUT.
    """

    exponent: float
    nominal: float
    chargetime: float = CHARGETIME_DEFAULT
    idleload: float = IDLELOAD_DEFAULT / 100
    estimate: float = 0.0
    effective_load: float = 1.0
    last: float | None = None

    @classmethod
    def from_options(cls, runtimecal: str, chargetime: str | None, idleload: str | None) -> RuntimeModel:
        """The model for ups.conf's runtimecal/chargetime/idleload (already checked)."""
        rh, lh, rl, ll = parse_runtimecal(runtimecal)
        exponent = math.log(rl / rh) / math.log(lh / ll)
        return cls(
            exponent=exponent,
            nominal=rh * (lh / 100) ** exponent,
            chargetime=float(chargetime) if chargetime else CHARGETIME_DEFAULT,
            idleload=float(idleload or IDLELOAD_DEFAULT) / 100,
        )

    def start(self, charge_percent: float, now: float) -> None:
        """Begin from a charge (what the voltage said, as published) at time ``now``."""
        self.estimate = self.nominal * charge_percent / 100
        self.last = now

    def update(
        self, now: float, online: bool, load: float | None, voltage_fraction: float | None
    ) -> tuple[str, str | None]:
        """Advance to ``now``; battery.charge and battery.runtime (None without a load) as NUT prints them."""
        elapsed = now - (self.last if self.last is not None else now)
        self.last = now
        if online:
            self.estimate = min(self.nominal, self.estimate + self.nominal * elapsed / self.chargetime)
        else:
            self.estimate = max(0.0, self.estimate - self.effective_load * elapsed)
        if voltage_fraction is not None and voltage_fraction < self.estimate / self.nominal:
            self.estimate = voltage_fraction * self.nominal  # an old battery runs out sooner than the model says
        charge = f"{100 * self.estimate / self.nominal:.0f}"
        if load is None:
            return charge, None
        self.effective_load = max(self.idleload, (load / 100) ** self.exponent)
        return charge, f"{self.estimate / self.effective_load:.0f}"


def _check_with(parse: Callable[[str], object]) -> Callable[[str], str | None]:
    """An option check from a parser that raises ValueError with the message."""

    def check(value: str) -> str | None:
        try:
            parse(value)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def _parse_chargetime(value: str) -> int:
    if not value.strip().isdigit() or int(value) <= 0:
        raise ValueError("chargetime must be a whole number of seconds above 0")
    return int(value)


def _parse_idleload(value: str) -> float:
    try:
        load = float(value)
    except ValueError:
        load = -1.0
    if not 0 < load <= 100:
        raise ValueError("idleload must be a percentage above 0, at most 100")
    return load


def _check_protocol(value: str) -> str | None:
    return None if value in DIALECTS else f"unknown protocol {value!r} (known: {', '.join(sorted(DIALECTS))})"


def _check_cablepower(value: str) -> str | None:
    return None if value.lower() in CABLE_POWER else f"cablepower must be one of {', '.join(CABLE_POWER)}"


def _range_check(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not value.strip().isdigit() or not low <= int(value) <= high:
            return f"must be a whole number of seconds from {low} to {high}"
        return None

    return check


class NutdrvQx(Driver):
    """The Q* serial driver; see the module docstring."""

    name = "nutdrv_qx"
    version = "0.2"
    description = "Generic Q* Serial driver (Megatec/Q1)"
    reconnect_every_poll = True  # a USB-serial adapter plugged back is a new tty: reopen it at the poll pace
    options = (
        OptionSpec("protocol", help="Preselect communication protocol (megatec)", check=_check_protocol),
        OptionSpec("ondelay", help="Set startup delay, in seconds (default=180)", check=_range_check(*ONDELAY_RANGE)),
        OptionSpec("offdelay", help="Set shutdown delay, in seconds (default=30)", check=_range_check(*OFFDELAY_RANGE)),
        OptionSpec("cablepower", help="Set cable power for serial interface", check=_check_cablepower),
        OptionSpec("stayoff", takes_value=False, help="If invoked the UPS won't return after a shutdown"),
        OptionSpec("novendor", takes_value=False, help="Skip reading vendor information from UPS"),
        OptionSpec("norating", takes_value=False, help="Skip reading rating information from UPS"),
        OptionSpec("ignoresab", takes_value=False, help="Ignore 'Shutdown Active' bit in UPS status"),
        OptionSpec("runtimecal", help="Parameters used for runtime calculation", check=_check_with(parse_runtimecal)),
        OptionSpec("chargetime", help="Nominal charge time for UPS battery", check=_check_with(_parse_chargetime)),
        OptionSpec(
            "idleload", help="Minimum load to be used for runtime calculation", check=_check_with(_parse_idleload)
        ),
        OptionSpec("pollfreq", help="Accepted for NUT's ups.conf; every poll reads the full status here"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dialect: Dialect = DIALECTS[self.config.option("protocol") or "megatec"]
        self.port: serial.SerialBase | None = None
        self.delays = Delays()
        self.packs = 1.0
        self.levels: tuple[float, float] | None = None
        self.runtime: RuntimeModel | None = None
        self._battery_known = False  # levels, packs and the runtime model are set up (once per initinfo)
        self._lost_logged = False
        self._wire = asyncio.Lock()

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

    async def _ask(self, request: str) -> str:
        """One exchange at a time: a command from upsd must not read the reply to a poll running beside it."""
        async with self._wire:
            return await asyncio.to_thread(self._exchange, request)

    async def _query(self, query: Query) -> dict[str, str] | None:
        """Ask one query; its variables (with the status decoded), or None when the reply is not valid."""
        reply = await self._ask(query.command)
        values = parse_reply(query, reply)
        if values is not None and query.status_bits is not None:
            bits = reply.rstrip("\r")[query.status_bits : query.status_bits + 8]
            status = status_from_bits(
                bits, values.get("input.voltage"), values.get("output.voltage"), self.config.flag("ignoresab")
            )
            values = None if status is None else values | status
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
        """Ratings and identity once, the delays, the commands, then a first status and the battery model."""
        skip = {"F\r": self.config.flag("norating"), "I\r": self.config.flag("novendor")}
        for query in self.dialect.queries:
            if query.static and not skip.get(query.command):
                for name, value in ((await self._query(query)) or {}).items():
                    self.state.set_info(name, value)
        self.state.set_info("driver.version.data", self.dialect.version)
        for name in self._apply_delay_options():
            low, high = DELAY_RANGES[name]
            self.state.set_flags(name, ["RW", "NUMBER"])
            self.state.add_range(name, low, high)
        for command in self.dialect.commands:
            self.state.add_command(command)
        self._battery_known = False
        await self.update()

    def _apply_delay_options(self) -> tuple[str, ...]:
        """ups.delay.shutdown/start from offdelay/ondelay (as the UPS takes them) or the defaults; their names."""
        self.delays = Delays()
        for name, option in (("ups.delay.shutdown", "offdelay"), ("ups.delay.start", "ondelay")):
            value = self.config.option(option)
            seconds = self.delays.set(name, value) if value else getattr(self.delays, option)
            self.state.set_info(name, str(seconds))
        return tuple(DELAY_RANGES)

    async def update(self) -> float | None:
        """Poll the status query; publish its variables, the status and the battery charge/runtime."""
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
        tokens = values.pop("ups.status", "").split()
        for token in tokens:
            self.state.status_set(token)
        if alarm := values.pop("ups.alarm", None):
            self.state.alarm_set(alarm)
        for name, value in values.items():
            self.state.set_info(name, value)
        self._battery("OL" in tokens)
        self.state.alarm_commit()
        self.state.status_commit()
        return None

    def _number(self, name: str) -> float | None:
        """A published variable as a number, None when absent or not a number."""
        try:
            return float(self.state.get(name) or "")
        except ValueError:
            return None

    def _init_battery(self, voltage: float, nominal: float | None) -> None:
        """NUT's qx_initbattery: the voltage levels, the pack multiplier and the runtime model, once."""
        low, high = self._number("battery.voltage.low"), self._number("battery.voltage.high")
        if (low is None or high is None) and nominal is not None:
            low, high = battery_levels(nominal)
            logger.info("%s: no battery high/low voltages: guesstimating %.2f/%.2f", self.config.ups, low, high)
            self.state.set_info("battery.voltage.low", f"{low:.2f}")
            self.state.set_info("battery.voltage.high", f"{high:.2f}")
        packs = self._number("battery.packs")
        if packs is not None:
            self.packs = packs
        elif nominal is not None:
            self.packs = battery_packs(voltage, nominal)
        self.levels = (low, high) if low is not None and high is not None and high > low else None
        runtimecal = self.config.option("runtimecal")
        if runtimecal is None:
            return
        model = RuntimeModel.from_options(runtimecal, self.config.option("chargetime"), self.config.option("idleload"))
        if self.levels is None and nominal is not None:
            self.levels = (nominal, 1.15 * nominal)  # NUT's levels for the runtime model's first charge
        if self.levels is None:
            logger.error("%s: runtimecal: initial battery charge undetermined (no nominal voltage)", self.config.ups)
            return
        model.start(float(battery_charge(self.packs * voltage, *self.levels)), self.clock())
        self.runtime = model

    def _battery(self, online: bool) -> None:
        """battery.charge (and battery.runtime with runtimecal); see the module docstring."""
        voltage = self._number("battery.voltage")
        if voltage is None:
            return
        if not self._battery_known:
            self._battery_known = True
            self._init_battery(voltage, self._number("battery.voltage.nominal"))
        fraction = None if self.levels is None else charge_fraction(self.packs * voltage, *self.levels)
        if self.runtime is not None:
            charge, runtime = self.runtime.update(self.clock(), online, self._number("ups.load"), fraction)
            self.state.set_info("battery.charge", charge)
            if runtime is not None:
                self.state.set_info("battery.runtime", runtime)
        elif fraction is not None:
            self.state.set_info("battery.charge", f"{100 * fraction:.0f}")

    async def instcmd(self, name: str, param: str | None) -> int:
        """Send a command's wire string; no reply or the dialect's ``accepted`` reply means the UPS took it."""
        build = self.dialect.commands.get(name)
        if build is None:
            logger.info("%s: command %s unavailable", self.config.ups, name)
            return STAT_INVALID  # as NUT 2.8.0's nutdrv_qx answers a command its dialect does not have
        try:
            wire = build(self.delays, param)
        except CommandError as exc:
            logger.error("%s: %s", name, exc)
            return STAT_FAILED  # as NUT 2.8.0 answers a parameter its preprocessing refuses
        try:
            reply = (await self._ask(wire)).rstrip("\r")
        except DeviceError as exc:
            logger.error("%s: %s", name, exc)
            return STAT_FAILED
        accepted = self.dialect.accepted
        if reply and not (accepted and reply.upper() == accepted.upper()):
            logger.error("%s: the UPS refused %r (%r)", name, wire.rstrip("\r"), reply)
            return STAT_FAILED
        logger.info("instant command %s sent (%r)", name, wire.rstrip("\r"))
        return STAT_HANDLED

    async def setvar(self, name: str, value: str) -> int:
        """ups.delay.shutdown / ups.delay.start, within NUT's ranges and truncated to what the UPS takes.

        Out of range is STAT_INVALID here; NUT 2.8.0 answers "unknown" (its own TODO says it should not).
        """
        if name not in DELAY_RANGES:
            return STAT_UNKNOWN
        try:
            seconds = self.delays.set(name, value)
        except CommandError as exc:
            logger.error("%s", exc)
            return STAT_INVALID
        self.state.set_info(name, str(seconds))
        return STAT_HANDLED

    async def shutdown(self) -> None:
        """Cancel a pending shutdown, then shut down with return (or stay off with ``stayoff``), as NUT: each tried
        three times, with the delays from ups.conf."""
        self._apply_delay_options()
        for _ in range(TRIES):
            if await self.instcmd("shutdown.stop", None) == STAT_HANDLED:
                break
        else:
            logger.info("No shutdown pending")
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
