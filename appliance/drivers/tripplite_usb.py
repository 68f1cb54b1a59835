"""tripplite_usb: NUT's driver for Tripp Lite OMNIVS / SMART units on USB ID 09ae:0001 (drivers/tripplite_usb.c).

The unit speaks a small command protocol over HID: each command goes out as an 8-byte Feature SET_REPORT
(``:`` + up to 4 payload bytes + checksum ``255 - sum(payload)`` + CR, zero padded) and the answer comes back
on interrupt IN as 8 bytes whose first byte repeats the command letter. An unsupported command makes the unit
repeat its previous answer, so a wrong letter means "no answer". The protocol number (answer to the NUL
command) says how to read the rest: 0004, 3003, 3005 (binary numbers) and 3017 are the "smart" family, 1001 and
2001 the OMNIVS one; everything else is hex ASCII.

Published as NUT 2.8.0 does (ups.debug.* carry raw answers, as hexascdump prints them), plus what later NUT
releases added and the issue asks for: protocol 3017, the ``upsid`` option (take only the unit whose Unit ID
matches) and ``busport``. Deliberate differences from NUT 2.8.0 are marked "NUT differs" below.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import usb.backend

from appliance.drivers.base import Clock, DeviceError, Driver, DriverConfig, DriverState
from appliance.drivers.usb_transport import (
    REPORT_FEATURE,
    USB_OPTIONS,
    HidTransport,
    PyusbHidTransport,
    UsbConnection,
    UsbIdentity,
    UsbMatcher,
    UsbStall,
    UsbTimeout,
)
from appliance.nutconf.schema import OptionSpec, check_integer
from appliance.protocol.driver_socket import STAT_FAILED, STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN

logger = logging.getLogger(__name__)

TRIPPLITE_VENDORID = 0x09AE
DEVICE_TABLE = {TRIPPLITE_VENDORID: frozenset({0x0001})}
FRAME_LENGTH = 8
MAX_PAYLOAD = 4
CR = 0x0D
DEFAULT_OFFDELAY = 64
DEFAULT_BATTERY_MIN = 11.0
DEFAULT_BATTERY_MAX = 13.4
SEND_TRIES = 10
RECV_TRIES = 10
RECV_TIMEOUT_MS = 1000
SETTLE_SECONDS = 0.1
SILENT_SEND_LIMIT = 3
SHUTDOWN_PAUSE = 2.0

PROTOCOL_NAMES = {
    0x0004: "older SMART",
    0x1001: "OMNIVS",
    0x2001: "OMNIVS 2001",
    0x3003: "SMARTPRO",
    0x3005: "binary SMART",
    0x3017: "(mostly) ASCII SMART",
}
SMART = frozenset({0x0004, 0x3003, 0x3005, 0x3017})
OMNIVS = frozenset({0x1001, 0x2001})
BINARY = frozenset({0x3005})
# V[1] input-voltage code -> (nominal, scale) as NUT 2.8.0 reads it; 2 and 6 are the binary codes (3005).
# (NUT 2.8.3+ reads 0-7 as 100/110/120/127/208/220/230/240 for the ASCII smart protocols; the DDL's US
# SMART3000RM2U says '1' with a 120 V nominal, which 2.8.0's table gets right.)
INPUT_RANGES = {
    ord("0"): (100, 100),
    2: (120, 120),
    ord("1"): (120, 120),
    ord("2"): (230, 230),
    ord("3"): (208, 230),
    6: (230, 230),
}
OMNIVS_STATUS = {"0": "OL", "1": "OB", "2": "BYPASS"}
BATTERY_TEST_STATUS = {
    "0": "Battery OK",
    "1": "Battery bad - replace",
    "3": "Overcurrent?",
    "5": "Battery fail - overcurrent?",
}


# -- framing and numbers (pure) -----------------------------------------------------------------


def checksum(payload: bytes) -> int:
    """The frame checksum: 255 minus the byte sum of the payload, modulo 256."""
    return (255 - sum(payload)) & 0xFF


def frame(payload: bytes) -> bytes:
    """The 8-byte SET_REPORT for a command: ``:`` payload checksum CR, zero padded."""
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"a command is 1 to {MAX_PAYLOAD} bytes, not {len(payload)}")
    return (b":" + payload + bytes([checksum(payload), CR])).ljust(FRAME_LENGTH, b"\0")


def _strtol(data: bytes, base: int) -> int:
    """C's strtol on a byte string: blanks, a sign, digits up to the first other byte; 0 when none."""
    text = data.split(b"\0", 1)[0].decode("latin-1").lstrip(" \t\n\r\f\v")
    sign = -1 if text[:1] == "-" else 1
    text = text[1:] if text[:1] in ("-", "+") else text
    if base == 16 and text[:2].lower() == "0x" and len(text) > 2 and text[2] in "0123456789abcdefABCDEF":
        text = text[2:]
    digits = "0123456789abcdef"[:base]
    count = 0
    while count < len(text) and text[count].lower() in digits:
        count += 1
    return sign * int(text[:count], base) if count else 0


