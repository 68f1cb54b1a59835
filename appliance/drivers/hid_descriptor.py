"""HID report descriptors for usbhid-ups: items in, NUT-style usage paths and value conversion out (pure).

:func:`parse_descriptor` walks the short items of a report descriptor (USB HID 1.11 §6.2.2) with the global
state (usage page, logical/physical ranges, unit and exponent, report size/count/ID, PUSH/POP) and the local
state (usages, usage ranges), and gives one :class:`HidField` per data field of every Input, Output and
Feature report. Each field carries its usage path, named as NUT 2.8.0 names it: one node per enclosing
collection plus the field's own usage, e.g. ``UPS.PowerSummary.PresentStatus.ACPresent``. A node without a name
is written as 8 hex digits (``ff860060``); a vendor-defined collection type (0x80-0xFF) adds an index node
``[n]``, as NUT's hidparser.c does.

Usage assignment follows NUT's hidparser.c: the fields of one main item take the listed usages in order, one
each; the rest of its Report Count is padding (the bits count toward offsets and report lengths, no
:class:`HidField`). Usage ranges, which NUT 2.8.0 ignores, give their usages after the listed ones. A descriptor
with no field at all is refused, as NUT refuses the device.

Values follow NUT's libhid.c: :func:`extract` reads the bits of a field from a report (masked to the logical
range's width, sign-extended when LogMin < 0, clamped to [LogMin, LogMax]); :func:`to_physical` scales by the
physical range when both ends are given and not both 0, then by 10^(UnitExp - k) with k = 7 for the Volt and
VA/W units (NUT's table), else 0. :func:`to_logical` and :func:`insert` go the other way for SET_REPORT.

A truncated or lying descriptor raises :class:`DescriptorError` naming the byte offset; nothing here can
crash on device bytes or allocate without bound.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

logger = logging.getLogger(__name__)

REPORT_INPUT = 1
REPORT_OUTPUT = 2
REPORT_FEATURE = 3
REPORT_TYPE_NAMES = {REPORT_INPUT: "Input", REPORT_OUTPUT: "Output", REPORT_FEATURE: "Feature"}

MAX_REPORT_BITS = 8 * 4096
"""No report of a real UPS comes near this; a descriptor claiming more is lying."""
MAX_FIELDS = 8192
MAX_DEPTH = 32
"""Collection nesting and PUSH depth we accept (NUT's PATH_SIZE is 10)."""

# Units whose exponent NUT corrects by 7 (libhid.c HIDUnits): Volt and VA/W as the HID PDC spec codes them.
UNIT_EXPONENT_CORRECTION = {0x00F0D121: 7, 0x0000D121: 7}

# Usage names of the HID Power Device (0x84) and Battery System (0x85) pages, as the HID PDC 1.0 spec
# (and NUT's libhid.c table) spells them. Stored as page -> {id: name}.
_POWER_DEVICE = {
    0x00: "Undefined", 0x01: "iName", 0x02: "PresentStatus", 0x03: "ChangedStatus", 0x04: "UPS",
    0x05: "PowerSupply", 0x10: "BatterySystem", 0x11: "BatterySystemID", 0x12: "Battery", 0x13: "BatteryID",
    0x14: "Charger", 0x15: "ChargerID", 0x16: "PowerConverter", 0x18: "OutletSystem", 0x19: "OutletSystemID",
    0x1A: "Input", 0x1B: "InputID", 0x1C: "Output", 0x1D: "OutputID", 0x1E: "Flow", 0x1F: "FlowID",
    0x20: "Outlet", 0x21: "OutletID", 0x22: "Gang", 0x23: "GangID", 0x24: "PowerSummary",
    0x25: "PowerSummaryID", 0x30: "Voltage", 0x31: "Current", 0x32: "Frequency", 0x33: "ApparentPower",
    0x34: "ActivePower", 0x35: "PercentLoad", 0x36: "Temperature", 0x37: "Humidity", 0x38: "BadCount",
    0x40: "ConfigVoltage", 0x41: "ConfigCurrent", 0x42: "ConfigFrequency", 0x43: "ConfigApparentPower",
    0x44: "ConfigActivePower", 0x45: "ConfigPercentLoad", 0x46: "ConfigTemperature", 0x47: "ConfigHumidity",
    0x50: "SwitchOnControl", 0x51: "SwitchOffControl", 0x52: "ToggleControl", 0x53: "LowVoltageTransfer",
    0x54: "HighVoltageTransfer", 0x55: "DelayBeforeReboot", 0x56: "DelayBeforeStartup",
    0x57: "DelayBeforeShutdown", 0x58: "Test", 0x59: "ModuleReset", 0x5A: "AudibleAlarmControl",
    0x60: "Present", 0x61: "Good", 0x62: "InternalFailure", 0x63: "VoltageOutOfRange",
    0x64: "FrequencyOutOfRange", 0x65: "Overload", 0x66: "OverCharged", 0x67: "OverTemperature",
    0x68: "ShutdownRequested", 0x69: "ShutdownImminent", 0x6C: "Switchable", 0x6D: "Used", 0x6E: "Boost",
    0x6F: "Buck", 0x70: "Initialized", 0x71: "Tested", 0x72: "AwaitingPower", 0x73: "CommunicationLost",
    0xFD: "iManufacturer", 0xFE: "iProduct", 0xFF: "iSerialNumber",
}  # fmt: skip
_BATTERY_SYSTEM = {
    0x00: "Undefined", 0x01: "SMBBatteryMode", 0x02: "SMBBatteryStatus", 0x03: "SMBAlarmWarning",
    0x04: "SMBChargerMode", 0x05: "SMBChargerStatus", 0x06: "SMBChargerSpecInfo", 0x07: "SMBSelectorState",
    0x08: "SMBSelectorPresets", 0x09: "SMBSelectorInfo", 0x10: "OptionalMfgFunction1",
    0x11: "OptionalMfgFunction2", 0x12: "OptionalMfgFunction3", 0x13: "OptionalMfgFunction4",
    0x14: "OptionalMfgFunction5", 0x15: "ConnectionToSMBus", 0x16: "OutputConnection",
    0x17: "ChargerConnection", 0x18: "BatteryInsertion", 0x19: "Usenext", 0x1A: "OKToUse",
    0x1B: "BatterySupported", 0x1C: "SelectorRevision", 0x1D: "ChargingIndicator", 0x28: "ManufacturerAccess",
    0x29: "RemainingCapacityLimit", 0x2A: "RemainingTimeLimit", 0x2B: "AtRate", 0x2C: "CapacityMode",
    0x2D: "BroadcastToCharger", 0x2E: "PrimaryBattery", 0x2F: "ChargeController", 0x40: "TerminateCharge",
    0x41: "TerminateDischarge", 0x42: "BelowRemainingCapacityLimit", 0x43: "RemainingTimeLimitExpired",
    0x44: "Charging", 0x45: "Discharging", 0x46: "FullyCharged", 0x47: "FullyDischarged",
    0x48: "ConditioningFlag", 0x49: "AtRateOK", 0x4A: "SMBErrorCode", 0x4B: "NeedReplacement",
    0x60: "AtRateTimeToFull", 0x61: "AtRateTimeToEmpty", 0x62: "AverageCurrent", 0x63: "Maxerror",
    0x64: "RelativeStateOfCharge", 0x65: "AbsoluteStateOfCharge", 0x66: "RemainingCapacity",
    0x67: "FullChargeCapacity", 0x68: "RunTimeToEmpty", 0x69: "AverageTimeToEmpty", 0x6A: "AverageTimeToFull",
    0x6B: "CycleCount", 0x80: "BattPackModelLevel", 0x81: "InternalChargeController",
    0x82: "PrimaryBatterySupport", 0x83: "DesignCapacity", 0x84: "SpecificationInfo",
    0x85: "ManufacturerDate", 0x86: "SerialNumber", 0x87: "iManufacturerName", 0x88: "iDevicename",
    0x89: "iDeviceChemistry", 0x8A: "ManufacturerData", 0x8B: "Rechargeable", 0x8C: "WarningCapacityLimit",
    0x8D: "CapacityGranularity1", 0x8E: "CapacityGranularity2", 0x8F: "iOEMInformation",
    0xC0: "InhibitCharge", 0xC1: "EnablePolling", 0xC2: "ResetToZero", 0xD0: "ACPresent",
    0xD1: "BatteryPresent", 0xD2: "PowerFail", 0xD3: "AlarmInhibited", 0xD4: "ThermistorUnderRange",
    0xD5: "ThermistorHot", 0xD6: "ThermistorCold", 0xD7: "ThermistorOverRange", 0xD8: "VoltageOutOfRange",
    0xD9: "CurrentOutOfRange", 0xDA: "CurrentNotRegulated", 0xDB: "VoltageNotRegulated", 0xDC: "MasterMode",
    0xF0: "ChargerSelectorSupport", 0xF1: "ChargerSpec", 0xF2: "Level2", 0xF3: "Level3",
}  # fmt: skip
STANDARD_USAGES: dict[int, str] = {
    **{0x00840000 | usage: name for usage, name in _POWER_DEVICE.items()},
    **{0x00850000 | usage: name for usage, name in _BATTERY_SYSTEM.items()},
}
"""Usage (page << 16 | id) -> name for the standard pages; a subdriver adds its vendor usages."""

INDEX_NODE = 0x00FF0000
"""Path nodes ``0x00ffNNNN`` are the index ``[NNNN]`` of a vendor-defined collection type (NUT's convention)."""


class HidError(ValueError):
    """Device bytes that do not make sense (descriptor or report); the message says where."""


class DescriptorError(HidError):
    """A report descriptor that is truncated or contradicts itself."""


class ReportError(HidError):
    """A report too short for the field read from it, or a value that does not fit."""


@dataclass(frozen=True)
class HidField:
    """One data field of a report: where its bits are and how to read them.

    ``offset`` counts bits from the first data byte (after the report ID byte, when IDs are used).
    ``physical_min``/``physical_max`` are None when the descriptor never set them.
    """

    path: str
    nodes: tuple[int, ...]
    report_type: int
    report_id: int
    offset: int
    size: int
    logical_min: int
    logical_max: int
    physical_min: int | None
    physical_max: int | None
    unit: int
    unit_exponent: int
    attributes: int

    @property
    def is_constant(self) -> bool:
        """True for a Constant field (attribute bit 0)."""
        return bool(self.attributes & 1)

    def describe(self) -> str:
        """One line for debug logs, NUT's -DD wording."""
        kind = REPORT_TYPE_NAMES.get(self.report_type, "?")
        where = f"ReportID: 0x{self.report_id:02x}, Offset: {self.offset}, Size: {self.size}"
        return f"Path: {self.path}, Type: {kind}, {where}"


@dataclass
class ReportDescriptor:
    """A parsed report descriptor: its fields and the report sizes they imply."""

    fields: list[HidField]
    uses_report_ids: bool
    report_bits: dict[tuple[int, int], int] = field(default_factory=dict)
    """(report ID, type) -> bits of the report, padding included."""

    def find(self, path: str, report_type: int = REPORT_FEATURE) -> HidField | None:
        """The first field of ``report_type`` with usage path ``path`` (case-sensitive, as NUT), or None."""
        for item in self.fields:
            if item.report_type == report_type and item.path == path:
                return item
        return None

    def fields_of(self, report_id: int, report_type: int) -> Iterator[HidField]:
        """The fields carried by one report."""
        return (f for f in self.fields if f.report_id == report_id and f.report_type == report_type)

    def report_length(self, report_id: int, report_type: int) -> int:
        """Bytes of the report (padding included), with the ID byte when IDs are used (0 for an unknown report)."""
        bits = max((f.offset + f.size for f in self.fields_of(report_id, report_type)), default=0)
        if bits == 0:
            return 0
        bits = max(bits, self.report_bits.get((report_id, report_type), 0))
        return (bits + 7) // 8 + (1 if self.uses_report_ids else 0)


@dataclass
class _Globals:
    usage_page: int = 0
    logical_min: int = 0
    logical_max: int = 0
    physical_min: int | None = None
    physical_max: int | None = None
    unit: int = 0
    unit_exponent: int = 0
    report_size: int = 0
    report_id: int = 0
    report_count: int = 0


@dataclass
class _Locals:
    usages: list[int] = field(default_factory=list)
    usage_min: int | None = None
    usage_max: int | None = None

    def usage_for(self, index: int) -> int:
        """The usage of the ``index``-th field of a main item: listed usages, then a range's (0 = padding)."""
        listed = self.usages
        if index < len(listed):
            return listed[index]
        if self.usage_min is not None and self.usage_max is not None and self.usage_max >= self.usage_min:
            position = index - len(listed)
            if position <= self.usage_max - self.usage_min:
                return self.usage_min + position
        return 0

    def first(self) -> int:
        """The usage a collection takes."""
        return self.usage_for(0)


def _signed(value: int, size: int) -> int:
    """Item data of ``size`` bytes as a two's complement number (C's FormatValue)."""
    if size == 0:
        return 0
    bits = 8 * size
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _unit_exponent(value: int) -> int:
    """The unit exponent item: a 4-bit two's complement nibble (0x0E = -2), as NUT reads it."""
    value &= 0xFF
    if value >= 0x80:
        return value - 0x100
    return value - 16 if value > 7 else value


def path_name(nodes: tuple[int, ...], names: Mapping[int, str]) -> str:
    """The dotted NUT name of a usage path."""
    parts = []
    for node in nodes:
        name = names.get(node)
        if name is not None:
            parts.append(name)
        elif node & 0xFFFF0000 == INDEX_NODE:
            parts.append(f"[{node & 0xFFFF}]")
        else:
            parts.append(f"{node:08x}")
    return ".".join(parts)


def parse_descriptor(data: bytes, names: Mapping[int, str] = STANDARD_USAGES) -> ReportDescriptor:
    """Parse a report descriptor; :class:`DescriptorError` (naming the byte offset) when it is bad."""
    parser = _Parser(bytes(data), names)
    return parser.run()


class _Parser:
    """The item walk behind :func:`parse_descriptor`."""

    def __init__(self, data: bytes, names: Mapping[int, str]) -> None:
        self.data = data
        self.names = names
        self.globals = _Globals()
        self.stack: list[_Globals] = []
        self.locals = _Locals()
        self.path: list[int] = []
        self.offsets: dict[tuple[int, int], int] = {}
        self.fields: list[HidField] = []
        self.uses_report_ids = False
        self.position = 0

    def fail(self, message: str) -> DescriptorError:
        return DescriptorError(f"report descriptor byte {self.position}: {message}")

    def run(self) -> ReportDescriptor:
        data = self.data
        while self.position < len(data):
            start = self.position
            prefix = data[start]
            if prefix == 0xFE:  # long item: skipped (none are defined), but its length must be there
                if start + 2 >= len(data):
                    raise self.fail("truncated long item")
                self.position = start + 3 + data[start + 1]
                if self.position > len(data):
                    raise self.fail("truncated long item")
                continue
            size = (0, 1, 2, 4)[prefix & 3]
            if start + 1 + size > len(data):
                raise self.fail(f"truncated: item 0x{prefix:02x} needs {size} data bytes, {len(data) - start - 1} left")
            value = int.from_bytes(data[start + 1 : start + 1 + size], "little")
            kind, tag = (prefix >> 2) & 3, prefix >> 4
            if kind == 0:
                self.main(tag, value)
            elif kind == 1:
                self.global_item(tag, value, size)
            elif kind == 2:
                self.local_item(tag, value, size)
            self.position = start + 1 + size
        if self.path:
            raise self.fail(f"{len(self.path)} collection(s) never closed")
        if not self.fields:
            raise DescriptorError("report descriptor: no HID object in it")
        return ReportDescriptor(self.fields, self.uses_report_ids, dict(self.offsets))

    def main(self, tag: int, value: int) -> None:
        if tag in (0x8, 0x9, 0xB):
            self.data_item({0x8: REPORT_INPUT, 0x9: REPORT_OUTPUT, 0xB: REPORT_FEATURE}[tag], value)
        elif tag == 0xA:
            if len(self.path) >= MAX_DEPTH:
                raise self.fail(f"collections nested deeper than {MAX_DEPTH}")
            self.path.append(self.locals.first())
            if value >= 0x80:
                self.path.append(INDEX_NODE | (value & 0x7F))
        elif tag == 0xC:
            if not self.path:
                raise self.fail("END_COLLECTION without a collection")
            if self.path[-1] & 0xFFFF0000 == INDEX_NODE and len(self.path) > 1:
                self.path.pop()
            self.path.pop()
        else:
            raise self.fail(f"unknown main item tag 0x{tag:x}")
        self.locals = _Locals()

    def data_item(self, report_type: int, attributes: int) -> None:
        state = self.globals
        if state.report_size > 32:
            raise self.fail(f"report size {state.report_size} bits: more than 32 per field is not supported")
        key = (state.report_id, report_type)
        offset = self.offsets.get(key, 0)
        total = offset + state.report_size * state.report_count
        if total > MAX_REPORT_BITS:
            raise self.fail(f"report {state.report_id} would be {total} bits long")
        if len(self.fields) + state.report_count > MAX_FIELDS:
            raise self.fail(f"more than {MAX_FIELDS} fields")
        for index in range(state.report_count):
            usage = self.locals.usage_for(index)
            if usage:
                nodes = (*self.path, usage)
                self.fields.append(
                    HidField(
                        path=path_name(nodes, self.names),
                        nodes=nodes,
                        report_type=report_type,
                        report_id=state.report_id,
                        offset=offset,
                        size=state.report_size,
                        logical_min=state.logical_min,
                        logical_max=state.logical_max,
                        physical_min=state.physical_min,
                        physical_max=state.physical_max,
                        unit=state.unit,
                        unit_exponent=state.unit_exponent,
                        attributes=attributes,
                    )
                )
            offset += state.report_size
        self.offsets[key] = offset

    def global_item(self, tag: int, value: int, size: int) -> None:
        state = self.globals
        if tag == 0x0:
            state.usage_page = value & 0xFFFF
        elif tag == 0x1:
            state.logical_min = _signed(value, size)
        elif tag == 0x2:
            state.logical_max = _signed(value, size)
            if state.logical_max < state.logical_min:
                # NUT's hidparser.c hack: firmware that encodes LogMax too short overflows into the sign bit.
                logger.warning(
                    "report descriptor byte %d: LogMax %d < LogMin %d; reading it as %d",
                    self.position,
                    state.logical_max,
                    state.logical_min,
                    value,
                )
                state.logical_max = value
        elif tag == 0x3:
            state.physical_min = _signed(value, size)
        elif tag == 0x4:
            state.physical_max = _signed(value, size)
        elif tag == 0x5:
            state.unit_exponent = _unit_exponent(value)
        elif tag == 0x6:
            state.unit = value
        elif tag == 0x7:
            state.report_size = value
        elif tag == 0x8:
            if not 1 <= value <= 255:
                raise self.fail(f"report ID {value} (must be 1-255)")
            state.report_id = value
            self.uses_report_ids = True
        elif tag == 0x9:
            state.report_count = value
        elif tag == 0xA:
            if len(self.stack) >= MAX_DEPTH:
                raise self.fail(f"PUSH deeper than {MAX_DEPTH}")
            self.stack.append(replace(state))
        elif tag == 0xB:
            if not self.stack:
                raise self.fail("POP without PUSH")
            self.globals = self.stack.pop()
        else:
            raise self.fail(f"unknown global item tag 0x{tag:x}")

    def local_item(self, tag: int, value: int, size: int) -> None:
        usage = value if size == 4 else (self.globals.usage_page << 16) | (value & 0xFFFF)
        if tag == 0x0:
            if len(self.locals.usages) >= MAX_FIELDS:
                raise self.fail("too many usages")
            self.locals.usages.append(usage)
        elif tag == 0x1:
            self.locals.usage_min = usage
        elif tag == 0x2:
            self.locals.usage_max = usage
        # designators, strings and delimiters carry nothing NUT uses


# -- values ---------------------------------------------------------------------------------------


def _bit_position(item: HidField, uses_report_ids: bool) -> int:
    return item.offset + (8 if uses_report_ids else 0)


def extract(report: bytes, item: HidField, uses_report_ids: bool) -> int:
    """The logical value of ``item`` in ``report`` (ID byte first when IDs are used), NUT's GetValue."""
    start = _bit_position(item, uses_report_ids)
    end = start + item.size
    if end > 8 * len(report):
        raise ReportError(
            f"report 0x{item.report_id:02x} is {len(report)} bytes, too short for {item.path} (needs {(end + 7) // 8})"
        )
    raw = (int.from_bytes(report, "little") >> start) & ((1 << item.size) - 1)
    low, high = item.logical_min, item.logical_max
    magnitude = max(high if high >= 0 else -(high + 1), low if low >= 0 else -(low + 1))
    sign_bit = 1 << magnitude.bit_length()
    mask = (sign_bit - 1) | (sign_bit if low < 0 else 0)
    value = raw & mask
    if low < 0 and value & sign_bit:
        value -= sign_bit << 1
    return min(max(value, low), high)


def insert(report: bytearray, item: HidField, value: int, uses_report_ids: bool) -> None:
    """Write ``value`` (two's complement, low ``size`` bits) into ``item``'s bits of ``report``, NUT's SetValue."""
    start = _bit_position(item, uses_report_ids)
    if start + item.size > 8 * len(report):
        raise ReportError(f"report 0x{item.report_id:02x} is too short for {item.path}")
    mask = ((1 << item.size) - 1) << start
    whole = int.from_bytes(report, "little")
    whole = (whole & ~mask) | (((value & ((1 << item.size) - 1)) << start) & mask)
    report[:] = whole.to_bytes(len(report), "little")


def _has_physical(item: HidField) -> bool:
    low, high = item.physical_min, item.physical_max
    if low is None or high is None or (low == 0 and high == 0):
        return False
    # NUT's "paranoia": an empty or reversed range is ignored.
    return high > low and item.logical_max > item.logical_min


def exponent_of(item: HidField) -> int:
    """The power of ten a physical value is multiplied by (UnitExp less NUT's correction for V and VA/W)."""
    return item.unit_exponent - UNIT_EXPONENT_CORRECTION.get(item.unit, 0)


def to_physical(item: HidField, logical: int) -> float:
    """The value NUT publishes for a logical value: physical range, then unit exponent."""
    value = float(logical)
    if _has_physical(item):
        assert item.physical_min is not None and item.physical_max is not None
        factor = (item.physical_max - item.physical_min) / (item.logical_max - item.logical_min)
        value = (logical - item.logical_min) * factor + item.physical_min
        value = min(max(value, item.physical_min), item.physical_max)
    return value * 10.0 ** exponent_of(item)


def to_logical(item: HidField, value: float) -> int:
    """The logical value to write for a published value (the inverse of :func:`to_physical`).

    NUT truncates toward zero; we round, so that 0.1-step exponents do not turn 230 into 229.
    """
    physical = value / 10.0 ** exponent_of(item)
    if not _has_physical(item):
        return round(physical)
    assert item.physical_min is not None and item.physical_max is not None
    factor = (item.logical_max - item.logical_min) / (item.physical_max - item.physical_min)
    logical = round((physical - item.physical_min) * factor) + item.logical_min
    return min(max(logical, item.logical_min), item.logical_max)
