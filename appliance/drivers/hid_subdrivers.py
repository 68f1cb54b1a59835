"""usbhid-ups subdrivers as data: which devices each one takes, its vendor usages, and its HID-to-NUT tables.

A :class:`Subdriver` restates one of NUT 2.8.0's ``*-hid.c`` files (apc-hid.c, cps-hid.c, mge-hid.c,
tripplite-hid.c): the USB IDs it claims, the names of its vendor usages (so descriptor paths read as NUT
writes them), and its ``hid2nut`` table split in four lists:

- :class:`HidVariable`: a NUT variable read from a usage path (first path present in the descriptor wins, in
  table order, as NUT's init walk does), with its format or conversion, flags and poll class;
- :class:`HidFlag`: a status bit (``online``, ``dischrg``...) read from a path (NUT's "BOOL" rows);
- :class:`HidCommand`: an instant command that writes a value to a path;
- :class:`ServerSetting`: a writable variable kept by the driver, not the device (NUT's HU_FLAG_ABSENT rows,
  ``ups.delay.shutdown``/``ups.delay.start``), published when its path exists.

Adding a vendor is adding a table. Conversions are :class:`Conversion` objects (lookup tables, dates, Kelvin,
string indexes). Only the rows that matter for the units in nut-ddl are restated; each table says what it leaves
out.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from appliance.drivers.hid_descriptor import STANDARD_USAGES
from appliance.drivers.usb_transport import UsbIdentity

DEFAULT_OFFDELAY = 20
DEFAULT_ONDELAY = 30
DEFAULT_POLLFREQ = 30
DEFAULT_RW_LENGTH = 10


class Poll(enum.Enum):
    """When a variable is read (NUT's HU_FLAG_* poll classes)."""

    FULL = "full"
    """Every full walk (pollfreq)."""
    QUICK = "quick"
    """Every poll (pollinterval): status bits and timers."""
    SEMI_STATIC = "semi-static"
    """At start, then only after a SET or a command."""
    STATIC = "static"
    """Once, at start."""


@dataclass(frozen=True)
class Conversion:
    """A value conversion between the device number and the NUT text (NUT's info_lkp_t and its functions).

    Either ``table`` (number -> text, both ways) or ``to_text``/``from_text`` functions. ``string_index``:
    the number is a USB string descriptor index, which the driver resolves.
    """

    name: str
    table: Mapping[int, str] = field(default_factory=dict)
    to_text: Callable[[float], str | None] | None = None
    from_text: Callable[[str], float | None] | None = None
    string_index: bool = False

    def text(self, value: float) -> str | None:
        """The NUT text for a device value; None when the value has no text (not published)."""
        if self.to_text is not None:
            return self.to_text(value)
        return self.table.get(int(value))

    def number(self, text: str) -> float | None:
        """The device value for a NUT text; None when the text is not one of the allowed values."""
        if self.from_text is not None:
            return self.from_text(text)
        for number, candidate in self.table.items():
            if candidate == text:
                return float(number)
        return None


def _hid_date(value: float) -> str:
    """The HID PDC date (((year-1980) << 9) | month << 5 | day) as NUT writes it."""
    number = int(value)
    if number == 0:
        return "not set"
    return f"{1980 + (number >> 9):04d}/{(number >> 5) & 0x0F:02d}/{number & 0x1F:02d}"


def _hid_date_number(text: str) -> float | None:
    try:
        year, month, day = (int(part) for part in text.split("/"))
    except ValueError:
        return None
    if year - 1980 > 127 or year < 1980 or not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    return float(((year - 1980) << 9) | (month << 5) | day)


def _bcd_pair(number: int, shift: int) -> int:
    return ((number >> shift) & 0xF) + 10 * ((number >> (shift + 4)) & 0xF)


def _apc_date(value: float) -> str:
    """APC's hex-as-decimal date 0xMMDDYY (0x102202 = 2002/10/22), 70-99 in the 1900s."""
    number = int(value)
    if number == 0:
        return "not set"
    year = _bcd_pair(number, 0)
    year += 1900 if year >= 70 else 2000
    return f"{year:04d}/{_bcd_pair(number, 16):02d}/{_bcd_pair(number, 8):02d}"


def _kelvin_to_celsius(value: float) -> str:
    """Kelvin to °C, except values already in °C (some firmware), as NUT checks: 273-373 means Kelvin."""
    celsius = value - 273.15 if 273 <= value <= 373 else value
    return f"{celsius:.1f}"


def _on_off_number(text: str) -> float | None:
    return {"off": 0.0, "on": 1.0}.get(text)


BEEPER = Conversion("beeper", {1: "disabled", 2: "enabled", 3: "muted"})
TEST_RESULT = Conversion(
    "test result",
    {
        1: "Done and passed",
        2: "Done and warning",
        3: "Done and error",
        4: "Aborted",
        5: "In progress",
        6: "No test initiated",
        7: "Test scheduled",
    },
)
YES_NO = Conversion("yes/no", {0: "no", 1: "yes"})
ON_OFF = Conversion("on/off", {0: "off", 1: "on"}, from_text=_on_off_number)
HID_DATE = Conversion("date", to_text=_hid_date, from_text=_hid_date_number)
APC_DATE = Conversion("APC date", to_text=_apc_date)
KELVIN = Conversion("Kelvin", to_text=_kelvin_to_celsius)
STRING_INDEX = Conversion("string", string_index=True)
APC_SENSITIVITY = Conversion("APC sensitivity", {0: "low", 1: "medium", 2: "high"})
NOMINAL_OUTPUT_VOLTAGE = Conversion("nominal output voltage", {v: str(v) for v in (200, 208, 220, 230, 240)})


@dataclass(frozen=True)
class HidVariable:
    """A NUT variable read from ``path`` (a Feature field); RW variables are written back there."""

    name: str
    path: str
    fmt: str = "%.0f"
    conversion: Conversion | None = None
    poll: Poll = Poll.FULL
    writable: bool = False
    length: int = DEFAULT_RW_LENGTH

    def text(self, value: float) -> str | None:
        """The published text for a device value (None: not published)."""
        if self.conversion is not None:
            return self.conversion.text(value)
        return self.fmt % value


@dataclass(frozen=True)
class HidFlag:
    """A status bit: ``flag`` is set when the field reads ``set_when`` (NUT's BOOL rows and *_info tables)."""

    path: str
    flag: str
    set_when: int = 1
    poll: Poll = Poll.FULL


@dataclass(frozen=True)
class HidCommand:
    """An instant command: write ``value`` to ``path``. ``value`` may name a delay ("offdelay"/"ondelay")."""

    name: str
    path: str
    value: str


@dataclass(frozen=True)
class ServerSetting:
    """A writable variable the driver keeps (NUT's HU_FLAG_ABSENT rows), published when ``path`` exists.

    Its value is the driver option ``option`` when given (offdelay, ondelay), else ``default``.
    """

    name: str
    path: str
    default: str
    option: str | None = None
    length: int = DEFAULT_RW_LENGTH


@dataclass(frozen=True)
class Subdriver:
    """One vendor's table set; see the module docstring."""

    name: str
    vendor_ids: frozenset[int]
    products: Mapping[int, frozenset[int]]
    usages: Mapping[int, str]
    variables: tuple[HidVariable, ...]
    flags: tuple[HidFlag, ...]
    commands: tuple[HidCommand, ...]
    settings: tuple[ServerSetting, ...]
    default_mfr: str
    product_variables: Callable[[str], dict[str, str]] = lambda product: {"ups.model": product.strip()}
    """The variables the USB product string gives (ups.model; APC adds the firmware)."""
    pollfreq: int = DEFAULT_POLLFREQ

    @property
    def names(self) -> dict[int, str]:
        """Usage names for parsing: the standard pages plus this vendor's."""
        return {**STANDARD_USAGES, **self.usages}

    def is_supported(self, identity: UsbIdentity) -> bool:
        """The device is in this subdriver's table."""
        return identity.productid in self.products.get(identity.vendorid, frozenset())

    def is_possibly_supported(self, identity: UsbIdentity) -> bool:
        """Same vendor, product not listed: NUT takes it only when the productid option is given."""
        return identity.vendorid in self.vendor_ids


# -- shared rows ----------------------------------------------------------------------------------

PS = "UPS.PowerSummary"
PRESENT = f"{PS}.PresentStatus"


def _status_rows(prefix: str, poll_quick: tuple[str, ...], others: tuple[str, ...]) -> tuple[HidFlag, ...]:
    """BOOL rows for standard PresentStatus usages under ``prefix``."""
    flag_of = {
        "ACPresent": "online",
        "Discharging": "dischrg",
        "Charging": "chrg",
        "BelowRemainingCapacityLimit": "lowbatt",
        "ShutdownImminent": "shutdownimm",
        "Overload": "overload",
        "NeedReplacement": "replacebatt",
        "RemainingTimeLimitExpired": "timelimitexp",
        "FullyCharged": "fullycharged",
        "FullyDischarged": "depleted",
    }
    rows = [HidFlag(f"{prefix}.{usage}", flag_of[usage], poll=Poll.QUICK) for usage in poll_quick]
    rows += [HidFlag(f"{prefix}.{usage}", flag_of[usage]) for usage in others]
    return tuple(rows)


def _beeper_commands(path: str) -> tuple[HidCommand, ...]:
    return (
        HidCommand("beeper.on", path, "2"),
        HidCommand("beeper.off", path, "3"),
        HidCommand("beeper.enable", path, "2"),
        HidCommand("beeper.disable", path, "1"),
        HidCommand("beeper.mute", path, "3"),
    )


def _test_commands(path: str) -> tuple[HidCommand, ...]:
    return (
        HidCommand("test.battery.start.quick", path, "1"),
        HidCommand("test.battery.start.deep", path, "2"),
        HidCommand("test.battery.stop", path, "3"),
    )


def _delay_rows(collection: str) -> tuple[tuple[HidVariable, ...], tuple[HidCommand, ...], tuple[ServerSetting, ...]]:
    """Timers, delay commands and delay settings for a collection holding DelayBefore* usages."""
    variables = (
        HidVariable("ups.timer.start", f"{collection}.DelayBeforeStartup", poll=Poll.QUICK),
        HidVariable("ups.timer.shutdown", f"{collection}.DelayBeforeShutdown", poll=Poll.QUICK),
        HidVariable("ups.timer.reboot", f"{collection}.DelayBeforeReboot", poll=Poll.QUICK),
    )
    commands = (
        HidCommand("load.off.delay", f"{collection}.DelayBeforeShutdown", "offdelay"),
        HidCommand("load.on.delay", f"{collection}.DelayBeforeStartup", "ondelay"),
        HidCommand("shutdown.stop", f"{collection}.DelayBeforeShutdown", "-1"),
        HidCommand("shutdown.reboot", f"{collection}.DelayBeforeReboot", "10"),
    )
    delays = (
        ServerSetting("ups.delay.start", f"{collection}.DelayBeforeStartup", str(DEFAULT_ONDELAY), "ondelay"),
        ServerSetting("ups.delay.shutdown", f"{collection}.DelayBeforeShutdown", str(DEFAULT_OFFDELAY), "offdelay"),
    )
    return variables, commands, delays


def _rw(name: str, path: str, fmt: str = "%.0f", length: int = DEFAULT_RW_LENGTH, **kwargs: object) -> HidVariable:
    return HidVariable(name, path, fmt, writable=True, length=length, poll=Poll.SEMI_STATIC, **kwargs)  # type: ignore[arg-type]


def _apc_product(product: str) -> dict[str, str]:
    """APC's iProduct carries the firmware: "Back-UPS ES 850G2 FW:938.a2 .I USB FW:a2" (apc_format_model)."""
    model, found, firmware = product.partition("FW:")
    if not found:
        return {"ups.model": product.strip()}
    # NUT cuts one character before "FW:" and before "USB FW:" (the separating blank), and keeps the rest.
    variables = {"ups.model": model[:-1]}
    firmware, found, aux = firmware.partition("USB FW:")
    variables["ups.firmware"] = firmware[:-1] if found else firmware
    if found:
        variables["ups.firmware.aux"] = aux
    return variables


# -- APC (apc-hid.c, "APC HID 0.98") ------------------------------------------------------------

APC_VENDORID = 0x051D
_APC_DELAYS = [_delay_rows(c) for c in (PS, "UPS.Output", "UPS.APCGeneralCollection")]
APC = Subdriver(
    name="APC HID 0.98",
    vendor_ids=frozenset({APC_VENDORID}),
    products={APC_VENDORID: frozenset({0x0000, 0x0002, 0x0003})},
    usages={
        0xFF860005: "APCGeneralCollection",
        0xFF860006: "APCEnvironment",
        0xFF860007: "APCProbe1",
        0xFF860008: "APCProbe2",
        0xFF860016: "APCBattReplaceDate",
        0xFF860019: "APCBattCapBeforeStartup",
        0xFF860042: "APC_UPS_FirmwareRevision",
        0xFF860052: "APCLineFailCause",
        0xFF860060: "APCStatusFlag",
        0xFF860061: "APCSensitivity",
        0xFF860072: "APCPanelTest",
        0xFF860076: "APCShutdownAfterDelay",
        0xFF860079: "APC_USB_FirmwareRevision",
        0xFF86007C: "APCDelayBeforeReboot",
        0xFF86007D: "APCDelayBeforeShutdown",
        0xFF86007E: "APCDelayBeforeStartup",
    },
    variables=(
        HidVariable("battery.charge", f"{PS}.RemainingCapacity"),
        _rw("battery.charge.low", f"{PS}.RemainingCapacityLimit"),
        HidVariable("battery.charge.warning", f"{PS}.WarningCapacityLimit"),
        HidVariable("battery.runtime", "UPS.Battery.RunTimeToEmpty"),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        _rw("battery.runtime.low", "UPS.Battery.RemainingTimeLimit"),
        _rw("battery.runtime.low", f"{PS}.RemainingTimeLimit"),
        HidVariable("battery.voltage", "UPS.Battery.Voltage", "%.1f"),
        HidVariable("battery.voltage", f"{PS}.Voltage", "%.1f"),
        HidVariable("battery.voltage.nominal", "UPS.Battery.ConfigVoltage", "%.1f"),
        HidVariable("battery.voltage.nominal", f"{PS}.ConfigVoltage", "%.1f"),
        HidVariable("battery.temperature", "UPS.Battery.Temperature", conversion=KELVIN),
        HidVariable("battery.type", f"{PS}.iDeviceChemistry", conversion=STRING_INDEX),
        _rw("battery.mfr.date", "UPS.Battery.ManufacturerDate", conversion=HID_DATE),
        HidVariable("battery.mfr.date", f"{PS}.APCBattReplaceDate", conversion=APC_DATE),
        HidVariable("battery.date", "UPS.Battery.APCBattReplaceDate", conversion=APC_DATE),
        HidVariable("ups.load", "UPS.Output.PercentLoad", "%.1f"),
        HidVariable("ups.load", "UPS.PowerConverter.PercentLoad"),
        *(row for variables, _, _ in _APC_DELAYS for row in variables),
        HidVariable("ups.test.result", "UPS.Battery.Test", conversion=TEST_RESULT),
        HidVariable("ups.beeper.status", f"{PS}.AudibleAlarmControl", conversion=BEEPER),
        HidVariable("ups.mfr.date", "UPS.ManufacturerDate", conversion=HID_DATE),
        HidVariable("ups.mfr.date", f"{PS}.ManufacturerDate", conversion=HID_DATE),
        HidVariable("ups.realpower.nominal", "UPS.PowerConverter.ConfigActivePower"),
        HidVariable("ups.realpower.nominal", "UPS.Output.ConfigActivePower"),
        HidVariable("input.voltage", "UPS.Input.Voltage", "%.1f"),
        HidVariable("input.voltage.nominal", "UPS.Input.ConfigVoltage"),
        _rw("input.transfer.low", "UPS.Output.LowVoltageTransfer"),
        _rw("input.transfer.high", "UPS.Output.HighVoltageTransfer"),
        _rw("input.transfer.low", "UPS.Input.LowVoltageTransfer"),
        _rw("input.transfer.high", "UPS.Input.HighVoltageTransfer"),
        _rw("input.sensitivity", "UPS.Input.APCSensitivity", "%s", conversion=APC_SENSITIVITY),
        HidVariable("output.voltage", "UPS.Output.Voltage", "%.1f"),
        HidVariable("output.voltage.nominal", "UPS.Output.ConfigVoltage", "%.1f"),
        HidVariable("output.current", "UPS.Output.Current", "%.2f"),
        HidVariable("output.frequency", "UPS.Output.Frequency", "%.1f"),
        HidVariable("ambient.temperature", "UPS.APCEnvironment.APCProbe1.Temperature", conversion=KELVIN),
        HidVariable("ambient.humidity", "UPS.APCEnvironment.APCProbe1.Humidity", "%.1f"),
    ),
    flags=(
        *_status_rows(
            PRESENT,
            ("ACPresent", "Discharging", "Charging", "BelowRemainingCapacityLimit"),
            ("ShutdownImminent", "Overload", "NeedReplacement", "RemainingTimeLimitExpired"),
        ),
        HidFlag(f"{PRESENT}.BatteryPresent", "nobattery", set_when=0),
        # Back-UPS 500 and the ES series put the bits straight under PowerSummary.
        *_status_rows(
            PS, ("Charging", "Discharging", "ACPresent", "BelowRemainingCapacityLimit"), ("ShutdownImminent",)
        ),
    ),
    commands=(
        *_test_commands("UPS.BatterySystem.Battery.Test"),
        *_test_commands("UPS.Battery.Test"),
        HidCommand("test.panel.start", "UPS.APCPanelTest", "1"),
        HidCommand("test.panel.stop", "UPS.APCPanelTest", "0"),
        HidCommand("test.panel.start", f"{PS}.APCPanelTest", "1"),
        HidCommand("test.panel.stop", f"{PS}.APCPanelTest", "0"),
        *(row for _, commands, _ in _APC_DELAYS for row in commands),
        *_beeper_commands(f"{PS}.AudibleAlarmControl"),
    ),
    settings=tuple(row for _, _, delays in _APC_DELAYS for row in delays),
    default_mfr="APC",
    product_variables=_apc_product,
)
"""Left out: APCStatusFlag and APCLineFailCause decoding, APC date writes, the SmartUPS-only vendor rows."""


# -- CyberPower (cps-hid.c, "CyberPower HID 0.6") -------------------------------------------------

CPS_VENDORID = 0x0764
_CPS_TIMERS, _CPS_COMMANDS, _CPS_DELAYS = _delay_rows("UPS.Output")
CYBERPOWER = Subdriver(
    name="CyberPower HID 0.6",
    vendor_ids=frozenset({CPS_VENDORID}),
    products={CPS_VENDORID: frozenset({0x0005, 0x0501, 0x0601})},
    usages={},
    variables=(
        HidVariable("battery.type", f"{PS}.iDeviceChemistry", conversion=STRING_INDEX),
        HidVariable("battery.mfr.date", f"{PS}.iOEMInformation", conversion=STRING_INDEX),
        HidVariable("battery.charge.warning", f"{PS}.WarningCapacityLimit"),
        _rw("battery.charge.low", f"{PS}.RemainingCapacityLimit"),
        HidVariable("battery.charge", f"{PS}.RemainingCapacity"),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        _rw("battery.runtime.low", f"{PS}.RemainingTimeLimit"),
        HidVariable("battery.voltage.nominal", f"{PS}.ConfigVoltage"),
        HidVariable("battery.voltage", f"{PS}.Voltage", "%.1f"),
        HidVariable("ups.load", "UPS.Output.PercentLoad"),
        HidVariable("ups.beeper.status", f"{PS}.AudibleAlarmControl", conversion=BEEPER),
        HidVariable("ups.test.result", "UPS.Output.Test", conversion=TEST_RESULT),
        HidVariable("ups.realpower.nominal", "UPS.Output.ConfigActivePower"),
        *_CPS_TIMERS,
        HidVariable("input.frequency", "UPS.Input.Frequency", "%.1f"),
        HidVariable("input.voltage.nominal", "UPS.Input.ConfigVoltage"),
        HidVariable("input.voltage", "UPS.Input.Voltage", "%.1f"),
        _rw("input.transfer.low", "UPS.Input.LowVoltageTransfer"),
        _rw("input.transfer.high", "UPS.Input.HighVoltageTransfer"),
        HidVariable("output.frequency", "UPS.Output.Frequency", "%.1f"),
        HidVariable("output.voltage", "UPS.Output.Voltage", "%.1f"),
        HidVariable("output.voltage.nominal", "UPS.Output.ConfigVoltage"),
    ),
    flags=(
        *_status_rows(
            PRESENT,
            ("ACPresent", "Charging", "Discharging", "BelowRemainingCapacityLimit"),
            ("FullyCharged", "RemainingTimeLimitExpired"),
        ),
        HidFlag("UPS.Output.Boost", "boost"),
        HidFlag("UPS.Output.Overload", "overload"),
    ),
    commands=(*_test_commands("UPS.Output.Test"), *_CPS_COMMANDS, *_beeper_commands(f"{PS}.AudibleAlarmControl")),
    settings=_CPS_DELAYS,
    default_mfr="CyberPower",
)
"""Left out: cps_fix_report_desc (patching the descriptor of units whose LogMax is wrong) and the battery
voltage scale guess for 0764:0501 (cps_battvolt); the simulators report already-correct values."""


# -- Eaton / MGE (mge-hid.c, "MGE HID 1.46") ---------------------------------------------------

MGE_VENDORID = 0x0463
_MGE_TIMERS, _MGE_COMMANDS, _MGE_DELAYS = _delay_rows(PS)
EATON = Subdriver(
    name="MGE HID 1.46",
    vendor_ids=frozenset({MGE_VENDORID, 0x047C, 0x0592, 0x03F0, 0x2B2D, 0x06DA, 0x04B3}),
    products={
        MGE_VENDORID: frozenset({0x0001, 0xFFFF}),
        0x047C: frozenset({0xFFFF}),  # Dell
        0x0592: frozenset({0x0004}),  # Powerware
        0x03F0: frozenset({0x1FE5, 0x1FE6, 0x1FE7, 0x1FE8}),  # HP
        0x2B2D: frozenset({0xFFFF}),  # AEG
        0x06DA: frozenset({0xFFFF}),  # Phoenixtec
        0x04B3: frozenset({0x0001}),  # IBM
    },
    usages={
        0xFFFF0047: "StartOnBattery",
        0xFFFF004D: "RemainingCapacityLimitSetting",
        0xFFFF0077: "FanFailure",
        0xFFFF007E: "OverThreshold",
        0xFFFF00F1: "iVersion",
        0x0084006B: "SwitchOn/Off",  # MGE renames the standard 0x6B usage (NUT's mge_usage_lkp)
    },
    variables=(
        HidVariable("battery.charge", f"{PS}.RemainingCapacity"),
        _rw("battery.charge.low", f"{PS}.RemainingCapacityLimitSetting", length=5),
        HidVariable("battery.charge.low", f"{PS}.RemainingCapacityLimit", poll=Poll.STATIC),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        _rw("battery.runtime.low", f"{PS}.RemainingTimeLimit"),
        HidVariable("battery.type", f"{PS}.iDeviceChemistry", conversion=STRING_INDEX, poll=Poll.STATIC),
        HidVariable("battery.voltage", "UPS.BatterySystem.Voltage", "%.1f"),
        HidVariable("battery.voltage", f"{PS}.Voltage", "%.1f"),
        HidVariable("battery.voltage.nominal", "UPS.BatterySystem.ConfigVoltage", poll=Poll.STATIC),
        HidVariable("battery.voltage.nominal", f"{PS}.ConfigVoltage", poll=Poll.STATIC),
        HidVariable("ups.firmware", f"{PS}.iVersion", conversion=STRING_INDEX, poll=Poll.STATIC),
        HidVariable("ups.load", f"{PS}.PercentLoad"),
        *_MGE_TIMERS,
        HidVariable("ups.test.result", "UPS.BatterySystem.Battery.Test", conversion=TEST_RESULT),
        HidVariable("ups.beeper.status", "UPS.BatterySystem.Battery.AudibleAlarmControl", conversion=BEEPER),
        HidVariable("ups.beeper.status", f"{PS}.AudibleAlarmControl", conversion=BEEPER, poll=Poll.SEMI_STATIC),
        HidVariable("ups.power.nominal", "UPS.Flow.[4].ConfigApparentPower", poll=Poll.STATIC),
        HidVariable("ups.realpower.nominal", "UPS.Flow.[4].ConfigActivePower", poll=Poll.STATIC),
        _rw("ups.start.battery", "UPS.PowerConverter.Input.[3].StartOnBattery", "%s", length=5, conversion=YES_NO),
        HidVariable("input.voltage", "UPS.PowerConverter.Input.[1].Voltage", "%.1f"),
        _rw("input.transfer.low", "UPS.PowerConverter.Output.LowVoltageTransfer", length=5),
        _rw("input.transfer.high", "UPS.PowerConverter.Output.HighVoltageTransfer", length=5),
        HidVariable("output.voltage", "UPS.PowerConverter.Output.Voltage", "%.1f"),
        _rw("output.voltage.nominal", "UPS.Flow.[4].ConfigVoltage", length=3, conversion=NOMINAL_OUTPUT_VOLTAGE),
        HidVariable("output.frequency", "UPS.PowerConverter.Output.Frequency", "%.1f"),
        HidVariable("output.frequency.nominal", "UPS.Flow.[4].ConfigFrequency", poll=Poll.STATIC),
        HidVariable("outlet.id", "UPS.OutletSystem.Outlet.[1].OutletID", poll=Poll.STATIC),
        HidVariable(
            "outlet.switchable",
            "UPS.OutletSystem.Outlet.[1].PresentStatus.Switchable",
            conversion=YES_NO,
            poll=Poll.STATIC,
        ),
        HidVariable("outlet.1.status", "UPS.OutletSystem.Outlet.[2].PresentStatus.SwitchOn/Off", conversion=ON_OFF),
        HidVariable("outlet.1.status", f"{PRESENT}.ACPresent", conversion=ON_OFF),
    ),
    flags=(
        *_status_rows(
            PRESENT,
            ("ACPresent", "Discharging", "Charging", "BelowRemainingCapacityLimit"),
            ("Overload", "NeedReplacement", "ShutdownImminent"),
        ),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.Buck", "trim"),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.Boost", "boost"),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.VoltageOutOfRange", "vrange"),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.FrequencyOutOfRange", "frange"),
        HidFlag(f"{PRESENT}.Good", "off", set_when=0),
        HidFlag("UPS.PowerConverter.Input.[2].PresentStatus.Used", "bypassauto"),
        HidFlag("UPS.PowerConverter.Input.[4].PresentStatus.Used", "bypassman"),
        HidFlag(f"{PRESENT}.FanFailure", "fanfail"),
        HidFlag("UPS.BatterySystem.Battery.PresentStatus.Present", "nobattery", set_when=0),
    ),
    commands=(
        *_test_commands("UPS.BatterySystem.Battery.Test"),
        *_MGE_COMMANDS,
        *_beeper_commands(f"{PS}.AudibleAlarmControl"),
    ),
    settings=(
        *_MGE_DELAYS,
        ServerSetting("outlet.desc", "UPS.OutletSystem.Outlet.[1].OutletID", "Main Outlet", length=20),
    ),
    default_mfr="Eaton",
)
"""Left out: the outlet groups beyond outlet.1, ABM charger modes, the Flow/[n] thresholds, the Eaton
(non-MGE) PowerConverter online/on-battery rules and the 3-phase rows."""