def hex_number(data: bytes) -> int:
    """Hex ASCII digits as NUT's hex2d reads them (strtol base 16)."""
    return _strtol(data, 16)


def decimal_number(data: bytes) -> int:
    """Decimal ASCII digits as strtol base 10 reads them."""
    return _strtol(data, 10)


def binary_number(data: bytes) -> int:
    """Big-endian binary bytes."""
    return int.from_bytes(data, "big")


def c_div(numerator: int, denominator: int) -> int:
    """C's integer division (it truncates toward zero; Python's // floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def printable(data: bytes) -> str:
    """NUT's toprint(): ASCII letters and digits as they are, every other byte as '.'."""
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else "." for b in data)


def hexascdump(data: bytes) -> str:
    """NUT's ups.debug.* form: each byte as hex, then the bytes quoted through :func:`printable`."""
    return "".join(f"{b:02x} " for b in data) + f"'{printable(data)}'"


def battery_charge(bv12: float, low: float, high: float) -> int:
    """State of charge from the voltage of a 12 V block: 10 at ``low``, 100 at ``high``, a square root between."""
    if bv12 >= high:
        return 100
    if bv12 <= low:
        return 10
    return int(100 * math.sqrt((bv12 - low) / (high - low)))


# -- what a protocol means (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A protocol number and what follows from it."""

    protocol: int

    @property
    def is_known(self) -> bool:
        """One of the protocols NUT knows."""
        return self.protocol in PROTOCOL_NAMES

    @property
    def is_smart(self) -> bool:
        """The SMART family (0004, 3003, 3005, 3017)."""
        return self.protocol in SMART

    @property
    def is_omnivs(self) -> bool:
        """The OMNIVS family (1001, 2001)."""
        return self.protocol in OMNIVS

    @property
    def is_binary(self) -> bool:
        """Numbers are binary (3005) rather than hex ASCII."""
        return self.protocol in BINARY

    def number(self, data: bytes) -> int:
        """A number in this protocol's encoding."""
        return binary_number(data) if self.is_binary else hex_number(data)


@dataclass(frozen=True)
class Configuration:
    """What the ``V`` answer says: input range, battery voltage and switchable load banks."""

    input_nominal: int = 120
    input_scaled: int = 120
    battery_nominal: int = 12
    load_banks: int = 0


def decode_configuration(v: bytes, model: Model) -> tuple[Configuration, list[str]]:
    """Decode a ``V`` answer (8 bytes); also the notes worth logging."""
    notes: list[str] = []
    battery = binary_number(v[2:4]) if model.is_binary else hex_number(v[2:4]) * 6
    nominal, scaled = INPUT_RANGES.get(v[1], (120, 120))
    if v[1] not in INPUT_RANGES:
        notes.append(f"Unknown input voltage range: 0x{v[1]:02x}")
    banks_byte = v[4]
    banks = 0
    if ord("0") <= banks_byte <= ord("9"):
        banks = banks_byte - ord("0")
    elif model.is_binary:
        banks = banks_byte
    elif banks_byte != ord("X"):
        notes.append(f"Unknown number of switchable load banks: 0x{banks_byte:02x}")
    return Configuration(nominal, scaled, battery, banks), notes


@dataclass
class Status:
    """What the ``S`` answer says: status tokens, the battery test result, and what could not be read."""

    tokens: list[str] = field(default_factory=list)
    test_status: str | None = None
    problems: list[str] = field(default_factory=list)
    """Values NUT does not know: the data is stale."""
    warnings: list[str] = field(default_factory=list)
    """Odd values NUT only logs."""


