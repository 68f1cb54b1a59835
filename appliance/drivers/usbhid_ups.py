"""usbhid-ups: NUT's driver for HID Power Device Class UPSes on USB (drivers/usbhid-ups.c, libhid.c).

The device describes itself in its HID report descriptor (parsed by ``hid_descriptor``); a subdriver table
(``hid_subdrivers``: APC, CyberPower, Eaton/MGE, Tripp Lite) says which usage paths become which NUT variables,
status bits and commands. As in NUT 2.8.0:

- at start, each table row whose path is a Feature field of the descriptor and answers a GET_REPORT is
  taken (the first row per variable wins); commands are listed the same way, plus load.off/load.on and the
  composite shutdown.return/shutdown.stayoff when the delay commands exist;
- every ``pollinterval`` the interrupt pipe is drained (Input reports the UPS sends on its own) unless
  ``pollonly``, then a quick walk reads the status bits and timers; every ``pollfreq`` (and right after a SET
  or a command) a full walk reads everything;
- ``ups.status`` is synthesized from the collected bits (:func:`synthesize_status`), which persist between
  reports since one report rarely carries all of them;
- ``offdelay``/``ondelay`` set ups.delay.shutdown/start, which load.off.delay, shutdown.return and -k use.

USB matching, recovery and resets come from ``usb_transport.UsbConnection``: losing the device raises
:class:`DeviceError`, the runner marks the data stale and reopens the same unit (any bus/device number); the
status bits are re-read in full on the first update after a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import usb.backend

from appliance.drivers.base import Clock, DeviceError, Driver, DriverConfig, DriverState
from appliance.drivers.hid_descriptor import (
    REPORT_FEATURE,
    REPORT_INPUT,
    HidError,
    HidField,
    ReportDescriptor,
    extract,
    insert,
    parse_descriptor,
    to_logical,
    to_physical,
)
from appliance.drivers.hid_subdrivers import (
    DEFAULT_OFFDELAY,
    DEFAULT_ONDELAY,
    EXPLORE,
    HidAlarm,
    HidCommand,
    HidFlag,
    HidVariable,
    Poll,
    Quirks,
    Subdriver,
    subdriver_for,
)
from appliance.drivers.hid_subdrivers.common import number_or_none
from appliance.drivers.hid_subdrivers.model import Withdraw
from appliance.drivers.usb_transport import (
    USB_OPTIONS,
    HidTransport,
    UsbConnection,
    UsbGone,
    UsbIdentity,
    UsbMatcher,
)
from appliance.nutconf.schema import OptionSpec, check_integer
from appliance.protocol.driver_socket import STAT_FAILED, STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_EVENTS = 32
"""Interrupt packets drained per poll (NUT's MAX_EVENT_NUM)."""
DEFAULT_INTERRUPT_SIZE = 64
"""Bytes asked of the interrupt pipe (a full-speed HID packet) unless ``interruptsize`` says otherwise."""
INTERRUPT_TIMEOUT_MS = 50
COMMAND_PAUSE = 0.125
"""Between the two writes of shutdown.return/stayoff (NUT: some Tripp Lites drop commands sent faster)."""
SHUTDOWN_ORDER = ("shutdown.return", "shutdown.reboot", "load.off.delay")
"""What -k tries, in NUT's order."""


def synthesize_status(bits: Mapping[str, bool], onlinedischarge: bool = False) -> list[str]:
    """``ups.status`` tokens from the collected status bits, in NUT 2.8.0's order (ups_status_set)."""

    def has(name: str) -> bool:
        return bits.get(name, False)

    tokens = []
    if not has("online") or (has("dischrg") and onlinedischarge):
        tokens.append("OB")
    else:
        tokens.append("OL")
    if has("dischrg") and not has("depleted"):
        tokens.append("DISCHRG")
    if has("chrg") and not has("fullycharged"):
        tokens.append("CHRG")
    if has("lowbatt") or has("timelimitexp") or has("shutdownimm"):
        tokens.append("LB")
    for flag, token in (("overload", "OVER"), ("replacebatt", "RB"), ("trim", "TRIM"), ("boost", "BOOST")):
        if has(flag):
            tokens.append(token)
    if has("bypassauto") or has("bypassman"):
        tokens.append("BYPASS")
    for flag, token in (("off", "OFF"), ("cal", "CAL")):
        if has(flag):
            tokens.append(token)
    return tokens


ALARM_TEXTS = (
    ("replacebatt", "Replace battery!"),
    ("shutdownimm", "Shutdown imminent!"),
    ("fanfail", "Fan failure!"),
    ("nobattery", "No battery installed!"),
    ("battvoltlo", "Battery voltage too low!"),
    ("battvolthi", "Battery voltage too high!"),
    ("chargerfail", "Battery charger fail!"),
    ("overheat", "Temperature too high!"),
    ("commfault", "Internal UPS fault!"),
    ("awaitingpower", "Awaiting power!"),
    ("bypassauto", "Automatic bypass mode!"),
    ("bypassman", "Manual bypass mode!"),
)
"""The ``ups.alarm`` text of each status bit, in NUT 2.8.0's order (ups_alarm_set)."""


def synthesize_alarms(bits: Mapping[str, bool]) -> list[str]:
    """``ups.alarm`` texts from the collected status bits (after any vendor alarm rows, as NUT adds them)."""
    return [text for flag, text in ALARM_TEXTS if bits.get(flag, False)]


def transfer_reason(bits: Mapping[str, bool]) -> str | None:
    """input.transfer.reason from the range bits (None: delete it)."""
    if bits.get("vrange"):
        return "input voltage out of range"
    if bits.get("frange"):
        return "input frequency out of range"
    return None


@dataclass(frozen=True)
class Binding:
    """A table row bound to the descriptor field it reads and writes."""

    row: HidVariable | HidFlag | HidAlarm | HidCommand
    field: HidField


class HidDevice:
    """Blocking report I/O on one UPS: reads fields (a report once per walk) and writes them."""

    def __init__(
        self,
        transport: HidTransport,
        descriptor: ReportDescriptor,
        interrupt_only: bool = False,
        interrupt_size: int = DEFAULT_INTERRUPT_SIZE,
    ) -> None:
        self.transport = transport
        self.descriptor = descriptor
        self.interrupt_only = interrupt_only
        self.interrupt_size = interrupt_size
        self.field_type = REPORT_INPUT if interrupt_only else REPORT_FEATURE
        """The fields the tables read: Feature reports, or with ``interruptonly`` the Input reports (Powercom)."""
        self._reports: dict[tuple[int, int], bytes] = {}
        self._received: dict[int, bytes] = {}

    def new_walk(self) -> None:
        """Forget the reports read so far: the next reads ask the device again."""
        self._reports.clear()

    def report(self, report_id: int, report_type: int = REPORT_FEATURE) -> bytes:
        """The report's bytes, read once per walk; with ``interruptonly`` the last one the pipe brought (NUT
        reads zeros until then)."""
        if self.interrupt_only:
            length = self.descriptor.report_length(report_id, report_type)
            return self._received.get(report_id, bytes(length))
        key = (report_id, report_type)
        if key not in self._reports:
            length = self.descriptor.report_length(report_id, report_type)
            self._reports[key] = self.transport.get_report(report_id, length, report_type)
        return self._reports[key]

    def read(self, item: HidField) -> float:
        """The field's published value (physical, unit exponent applied)."""
        data = self.report(item.report_id, item.report_type)
        return to_physical(item, extract(data, item, self.descriptor.uses_report_ids))

    def write(self, item: HidField, value: float) -> None:
        """Set the field to ``value`` (published units): read its report, change the bits, SET_REPORT it."""
        self._reports.pop((item.report_id, item.report_type), None)
        data = bytearray(self.report(item.report_id, item.report_type))
        length = self.descriptor.report_length(item.report_id, item.report_type)
        data.extend(bytes(max(0, length - len(data))))
        if self.descriptor.uses_report_ids:
            data[0] = item.report_id
        insert(data, item, to_logical(item, value), self.descriptor.uses_report_ids)
        self._reports.pop((item.report_id, item.report_type), None)
        # NUT's SET_REPORT is always of the Feature type, even for an Input field under interruptonly.
        self.transport.set_report(item.report_id, bytes(data), REPORT_FEATURE)

    def events(self, pollonly: bool) -> list[tuple[HidField, float]]:
        """The fields and values of the Input reports waiting on the interrupt pipe."""
        if pollonly:
            return []
        found: list[tuple[HidField, float]] = []
        uses_ids = self.descriptor.uses_report_ids
        for _ in range(MAX_EVENTS):
            packet = self.transport.read_interrupt(self.interrupt_size, INTERRUPT_TIMEOUT_MS)
            if not packet:
                break
            report_id = packet[0] if uses_ids else 0
            if self.interrupt_only:
                self._received[report_id] = packet
            for item in self.descriptor.fields_of(report_id, REPORT_INPUT):
                try:
                    found.append((item, to_physical(item, extract(packet, item, uses_ids))))
                except HidError as err:
                    logger.debug("interrupt report: %s", err)
        return found


def _check_subdriver(value: str) -> str | None:
    return None if value.strip() else "an empty subdriver name matches nothing"


class UsbhidUps(Driver):
    """NUT's usbhid-ups; see the module docstring."""

    name = "usbhid-ups"
    version = "0.47"
    description = "Generic HID driver"
    options = (
        *USB_OPTIONS,
        OptionSpec("lowbatt", help="Set low battery level, in % (default=30)", check=check_integer(0, 100)),
        OptionSpec("offdelay", help="Set shutdown delay, in seconds (default=20)", check=check_integer(-1)),
        OptionSpec("ondelay", help="Set startup delay, in seconds (default=30)", check=check_integer(-1)),
        OptionSpec(
            "pollfreq",
            help="Set polling frequency, in seconds, to reduce data flow (default=30)",
            check=check_integer(1),
        ),
        OptionSpec("pollonly", takes_value=False, help="Don't use interrupt pipe, only use polling"),
        OptionSpec(
            "onlinedischarge",
            takes_value=False,
            help="Set to treat discharging while online as being offline",
        ),
        OptionSpec("subdriver", help="Use only the subdriver whose name contains this text", check=_check_subdriver),
        OptionSpec("explore", takes_value=False, help="Diagnostic matching of unsupported UPS"),
        # NUT's tweak for APC Back-UPS firmware that overflows a report: asking for the length the descriptor
        # gives each report is what we always do, so the flag is accepted and changes nothing.
        OptionSpec("maxreport", takes_value=False, help="Activate tweak for buggy APC Back-UPS firmware"),
        OptionSpec("interruptonly", takes_value=False, help="Don't use polling, only use interrupt pipe"),
        OptionSpec("interruptsize", help="Number of bytes to read from interrupt pipe", check=check_integer(1, 4096)),
    )

    reconnect_every_poll = True  # NUT's usbhid-ups tries to reconnect from every update, not with a backoff
    usb_backend: ClassVar[usb.backend.IBackend | None] = None
    """The pyusb backend (None: libusb); tests put a fake one here."""

    def __init__(self, config: DriverConfig, state: DriverState, clock: Clock = time.monotonic) -> None:
        super().__init__(config, state, clock)
        self.offdelay = int(config.option("offdelay") or DEFAULT_OFFDELAY)
        self.ondelay = int(config.option("ondelay") or DEFAULT_ONDELAY)
        pollfreq = config.option("pollfreq")
        self.pollfreq: float | None = float(pollfreq) if pollfreq else None
        self.pollonly = config.flag("pollonly")
        self.onlinedischarge = config.flag("onlinedischarge")
        self.interruptonly = config.flag("interruptonly")
        self.interruptsize = int(config.option("interruptsize") or DEFAULT_INTERRUPT_SIZE)
        self.explore = config.flag("explore")
        self.wanted_subdriver = config.option("subdriver")
        self.matcher = UsbMatcher.from_options(config.options, supported=self._is_supported)
        altsetting = config.option("usb_set_altinterface")
        self.connection = UsbConnection.pyusb(
            self.matcher, type(self).usb_backend, altsetting=int(altsetting) if altsetting else None
        )
        self.subdriver: Subdriver | None = None
        self.device: HidDevice | None = None
        self.quirks: Quirks | None = None
        self.variables: list[Binding] = []
        self.flags: list[Binding] = []
        self.alarms: list[Binding] = []
        self.commands: dict[str, Binding] = {}
        self.bits: dict[str, bool] = {}
        self._last_full: float | None = None
        self._data_changed = False
        self._lock = asyncio.Lock()
        self._logged: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------------

    def _subdriver_for(self, identity: UsbIdentity) -> Subdriver | None:
        """The subdriver for a device: NUT's explore subdriver takes any device when ``explore`` is set."""
        if self.explore:
            return EXPLORE
        return subdriver_for(identity, self.config.option("productid") is not None, self.wanted_subdriver)

    def _is_supported(self, identity: UsbIdentity) -> bool:
        return self._subdriver_for(identity) is not None

    async def _device(self, work: Callable[[], T]) -> T:
        """Run blocking USB work in a thread, one job at a time; note failures for the recovery."""
        async with self._lock:
            try:
                result = await asyncio.to_thread(work)
            except DeviceError as err:
                self.connection.failed(err)
                raise
            self.connection.answered()
            return result

    def _log_once(self, level: int, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            logger.log(level, "%s", message)

    @property
    def hid(self) -> HidDevice:
        """The open device; DeviceError when there is none."""
        if self.device is None:
            raise DeviceError("the UPS is not open")
        return self.device

    # -- hooks ------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Find the UPS by the matching options (the same unit after a loss), read and parse its descriptor."""
        await self._device(self._open)

    def _open(self) -> None:
        transport = self.connection.open()
        identity = transport.identity
        subdriver = self._subdriver_for(identity)
        if subdriver is None:  # the matcher already checked; a replugged different unit could still get here
            raise UsbGone(f"no subdriver supports {identity.describe()}")
        quirks = subdriver.quirks(identity)
        try:
            descriptor = quirks.fix_descriptor(parse_descriptor(transport.report_descriptor(), subdriver.names))
        except HidError as err:
            raise DeviceError(f"{identity.describe()}: unusable HID report descriptor: {err}") from err
        if not quirks.use_interrupt_pipe and not self.pollonly:
            self._log_once(
                logging.INFO, "interrupt pipe disabled (add 'pollonly' flag to 'ups.conf' to get rid of this message)"
            )
        logger.info(
            "Detected a UPS: %s/%s (%s, %d HID objects)",
            identity.vendor or "unknown",
            identity.product or "unknown",
            subdriver.name,
            len(descriptor.fields),
        )
        device = HidDevice(transport, descriptor, self.interruptonly, self.interruptsize)
        self.subdriver, self.device, self.quirks = subdriver, device, quirks
        self._last_full = None

    async def initinfo(self) -> None:
        """Identity variables, then NUT's init walk: bind the table rows the device has, list the commands."""
        await self._device(self._initinfo)

    def _initinfo(self) -> None:
        subdriver, device, state = self.subdriver, self.hid, self.state
        assert subdriver is not None
        identity = device.transport.identity
        state.set_info("ups.vendorid", f"{identity.vendorid:04x}")
        state.set_info("ups.productid", f"{identity.productid:04x}")
        state.set_info("ups.mfr", identity.vendor or subdriver.default_mfr)  # as read, blanks kept (NUT)
        device.new_walk()
        assert self.quirks is not None
        model = self.quirks.model(identity.product or "", DescriptorFields(self, device))
        if model is not None:
            state.set_info("ups.model", model)
        elif identity.product:
            for name, value in subdriver.product_variables(identity.product).items():
                state.set_info(name, value)
        if identity.serial and identity.serial.strip():
            state.set_info("ups.serial", identity.serial)
        state.set_info("driver.version.data", subdriver.name)
        pollfreq = self.pollfreq if self.pollfreq is not None else subdriver.pollfreq
        state.set_info("driver.parameter.pollfreq", f"{pollfreq:g}")
        device.new_walk()
        self._bind(subdriver, device)
        self._publish_settings(subdriver, device)
        self._publish_commands()
        self._apply_lowbatt()
        if self.explore:
            self._explore(device)

    def _explore(self, device: HidDevice) -> None:
        """Log every object of the descriptor with its value, as NUT's explore subdriver shows them at -DD."""
        for item in device.descriptor.fields:
            if item.report_type == device.field_type:
                value = self._try_read(device, item, logging.INFO)
                if value is not None:
                    logger.info("%s, Value: %g", item.describe(), value)

    def _readable(self, device: HidDevice, path: str) -> HidField | None:
        """The field at ``path`` when the device has it and answers for it (NUT's init check)."""
        item = device.descriptor.find(path, device.field_type)
        if item is None or self._try_read(device, item, logging.DEBUG) is None:
            return None
        return item

    @staticmethod
    def _try_read(device: HidDevice, item: HidField, level: int) -> float | None:
        """The field's value, or None (logged at ``level``) when the device does not answer for it; a device
        gone from the bus is not an unanswered field: UsbGone goes up."""
        try:
            return device.read(item)
        except (HidError, DeviceError) as err:
            if isinstance(err, UsbGone):
                raise
            logger.log(level, "%s: not readable (%s)", item.describe(), err)
            return None

    def _bind(self, subdriver: Subdriver, device: HidDevice) -> None:
        self.variables, self.flags, self.commands = [], [], {}
        taken: set[str] = set()
        for variable in subdriver.variables:
            if variable.name in taken:
                continue
            item = self._readable(device, variable.path)
            if item is not None:
                self.variables.append(Binding(variable, item))
                # As NUT: a row whose value has no text (its conversion said nothing) leaves the variable to
                # the next row of the same name, while still being read on each walk.
                if self._publish_variable(variable, device.read(item)):
                    taken.add(variable.name)
        for flag in subdriver.flags:
            item = self._readable(device, flag.path)
            if item is not None:
                self.flags.append(Binding(flag, item))
                self._set_bit(flag, device.read(item))
        self.alarms = [
            Binding(alarm, item) for alarm in subdriver.alarms if (item := self._readable(device, alarm.path))
        ]
        for command in subdriver.commands:
            if command.name not in self.commands:
                item = self._readable(device, command.path)
                if item is not None:
                    self.commands[command.name] = Binding(command, item)

    def _publish_variable(self, variable: HidVariable, value: float) -> bool:
        """Publish a variable's value (vendor quirks first, a string index looked up) with its RW type;
        False when the value has no text (nothing published, or the conversion withdrew the variable)."""
        name, conversion, quirks = variable.name, variable.conversion, self.quirks
        assert quirks is not None
        text: str | Withdraw | None = quirks.fixed.get(name)
        if text is None:
            value = quirks.adjust(name, value, self.state.get)
            if conversion is not None and conversion.string_index:
                text = self._string(int(value))
            else:
                text = variable.text_on(quirks, value, self.state.get)
        if text is Withdraw.VARIABLE:
            self.state.del_info(name)
        if not isinstance(text, str):
            return False
        self.state.set_info(name, text)
        if variable.writable:
            self.state.set_flags(name, ("RW", "STRING"))
            self.state.set_aux(name, variable.length)
            if variable.enum and conversion is not None:
                for choice in conversion.choices(quirks, self.state.get):
                    self.state.add_enum(name, choice)
        return True

    def _string(self, index: int) -> str:
        try:
            return self.hid.transport.string(index).strip() if index else ""
        except DeviceError as err:
            logger.debug("string %d: %s", index, err)
            return ""

    def _publish_settings(self, subdriver: Subdriver, device: HidDevice) -> None:
        values = {"offdelay": str(self.offdelay), "ondelay": str(self.ondelay)}
        for setting in subdriver.settings:
            if setting.name in self.state or device.descriptor.find(setting.path) is None:
                continue
            self.state.set_info(setting.name, values.get(setting.option or "", setting.default))
            self.state.set_flags(setting.name, ("RW", "STRING"))
            self.state.set_aux(setting.name, setting.length)

    def _publish_commands(self) -> None:
        names = set(self.commands)
        if "load.off.delay" in names:
            names.add("load.off")
        if "load.on.delay" in names:
            names.add("load.on")
        if {"load.off.delay", "load.on.delay"} <= names:
            names |= {"shutdown.return", "shutdown.stayoff"}
        for name in sorted(names):
            self.state.add_command(name)

    def _apply_lowbatt(self) -> None:
        lowbatt = self.config.option("lowbatt")
        if lowbatt is not None and "battery.charge.low" in self.state:
            self.state.set_info("battery.charge.low", str(int(lowbatt)))

    async def update(self) -> float | None:
        """Drain the interrupt pipe, walk (full every pollfreq or after a change, else quick), set the status."""
        await self._device(self._update)
        return None

    def _update(self) -> None:
        device, subdriver = self.hid, self.subdriver
        assert subdriver is not None
        assert self.quirks is not None
        for item, value in device.events(self.pollonly or not self.quirks.use_interrupt_pipe):
            self._apply_event(item, value)
        now = self.clock()
        pollfreq = self.pollfreq if self.pollfreq is not None else subdriver.pollfreq
        full = self._last_full is None or now - self._last_full >= pollfreq or self._data_changed
        device.new_walk()
        if full:
            self.state.alarm_init()
        self._walk(full)
        if full:
            self._last_full = now
            self._data_changed = False
            for text in synthesize_alarms(self.bits):
                self.state.alarm_set(text)
            self.state.alarm_commit()
        self._commit_status()

    def _walk(self, full: bool) -> None:
        """Read the bound rows of this walk; raise the last error when nothing at all could be read."""
        polls = {Poll.FULL, Poll.QUICK} | ({Poll.SEMI_STATIC} if self._data_changed else set())
        read = failed = 0
        last_error: DeviceError | None = None
        # Variables before status bits, as in NUT's tables: a vendor's bit rule may depend on a variable row
        # read in the same walk (mge-hid.c's Charger.ABMEnable decides how Charging/Discharging count).
        for binding in (*self.variables, *self.flags, *(self.alarms if full else ())):
            row = binding.row
            poll = row.poll if isinstance(row, (HidVariable, HidFlag)) else Poll.FULL
            if (full and poll not in polls) or (not full and poll is not Poll.QUICK):
                continue
            try:
                value = self.hid.read(binding.field)
            except UsbGone:
                raise
            except DeviceError as err:
                failed, last_error = failed + 1, err
                self._log_once(logging.WARNING, f"{binding.field.path}: {err}")
                continue
            except HidError as err:
                self._log_once(logging.WARNING, f"{binding.field.path}: {err}")
                continue
            read += 1
            self._apply(row, value)
        if failed and not read and last_error is not None:
            raise last_error

    def _apply(self, row: HidVariable | HidFlag | HidAlarm | HidCommand, value: float) -> None:
        if isinstance(row, HidFlag):
            self._set_bit(row, value)
        elif isinstance(row, HidVariable):
            self._publish_variable(row, value)
        elif isinstance(row, HidAlarm) and (text := row.texts.get(int(value))):
            self.state.alarm_set(text)

    def _apply_event(self, item: HidField, value: float) -> None:
        """An Input report value: it updates whatever reads the same usage path (NUT maps events by path)."""
        for binding in (*self.variables, *self.flags):
            if binding.field.path == item.path:
                self._apply(binding.row, value)

    def _set_bit(self, flag: HidFlag, value: float) -> None:
        flag.apply(value, self.bits, self.quirks)

    def _commit_status(self) -> None:
        state = self.state
        state.status_init()
        for token in synthesize_status(self.bits, self.onlinedischarge):
            state.status_set(token)
        state.status_commit()
        reason = transfer_reason(self.bits)
        if reason is None:
            state.del_info("input.transfer.reason")
        else:
            state.set_info("input.transfer.reason", reason)
        if self.bits.get("online") and self.bits.get("dischrg") and not self.onlinedischarge:
            self._log_once(
                logging.WARNING,
                "the UPS reports OL+DISCHRG: is it calibrating, or do you want the 'onlinedischarge' option?",
            )

    # -- commands and settings --------------------------------------------------------------------

    async def instcmd(self, name: str, param: str | None) -> int:
        """NUT's instcmd: a table command writes its value; load.on/off and shutdown.* are composites."""
        name = name.lower()
        if name in ("beeper.on", "beeper.off") and name not in self.commands:
            return await self.instcmd("beeper.enable" if name == "beeper.on" else "beeper.disable", param)
        if name in self.commands:
            return await self._write_command(name, param)
        delays = {"shutdown": self.state.get("ups.delay.shutdown"), "start": self.state.get("ups.delay.start")}
        if name == "load.off" and "load.off.delay" in self.commands:
            return await self._write_command("load.off.delay", "0")
        if name == "load.on" and "load.on.delay" in self.commands:
            return await self._write_command("load.on.delay", "0")
        if name in ("shutdown.return", "shutdown.stayoff") and {"load.on.delay", "load.off.delay"} <= set(
            self.commands
        ):
            start = delays["start"] if name == "shutdown.return" else "-1"
            status = await self._write_command("load.on.delay", start)
            if status != STAT_HANDLED:
                return status
            await asyncio.sleep(COMMAND_PAUSE)
            return await self._write_command("load.off.delay", delays["shutdown"])
        logger.info("instcmd: %s is not supported by this UPS", name)
        return STAT_UNKNOWN if name not in self.state.commands() else STAT_INVALID

    def _delay_value(self, command_value: str) -> str:
        """A table value naming a delay: the published ups.delay.* (offdelay/ondelay) instead."""
        # NUT 2.8.0 writes its table default (20/30) for a bare load.off.delay/load.on.delay even when
        # offdelay/ondelay say otherwise; we use the configured delays, as the documentation promises.
        if command_value == "offdelay":
            return self.state.get("ups.delay.shutdown") or str(self.offdelay)
        if command_value == "ondelay":
            return self.state.get("ups.delay.start") or str(self.ondelay)
        return command_value

    async def _write_command(self, name: str, param: str | None) -> int:
        binding = self.commands[name]
        assert isinstance(binding.row, HidCommand)
        text = param if param is not None else self._delay_value(binding.row.value)
        value = number_or_none(text)
        if value is None:
            logger.info("instcmd %s: %r is not a number", name, text)
            return STAT_INVALID
        logger.info("instcmd: %s (%s = %s)", name, binding.field.path, text)
        if not await self._write(binding.field, value):
            return STAT_FAILED
        return STAT_HANDLED

    async def _write(self, item: HidField, value: float) -> bool:
        try:
            await self._device(lambda: self.hid.write(item, value))
        except (DeviceError, HidError) as err:
            logger.error("writing %s failed: %s", item.path, err)
            return False
        self._data_changed = True
        return True

    async def setvar(self, name: str, value: str) -> int:
        """SET of a writable variable: server-side delays are kept here, the others written to the UPS."""
        assert self.subdriver is not None
        for setting in self.subdriver.settings:
            if setting.name == name and name in self.state:
                self.state.set_info(name, value)
                return STAT_HANDLED
        for binding in self.variables:
            row = binding.row
            if not isinstance(row, HidVariable) or row.name != name:
                continue
            if not row.writable:
                return STAT_UNKNOWN
            quirks = self.quirks
            assert quirks is not None
            conversion = row.conversion
            number = conversion.number_on(quirks, value, self.state.get) if conversion else number_or_none(value)
            if number is None:
                logger.info("setvar: %r is not a valid value of %s", value, name)
                return STAT_INVALID
            return STAT_HANDLED if await self._write(binding.field, number) else STAT_FAILED
        return STAT_UNKNOWN

    async def shutdown(self) -> None:
        """-k: shutdown.return, else shutdown.reboot, else load.off.delay (NUT's order)."""
        for command in SHUTDOWN_ORDER:
            if await self.instcmd(command, None) == STAT_HANDLED:
                logger.info("shutdown: %s sent", command)
                return
        raise DeviceError("Shutdown failed!")

    async def close(self) -> None:
        """Release the device."""
        self.device = None
        await asyncio.to_thread(self.connection.close)


class DescriptorFields:
    """The device's fields as :meth:`Quirks.model` reads them before the first walk (NUT's HIDGetItem*)."""

    def __init__(self, driver: UsbhidUps, device: HidDevice) -> None:
        self.driver = driver
        self.device = device

    def value(self, path: str) -> float | None:
        """The value at ``path``; None when the descriptor lacks it or the device does not answer."""
        item = self.driver._readable(self.device, path)
        return None if item is None else self.device.read(item)

    def text(self, path: str) -> str:
        """The string a string-index field points at; "" when absent."""
        index = self.value(path)
        return self.driver._string(int(index)) if index else ""