# -- Tripp Lite HID (tripplite-hid.c, "TrippLite HID 0.84") --------------------------------------

TRIPPLITE_VENDORID = 0x09AE
_TL_PRODUCTS = frozenset(
    {0x1003, 0x1007, 0x1008, 0x1009, 0x1010, 0x1330}
    | {0x2005, 0x2007, 0x2008, 0x2009, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014}
    | {0x3008, 0x3009, 0x3010, 0x3011, 0x3012, 0x3013, 0x3014, 0x3015, 0x3016, 0x3024}
    | set(range(0x4001, 0x4009))
)
_TL_OUTLET = "UPS.OutletSystem.Outlet"
_TL_TIMERS, _TL_COMMANDS, _TL_DELAYS = _delay_rows(_TL_OUTLET)
TRIPPLITE = Subdriver(
    name="TrippLite HID 0.84",
    vendor_ids=frozenset({TRIPPLITE_VENDORID}),
    products={TRIPPLITE_VENDORID: _TL_PRODUCTS, 0x03F0: frozenset({0x0001, 0x1FE0})},
    usages={},
    variables=(
        HidVariable("battery.charge", f"{PS}.RemainingCapacity"),
        HidVariable("battery.charge", "UPS.BatterySystem.Battery.RemainingCapacity"),
        _rw("battery.charge.low", f"{PS}.RemainingCapacityLimit", length=5),
        HidVariable("battery.charge.warning", f"{PS}.WarningCapacityLimit"),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        HidVariable("battery.voltage.nominal", "UPS.BatterySystem.Battery.ConfigVoltage", "%.1f", poll=Poll.STATIC),
        HidVariable("battery.voltage", "UPS.BatterySystem.Battery.Voltage", "%.1f"),
        HidVariable("battery.temperature", "UPS.BatterySystem.Temperature", conversion=KELVIN),
        *_TL_TIMERS,
        HidVariable("ups.test.result", "UPS.BatterySystem.Test", conversion=TEST_RESULT),
        HidVariable("ups.beeper.status", f"{PS}.AudibleAlarmControl", conversion=BEEPER),
        HidVariable("ups.power.nominal", "UPS.Flow.ConfigApparentPower", poll=Poll.STATIC),
        HidVariable("ups.load", f"{_TL_OUTLET}.PercentLoad"),
        HidVariable("input.voltage.nominal", f"{PS}.Input.ConfigVoltage", poll=Poll.STATIC),
        HidVariable("input.voltage", f"{PS}.Input.Voltage", "%.1f"),
        HidVariable("input.voltage", "UPS.PowerConverter.Input.Voltage", "%.1f"),
        HidVariable("input.frequency", "UPS.PowerConverter.Input.Frequency", "%.1f"),
        _rw("input.transfer.low", "UPS.PowerConverter.Output.LowVoltageTransfer", "%.1f", length=5),
        _rw("input.transfer.high", "UPS.PowerConverter.Output.HighVoltageTransfer", "%.1f", length=5),
        HidVariable("output.voltage.nominal", "UPS.Flow.ConfigVoltage", poll=Poll.STATIC),
        HidVariable("output.voltage", "UPS.PowerConverter.Output.Voltage", "%.1f"),
        HidVariable("output.voltage", f"{PS}.Voltage", "%.1f"),
        HidVariable("output.frequency.nominal", "UPS.Flow.ConfigFrequency", poll=Poll.STATIC),
        HidVariable("output.frequency", "UPS.PowerConverter.Output.Frequency", "%.1f"),
    ),
    flags=(
        *_status_rows(
            PRESENT,
            ("ACPresent", "BelowRemainingCapacityLimit", "FullyCharged", "Charging", "Discharging", "FullyDischarged"),
            ("ShutdownImminent", "NeedReplacement"),
        ),
        HidFlag("UPS.PowerConverter.PresentStatus.VoltageOutOfRange", "vrange"),
        HidFlag("UPS.PowerConverter.PresentStatus.Buck", "trim"),
        HidFlag("UPS.PowerConverter.PresentStatus.Boost", "boost"),
        HidFlag("UPS.PowerConverter.PresentStatus.Overload", "overload"),
    ),
    commands=(*_test_commands("UPS.BatterySystem.Test"), *_TL_COMMANDS, *_beeper_commands(f"{PS}.AudibleAlarmControl")),
    settings=_TL_DELAYS,
    default_mfr="Tripp Lite",
)
"""Left out: the TL vendor page (TLCustom firmware/part number, TL* status bits, watchdog), the per-model
battery and I/O voltage scales (tripplite_battvolt/iovolt: the simulated values need none)."""


SUBDRIVERS: tuple[Subdriver, ...] = (APC, CYBERPOWER, EATON, TRIPPLITE)
"""Tried in this order, as NUT's subdriver_list (the generic fallback is not restated)."""


def subdriver_for(identity: UsbIdentity, productid_given: bool, wanted: str | None = None) -> Subdriver | None:
    """The subdriver that claims ``identity`` (only the one whose name matches ``wanted`` when given)."""
    for subdriver in SUBDRIVERS:
        if wanted is not None and wanted.lower() not in subdriver.name.lower():
            continue
        if subdriver.is_supported(identity) or (productid_given and subdriver.is_possibly_supported(identity)):
            return subdriver
    return None


def device_table() -> list[tuple[int, int, str]]:
    """(vendor ID, product ID, subdriver) for every device a subdriver claims: the udev rules' source."""
    return sorted(
        (vendor, product, subdriver.name)
        for subdriver in SUBDRIVERS
        for vendor, products in subdriver.products.items()
        for product in products
    )