def decode_status(s: bytes, model: Model) -> Status:
    """Decode an ``S`` answer (8 bytes) the way NUT 2.8.0 does."""
    status = Status()
    if model.protocol == 0x1001:
        code = chr(s[2])
        if code in OMNIVS_STATUS:
            status.tokens.append(OMNIVS_STATUS[code])
        elif code == "3":
            status.warnings.append(f"Unknown value for s[2]: 0x{s[2]:02x}")
        else:
            status.problems.append(f"Unknown value for s[2]: 0x{s[2]:02x}")
    if model.is_smart or model.protocol == 0x2001:
        code = chr(s[2] + ord("0")) if model.is_binary else chr(s[2])
        if code in BATTERY_TEST_STATUS:
            status.test_status = BATTERY_TEST_STATUS[code]
        if code == "2":
            status.tokens.append("CAL")
        elif code in "35":
            status.tokens.append("OVER")
        elif code not in "014":
            status.problems.append(f"Unknown value for s[2]: 0x{s[2]:02x}")
        status.tokens.append("OFF" if s[4] & 4 else "OB" if s[4] & 1 else "OL")
    code = chr((s[1] + ord("0")) & 0xFF) if model.is_binary else chr(s[1])
    if code == "0":
        status.tokens.append("LB")
    elif code == "2" and model.protocol == 0x3003:
        status.tokens.append("RB")
    elif code != "1":
        status.problems.append(f"Unknown value for s[1]: 0x{s[1]:02x}")
    return status


def model_name(identity: UsbIdentity) -> str:
    """ups.model: the USB product string without the vendor string in front, trimmed of spaces."""
    product, vendor = identity.product or "", identity.vendor or ""
    if vendor and product.startswith(vendor):
        product = product[len(vendor) :]
    return product.strip(" ")


def outlet_command(model: Model, outlet: int, state: int) -> list[bytes]:
    """The commands that switch ``outlet`` (0: the main relay) on (1) or off (0); [] when the protocol can't.

    NUT differs: on 3005 it builds the K command as a C string, so a 0 outlet or state cuts it short
    ("K" alone for the main relay); we send all three bytes.
    """
    if model.protocol in (0x3003, 0x0004):
        return [b"N05", f"K{outlet}{state & 1}".encode()]
    if model.protocol == 0x3005:
        return [b"N\x05", bytes([ord("K"), outlet & 0xFF, state & 1])]
    return []


# -- the exchange -------------------------------------------------------------------------------


class ReplyError(DeviceError):
    """The unit answered, but never with the command's letter."""


class TrippliteLink:
    """Command/answer exchanges with a unit over a :class:`HidTransport` (blocking; one at a time).

    NUT's rule: send, wait 100 ms, read up to 10 answers (1 s each) until one starts with the command letter;
    retry the whole thing up to 10 times. NUT differs: it keeps reading after a silent second and so spends
    up to 100 s on a unit that stopped answering; we stop reading at the first silence and give up after 3
    silent sends, so a wedged unit goes stale within one poll.
    """

    def __init__(self, transport: HidTransport, sleep: Callable[[float], None] = time.sleep) -> None:
        self.transport = transport
        self.sleep = sleep

    def exchange(self, payload: bytes) -> bytes:
        """Send one command and return its 8-byte answer; raises DeviceError when there is none."""
        out = frame(payload)
        letter = payload[0]
        last: bytes | None = None
        silent = 0
        for _ in range(SEND_TRIES):
            self.transport.set_report(0, out, REPORT_FEATURE)
            self.sleep(SETTLE_SECONDS)
            heard = False
            for _ in range(RECV_TRIES):
                reply = self.transport.read_interrupt(FRAME_LENGTH, RECV_TIMEOUT_MS)
                if reply is None:
                    break
                heard = True
                last = reply
                if len(reply) == FRAME_LENGTH and reply[0] == letter:
                    return reply
            silent = 0 if heard else silent + 1
            if silent >= SILENT_SEND_LIMIT:
                raise UsbTimeout(f"no answer to '{_show(payload)}'")
        raise ReplyError(f"no valid answer to '{_show(payload)}' (last: {hexascdump(last) if last else 'none'})")


def _show(payload: bytes) -> str:
    return payload[:1].decode("latin-1") if payload[:1].isalpha() else hexascdump(payload[:1])


# -- the driver ---------------------------------------------------------------------------------


def _check_voltage(value: str) -> str | None:
    try:
        float(value)
    except ValueError:
        return f"'{value}' is not a voltage"
    return None


def _is_supported(productid_given: bool) -> Callable[[UsbIdentity], bool]:
    """NUT's device-table rule: 09ae:0001; another Tripp Lite product only when ``productid`` is given."""

    def supported(identity: UsbIdentity) -> bool:
        products = DEVICE_TABLE.get(identity.vendorid)
        if products is None:
            return False
        return identity.productid in products or productid_given

    return supported


T = TypeVar("T")


class TrippliteUsb(Driver):
    """NUT's tripplite_usb; see the module docstring."""

    name = "tripplite_usb"
    version = "0.33"
    description = "Tripp Lite OMNIVS / SMARTPRO driver"
    options = (
        OptionSpec(
            "offdelay",
            help=f"Set shutdown delay, in seconds (default={DEFAULT_OFFDELAY})",
            check=check_integer(0, 65535),
        ),
        *USB_OPTIONS,
        OptionSpec(
            "battery_min",
            help=f"Minimum battery voltage, corresponding to 10% charge (default={DEFAULT_BATTERY_MIN:.1f})",
            check=_check_voltage,
        ),
        OptionSpec(
            "battery_max",
            help=f"Maximum battery voltage, corresponding to 100% charge (default={DEFAULT_BATTERY_MAX:.1f})",
            check=_check_voltage,
        ),
        OptionSpec("upsid", help="UPS ID (Unit ID) (default=65535)", check=check_integer(0, 65535)),
    )

    reconnect_every_poll = True  # NUT's tripplite_usb tries to reconnect from every update
    usb_backend: ClassVar[usb.backend.IBackend | None] = None
    """The pyusb backend (None: libusb); tests put a fake one here."""
    pause: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)
    """How the driver waits between a command and its answer (tests make it instant)."""

    def __init__(self, config: DriverConfig, state: DriverState, clock: Clock = time.monotonic) -> None:
        super().__init__(config, state, clock)
        self.offdelay = int(config.option("offdelay") or DEFAULT_OFFDELAY)
        self.battery_min = float(config.option("battery_min") or DEFAULT_BATTERY_MIN)
        self.battery_max = float(config.option("battery_max") or DEFAULT_BATTERY_MAX)
        upsid = config.option("upsid")
        self.wanted_unit_id = int(upsid) if upsid is not None else None
        # NUT's tripplite_usb leaves the vendorid option out: its device table decides the vendor.
        self.matcher = UsbMatcher.from_options(
            config.options,
            supported=_is_supported(config.option("productid") is not None),
            fields=("productid", "vendor", "product", "serial", "bus", "device", "busport"),
        )
        altsetting = config.option("usb_set_altinterface")
        self.connection = UsbConnection.pyusb(
            self.matcher, type(self).usb_backend, self._accept, int(altsetting) if altsetting else None
        )
        self.model = Model(0)
        self.configuration = Configuration()
        self.unit_id: int | None = None
        self._lock = asyncio.Lock()
        self._logged: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def link(self) -> TrippliteLink:
        """The exchange on the open device; DeviceError when it is not open."""
        if self.connection.transport is None:
            raise DeviceError("the UPS is not open")
        return TrippliteLink(self.connection.transport, type(self).pause)

    async def _device(self, work: Callable[[], T]) -> T:
        """Run blocking USB work in a thread, one job at a time; note failures for the recovery."""
        async with self._lock:
            try:
                return await asyncio.to_thread(work)
            except DeviceError as err:
                self.connection.failed(err)
                raise

    def _log_once(self, level: int, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            logger.log(level, "%s", message)

    def _accept(self, transport: PyusbHidTransport) -> bool:
        """``upsid``: take the unit only when its Unit ID (``U``) is the one asked for."""
        if self.wanted_unit_id is None:
            return True
        try:
            reply = TrippliteLink(transport, type(self).pause).exchange(b"U")
        except DeviceError as err:
            logger.info("Unit ID not retrieved from %s: %s", transport.identity.describe(), err)
            return False
        unit_id = binary_number(reply[1:3])
        if unit_id != self.wanted_unit_id:
            logger.info("%s has Unit ID %d, not %d", transport.identity.describe(), unit_id, self.wanted_unit_id)
        return unit_id == self.wanted_unit_id

    # -- hooks ------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Find the unit by the matching options (again the same unit after a loss) and claim it."""
        async with self._lock:
            transport = await asyncio.to_thread(self.connection.open)
        identity = transport.identity
        logger.info("Detected a UPS: %s/%s", identity.vendor or "unknown", identity.product or "unknown")
        self.state.set_info("ups.vendorid", f"{identity.vendorid:04x}")
        self.state.set_info("ups.productid", f"{identity.productid:04x}")

    async def initinfo(self) -> None:
        """NUT's init sequence: protocol, watchdog off, S, P, F, V, U; then the static variables."""
        await self._device(self._initinfo)

    def _initinfo(self) -> None:
        link, state = self.link, self.state
        try:
            proto = link.exchange(b"\0")
        except DeviceError as err:
            raise DeviceError(f"Error reading protocol: {err}") from err
        self.model = model = Model(binary_number(proto[1:3]))
        if model.is_known:
            logger.info("Using %s protocol (%04x)", PROTOCOL_NAMES[model.protocol], model.protocol)
        else:
            self._log_once(logging.WARNING, f"Unknown protocol ({model.protocol:04x})")
            state.set_info("ups.debug.0", hexascdump(proto[1:]))
        state.set_info("ups.firmware.aux", f"protocol {model.protocol:04x}")
        if model.protocol != 0x3003:  # SMARTPRO units have no watchdog
            try:
                link.exchange(b"W\0")
            except UsbStall as err:
                raise DeviceError(f"Could not reset watchdog ({err}); see if usbhid-ups works with this UPS") from err
            except DeviceError as err:
                self._log_once(logging.INFO, f"Could not reset watchdog: {err}")
        try:
            link.exchange(b"S")
        except DeviceError as err:
            raise DeviceError(f"Could not retrieve status ... is this an OMNIVS model? ({err})") from err
        state.set_info("ups.mfr", "Tripp Lite")
        p = link.exchange(b"P")
        power = decimal_number(p[1:])
        if model.protocol == 0x0004:
            state.set_info("ups.debug.P", hexascdump(p[1:]))
            power *= 10
        transport = self.connection.transport
        assert transport is not None
        state.set_info("ups.model", model_name(transport.identity))
        state.set_info("ups.power.nominal", str(power))
        firmware = link.exchange(b"F")[1:7]
        state.set_info("ups.firmware", "F" + printable(firmware))
        v = link.exchange(b"V")
        self.configuration, notes = decode_configuration(v, model)
        for note in notes:
            self._log_once(logging.WARNING, note)
        # NUT asks for V a second time, for ups.debug.V.
        state.set_info("ups.debug.V", hexascdump(link.exchange(b"V")[1:]))
        self._publish_outlets()
        if model.protocol not in (0x1001, 0x0004):
            try:
                self.unit_id = binary_number(link.exchange(b"U")[1:3])
            except DeviceError:
                self._log_once(logging.INFO, "Unit ID not retrieved (not available on all models)")
        if self.unit_id is not None:
            state.set_info("ups.id", str(self.unit_id))
            state.set_flags("ups.id", ("RW", "STRING"))
            state.set_aux("ups.id", 5)
        config = self.configuration
        state.set_info("input.voltage.nominal", str(config.input_nominal))
        state.set_info("battery.voltage.nominal", str(config.battery_nominal))
        state.set_info("ups.debug.load_banks", str(config.load_banks))
        state.set_info("ups.delay.shutdown", str(self.offdelay))
        state.set_flags("ups.delay.shutdown", ("RW", "STRING"))
        state.set_aux("ups.delay.shutdown", 3)
        if model.is_smart:
            state.add_command("test.battery.start")
            state.add_command("reset.input.minmax")
        state.add_command("shutdown.return")
        logger.info("Attached to %s %s", state.get("ups.mfr"), state.get("ups.model"))

    def _publish_outlets(self) -> None:
        banks, state = self.configuration.load_banks, self.state
        if banks <= 0:
            return
        for outlet in range(1, banks + 2):
            state.set_info(f"outlet.{outlet}.id", str(outlet))
            state.set_info(f"outlet.{outlet}.desc", f"Load {outlet}")
            switchable = outlet <= banks  # the last bank is not switchable
            state.set_info(f"outlet.{outlet}.switchable", "1" if switchable else "0")
            if switchable:
                state.set_info(f"outlet.{outlet}.switch", "1")
                state.set_flags(f"outlet.{outlet}.switch", ("RW", "STRING"))
                state.set_aux(f"outlet.{outlet}.switch", 3)
        state.add_command("load.on")
        state.add_command("load.off")

    async def update(self) -> float | None:
        """NUT's poll: S (status), B or D/M/T (voltages), L (load), then the ups.debug.* answers."""
        await self._device(self._update)
        self.connection.answered()
        return None

    def _update(self) -> None:
        link, state, model, config = self.link, self.state, self.model, self.configuration
        s = link.exchange(b"S")
        if not model.is_omnivs:
            state.set_info("ups.debug.S", hexascdump(s[1:]))
        status = decode_status(s, model)
        for warning in status.warnings:
            self._log_once(logging.WARNING, warning)
        state.status_init()
        for token in status.tokens:
            state.status_set(token)
        state.status_commit()
        if status.test_status is not None:
            state.set_info("battery.test.status", status.test_status)
        bv12 = 0.0
        if model.is_omnivs:
            b = link.exchange(b"B")
            state.set_info("input.voltage", f"{hex_number(b[1:5]) / 3600.0 * config.input_scaled:.2f}")
            bv12 = hex_number(b[5:7]) / 16.0
            state.set_info("battery.voltage", f"{bv12:.2f}")
        if model.is_smart:
            bv12 = self._update_smart(link)
        if model.is_known:
            state.set_info("battery.charge", f"{battery_charge(bv12, self.battery_min, self.battery_max):3d}")
        self._update_load(link.exchange(b"L"))
        if not model.is_omnivs:
            debug = ("D",) if model.protocol == 0x3003 else ("D", "V", "M", "T", "P")
            for letter in debug:
                state.set_info(f"ups.debug.{letter}", hexascdump(link.exchange(letter.encode())[1:]))
        if status.problems:
            # NUT marks the data stale here but then OK again at the end of the poll; we keep it stale.
            raise DeviceError("; ".join(status.problems))

    def _update_smart(self, link: TrippliteLink) -> float:
        state, model, scaled = self.state, self.model, self.configuration.input_scaled
        d = link.exchange(b"D")
        state.set_info("input.voltage", str(c_div(model.number(d[1:3]) * scaled, 120)))
        bv12 = model.number(d[3:5]) / 10.0
        state.set_info("battery.voltage", f"{bv12 * self.configuration.battery_nominal / 12.0:.2f}")
        m = link.exchange(b"M")
        if m[5] != CR:
            state.set_info("ups.debug.M", hexascdump(m[1:]))
        state.set_info("input.voltage.minimum", f"{c_div(model.number(m[1:3]) * scaled, 120):3d}")
        state.set_info("input.voltage.maximum", f"{c_div(model.number(m[3:5]) * scaled, 120):3d}")
        t = link.exchange(b"T")
        state.set_info("ups.debug.T", hexascdump(t[1:]))
        if model.protocol in (0x3003, 0x3017):
            state.set_info("input.frequency", f"{hex_number(t[3:6]) / 10.0:.1f}")
            nominal = {ord("1"): "60", ord("0"): "50"}.get(t[6])
            if nominal is not None:
                state.set_info("input.frequency.nominal", nominal)
        if model.protocol == 0x0004:
            state.set_info("input.frequency", f"{hex_number(t[3:7]) / 10.0:.1f}")
        if model.protocol == 0x3005:
            # NUT differs: it reads this binary byte as a hex digit, so it shows 0 for most temperatures.
            state.set_info("ups.temperature", str(t[1]))
        else:
            state.set_info("ups.temperature", f"{hex_number(t[1:3]) * 0.3636 - 21:.1f}")
        return bv12

    def _update_load(self, reply: bytes) -> None:
        state, model = self.state, self.model
        if model.is_omnivs:
            state.set_info("output.voltage", f"{hex_number(reply[1:5]) / 240.0 * self.configuration.input_scaled:.1f}")
        elif model.protocol in (0x3003, 0x3017, 0x0004):
            state.set_info("ups.load", str(hex_number(reply[1:3])))
        elif model.protocol == 0x3005:
            state.set_info("ups.load", str(reply[1]))
        if model.protocol == 0x0004 or not model.is_known:
            state.set_info("ups.debug.L", hexascdump(reply[1:]))

    # -- commands ---------------------------------------------------------------------------------

    async def instcmd(self, name: str, param: str | None) -> int:
        """test.battery.start, reset.input.minmax (smart), load.on/off (with load banks), shutdown.return."""
        command = name.lower()
        if not self.state.has_command(command):
            return STAT_UNKNOWN
        try:
            if command == "test.battery.start":
                await self._device(lambda: self.link.exchange(b"A"))
            elif command == "reset.input.minmax":
                # NUT differs: its check of this answer can never pass, so it always reports failure.
                await self._device(lambda: self.link.exchange(b"Z"))
            elif command in ("load.on", "load.off"):
                return STAT_HANDLED if await self._switch(0, int(command == "load.on")) else STAT_FAILED
            elif command == "shutdown.return":
                await self._soft_shutdown()
            else:
                return STAT_UNKNOWN
        except DeviceError as err:
            logger.error("%s failed: %s", command, err)
            return STAT_FAILED
        return STAT_HANDLED

    async def _switch(self, outlet: int, state: int) -> bool:
        commands = outlet_command(self.model, outlet, state)
        if not commands:
            logger.error("control_outlet unimplemented for protocol %04x", self.model.protocol)
            return False

        def run() -> None:
            for payload in commands:
                self.link.exchange(payload)

        try:
            await self._device(run)
        except DeviceError as err:
            logger.error("Could not set outlet %d to state %d: %s", outlet, state, err)
            return False
        return True

    async def _soft_shutdown(self) -> None:
        """``N`` with the delay (16-bit big-endian), 2 s, then ``G`` (works only on battery)."""
        delay = self.offdelay
        try:
            await self._device(lambda: self.link.exchange(bytes([ord("N"), delay >> 8 & 0xFF, delay & 0xFF])))
        except DeviceError as err:
            raise DeviceError(f"Could not set offdelay to {delay}: {err}") from err
        await asyncio.to_thread(type(self).pause, SHUTDOWN_PAUSE)
        try:
            await self._device(lambda: self.link.exchange(b"G"))
        except DeviceError as err:
            raise DeviceError(f"Could not turn off UPS (is it still on battery?): {err}") from err

    async def setvar(self, name: str, value: str) -> int:
        """ups.delay.shutdown, ups.id (``J``), outlet.N.switch."""
        variable = name.lower()
        if variable == "ups.delay.shutdown":
            # NUT differs: atoi() takes "abc" as 0; we refuse what is not a whole number.
            if not value.strip().isdigit() or int(value) > 65535:
                return STAT_INVALID
            self.offdelay = int(value)
            self.state.set_info("ups.delay.shutdown", str(self.offdelay))
            return STAT_HANDLED
        if variable == "ups.id" and self.unit_id is not None:
            if not value.strip().isdigit() or int(value) > 65535:
                return STAT_INVALID
            unit_id = int(value)
            try:
                await self._device(lambda: self.link.exchange(bytes([ord("J"), unit_id >> 8, unit_id & 0xFF])))
            except DeviceError as err:
                logger.error("Could not set Unit ID: %s", err)
                return STAT_FAILED
            self.unit_id = unit_id
            self.state.set_info("ups.id", value)
            return STAT_HANDLED
        parts = variable.split(".")
        if len(parts) == 3 and parts[0] == "outlet" and parts[2] == "switch" and parts[1].isdigit():
            if self.state.get(variable) is None:
                return STAT_UNKNOWN
            state = 1 if value.lower() in ("on", "1") else 0
            if not await self._switch(int(parts[1]), state):
                return STAT_FAILED
            self.state.set_info(variable, str(state))
            return STAT_HANDLED
        return STAT_UNKNOWN

    async def shutdown(self) -> None:
        """``-k``: shutdown.return (the unit turns off after offdelay and back on when power returns)."""
        await self._soft_shutdown()

    async def close(self) -> None:
        """Release the unit (resetting it first when it had stopped answering)."""
        async with self._lock:
            await asyncio.to_thread(self.connection.close)
