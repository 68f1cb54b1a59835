"""Eaton/MGE's usbhid-ups subdriver: NUT 2.8.0's mge-hid.c ("MGE HID 1.46") as data and quirks, whole.

The C file keeps state across rows: the model type its model-name table gives (some rows publish only for
some series), the country the UPS reports, whether Advanced Battery Monitoring (ABM) is on (which decides how
the charger's state becomes CHRG/DISCHRG and battery.charger.status), and the first nominal output voltage
read. :class:`MgeQuirks` holds that state for one device; the rows that depend on it name a function of this
module as their ``device_text``/``device_number``/``device_bits``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.drivers.hid_subdrivers.common import (
    BEEPER,
    KELVIN,
    ON_OFF,
    PRESENT,
    PS,
    STRING_INDEX,
    TEST_RESULT,
    YES_NO,
    delay_rows,
    rw,
    status_rows,
    test_commands,
)
from appliance.drivers.hid_subdrivers.model import (
    SET_WHEN_0,
    Conversion,
    DeviceFields,
    HidAlarm,
    HidCommand,
    HidFlag,
    HidVariable,
    Poll,
    Published,
    Quirks,
    ServerSetting,
    Subdriver,
    Withdraw,
)
from appliance.drivers.usb_transport import UsbIdentity

MGE_VENDORID = 0x0463
DELL_VENDORID = 0x047C
POWERWARE_VENDORID = 0x0592
HP_VENDORID = 0x03F0
AEG_VENDORID = 0x2B2D
PHOENIXTEC_VENDORID = 0x06DA
"""Liebert/Phoenixtec's ID: mge-hid.c takes it only for AEG PROTECT NAS units (liebert-hid has the rest)."""
IBM_VENDORID = 0x04B3

# -- model types (mge-hid.c's models_type_t: the high byte is the family) ------------------------------
DEFAULT_OFFLINE = 0x000
PEGASUS = 0x100
THREE_S = 0x110
"""In the Pegasus family (0x100) once masked, as NUT masks it."""
DEFAULT = 0x200
"""Line-interactive and online models; every offline type is below it."""
EVOLUTION = 0x300
EVOLUTION_650 = 0x301
PULSAR_M = 0x400
EATON_5P = 0x500
FAMILY = 0xFF00

# -- country codes (UPS.PowerSummary.Country) ----------------------------------------------------------
COUNTRY_UNKNOWN = -1

# -- ABM (Advanced Battery Monitoring) -----------------------------------------------------------------
ABM_CHARGER_TEXT = {1: "charging", 2: "discharging", 3: "floating", 4: "resting", 6: "off"}
"""UPS.BatterySystem.Charger.Mode -> battery.charger.status (5, "ABM not activated", publishes nothing)."""
ABM_CHARGING_MODES = frozenset({1, 3})
"""Charging and floating: the charger feeds the battery, so CHRG."""
ABM_DISCHARGING_MODE = 2


@dataclass(frozen=True)
class ModelName:
    """One row of mge-hid.c's model-name table: iProduct and iModel as the UPS gives them."""

    product: str
    model: str
    type: int
    name: str | None = None
    """ups.model; None: "<product> <model>"."""


def _models(product: str, type_: int, *models: str | tuple[str, str]) -> list[ModelName]:
    """Rows of one product line: a bare iModel keeps the default name, (iModel, name) overrides it."""
    rows = []
    for model in models:
        code, name = model if isinstance(model, tuple) else (model, None)
        rows.append(ModelName(product, code, type_, name))
    return rows


MODEL_NAMES: tuple[ModelName, ...] = (
    *_models("ELLIPSE", DEFAULT_OFFLINE, *((m, f"ellipse {m}") for m in ("300", "500", "650", "800", "1200"))),
    *_models("ellipse", DEFAULT_OFFLINE, *((f"PR{m}", f"ellipse premium {m}") for m in ("500", "650", "800", "1200"))),
    *_models("ELLIPSE", DEFAULT_OFFLINE, *((m, f"Ellipse {m}") for m in ("600", "750", "1000", "1500"))),
    *_models("Ellipse MAX", DEFAULT_OFFLINE, "600", "850", "1100", "1500"),
    *_models("PROTECTIONCENTER", DEFAULT_OFFLINE, *((m, f"Protection Center {m}") for m in ("420", "500", "675"))),
    *_models("Protection Station", PEGASUS, "500", "650", "800"),
    *_models("Ellipse ECO", PEGASUS, "650", "800", "1200", "1600"),
    *_models("3S", DEFAULT_OFFLINE, "450", "550"),
    *_models("3S", THREE_S, "700", "750"),  # EU/AUS 700 and US 750 have Eco control
    *_models(
        "Evolution",
        DEFAULT,
        *((m, f"Pulsar Evolution {m}") for m in ("500", "800", "1100", "1500", "2200", "3000")),
        ("3000XL", "Pulsar Evolution 3000 XL"),
    ),
    ModelName("Evolution", "650", EVOLUTION_650),
    *(
        ModelName("Evolution", model, EVOLUTION + offset)
        for offset, model in enumerate(("850", "1150", "S 1250", "1550", "S 1750", "2000", "S 2500", "S 3000"), 2)
    ),
    *_models("Eaton 5P", EATON_5P, *((m, f"5P {m}") for m in ("650", "850", "1150", "1550"))),
    *(ModelName(line, m, PULSAR_M + n) for line in ("PULSAR M", "EX") for n, m in ((1, "2200"), (2, "3000"))),
    ModelName("PULSAR M", "3000 XL", PULSAR_M + 3),
    ModelName("EX", "3000 XL", PULSAR_M + 2),  # as NUT: the Eaton name of the 3000 XL gets the 3000's type
    *_models("PULSAR", DEFAULT, ("MX4000", "Pulsar MX 4000 RT"), ("MX5000", "Pulsar MX 5000 RT")),
    *_models("NOVA AVR", DEFAULT, *((m, f"Nova {m} AVR") for m in ("500", "600", "625", "1100", "1250"))),
    *_models(
        "EXtreme",
        DEFAULT,
        *((f"{m}C", f"Pulsar EXtreme {m}C") for m in ("700", "1000", "1500", "2200", "3200")),
        ("1500CCLA", "Pulsar EXtreme 1500C CLA"),
    ),
    *_models("EX", DEFAULT, *((f"{m}RT", f"Pulsar EX {m} RT") for m in ("700", "1000", "1500", "2200", "3200"))),
    *_models("EX", DEFAULT, *((f"{m}RT31", f"EX {m} RT 3:1") for m in ("5", "7", "11"))),
    *_models("EX", DEFAULT, *((f"{m}RT", f"EX {m} RT") for m in ("5", "7", "11"))),
    *_models("GALAXY", DEFAULT, *((f"3000_{m}", f"Galaxy 3000 {m} kVA") for m in ("10", "15", "20", "30"))),
)
"""mge-hid.c's mge_model_names, in its order (the first exact match of iProduct and iModel wins)."""


def model_name(product: str, model: str) -> tuple[str, int]:
    """ups.model and the model type for an iProduct/iModel pair (NUT's get_model_name)."""
    for row in MODEL_NAMES:
        if row.product == product and row.model == model:
            return row.name or f"{product} {model}", row.type
    return f"{product} {model}", DEFAULT


class MgeQuirks(Quirks):
    """mge-hid.c's state for one device: model type, country, ABM, the first nominal output voltage."""

    def __init__(self, identity: UsbIdentity) -> None:
        super().__init__(identity)
        self.model_type = DEFAULT
        self.country = COUNTRY_UNKNOWN
        """UPS.PowerSummary.Country, read as NUT does; in 2.8.0 it decides nothing (see has_eco_control and
        _nominal_output_voltage, where every branch that looks at it ends the same)."""
        self.abm: int | None = None
        """UPS.BatterySystem.Charger.ABMEnable as read (1 enabled); None until read."""
        self.nominal_output_voltage: int | None = None

    @property
    def family(self) -> int:
        """The model type without its model byte."""
        return self.model_type & FAMILY

    @property
    def is_abm_enabled(self) -> bool:
        """ABM is on: Charger.ABMEnable read and not 0. NUT 2.8.0 also treats "not read (yet)" as on, so a
        unit without Charger.ABMEnable (the 5E) never shows CHRG/DISCHRG; NUT 2.8.3 treats it as off, and
        so do we (deliberately not 2.8.0; the 5E's own dump says "OL CHRG")."""
        return self.abm is not None and self.abm != 0

    @property
    def has_eco_control(self) -> bool:
        """Protection Station, Ellipse ECO and the 3S 700/750 (eaton_check_pegasus_fun).

        NUT means to leave out the European 3S 700 by its country code, but compares the family
        (type & 0xff00) with the 3S's whole type (0x110): the 3S falls in the Pegasus family and the country
        is never looked at. As NUT, so the European 3S 700 gets the Eco rows too."""
        return self.family == PEGASUS

    def model(self, product: str, device: DeviceFields) -> str | None:
        """mge_format_model: Dell's iProduct as is; else iProduct with iModel (or the VA rating) through the
        model-name table, which also sets the model type."""
        if self.identity.vendorid == DELL_VENDORID:
            return product or None
        model = device.text(f"{PS}.iModel")
        if not model:
            rating = device.value("UPS.Flow.[4].ConfigApparentPower")
            model = f"{int(rating)}" if rating is not None else ""
        if not model:
            return product or None
        name, self.model_type = model_name(product or "unknown", model)
        return name


def _mge(quirks: Quirks) -> MgeQuirks:
    assert isinstance(quirks, MgeQuirks)
    return quirks


# -- conversions with state ---------------------------------------------------------------------------


def _store_country(quirks: Quirks, value: float, published: Published) -> None:
    _mge(quirks).country = int(value)


def _store_abm(quirks: Quirks, value: float, published: Published) -> None:
    _mge(quirks).abm = int(value)


def _abm_charger_status(quirks: Quirks, value: float, published: Published) -> str | Withdraw | None:
    if not _mge(quirks).is_abm_enabled:
        return Withdraw.VARIABLE  # cleared, in case the user switched ABM off
    return ABM_CHARGER_TEXT.get(int(value))


def _battery_voltage(quirks: Quirks, value: float, published: Published) -> str | None:
    """UPS.PowerSummary.Voltage is the battery voltage only on Evolution, Pulsar M and 5P units."""
    return f"{value:.1f}" if _mge(quirks).family in (EVOLUTION, PULSAR_M, EATON_5P) else None


def _battery_voltage_nominal(quirks: Quirks, value: float, published: Published) -> str | None:
    """UPS.PowerSummary.ConfigVoltage, on the same series; the Evolution 650 reports it wrong (12 V)."""
    mge = _mge(quirks)
    if mge.family == EVOLUTION:
        value = 12.0 if mge.model_type == EVOLUTION_650 else value
    elif mge.family not in (PULSAR_M, EATON_5P):
        return None
    return f"{value:.0f}"


def _eco_threshold(quirks: Quirks, value: float, published: Published) -> str | None:
    return f"{value:.0f}" if _mge(quirks).has_eco_control else None


def _eco_yes_no(quirks: Quirks, value: float, published: Published) -> str | None:
    if not _mge(quirks).has_eco_control:
        return None
    return "no" if value == 0 else "yes"


def _eco_yes_no_number(quirks: Quirks, text: str, published: Published) -> float | None:
    # NUT 2.8.0 writes 0 ("no") when the unit has no Eco control; we refuse the value instead.
    if not _mge(quirks).has_eco_control:
        return None
    return 1.0 if text.startswith("yes") else 0.0


def _leading_integer(text: str) -> int:
    """C's atoi: the leading integer of a text, 0 when there is none."""
    digits = ""
    for char in text.strip():
        if not (char.isdigit() or (char in "+-" and not digits)):
            break
        digits += char
    try:
        return int(digits)
    except ValueError:
        return 0


def _computed_realpower(quirks: Quirks, value: float, published: Published) -> str | None:
    """ups.realpower when the UPS has no Output.ActivePower: load% x nominal VA x power factor (0.8)."""
    load, nominal = published("ups.load"), published("ups.power.nominal")
    if load is None or nominal is None:
        return None
    factor_text = published("output.powerfactor")
    # NUT 2.8.0 reads output.powerfactor ("0.53") with atoi, so any published factor makes the result 0;
    # we use its value.
    factor = float(factor_text) if factor_text is not None else 0.80
    realpower = _leading_integer(load) * 0.01 * _leading_integer(nominal) * factor
    return f"{math.floor(realpower + 0.5):.0f}"  # C's round(): halves away from zero


LOW_VOLTAGES = frozenset({100, 110, 120, 127})
HIGH_208 = frozenset({200, 208})
HIGH_230 = frozenset({220, 230, 240})


def _nominal_output_voltage(quirks: Quirks, value: float, published: Published) -> str | None:
    """The settable output voltages follow the first one read: low-voltage units keep to 100-127 V,
    high-voltage ones to 200-240 V (offline units only within 200/208 or 220-240, some European 230 V
    units also 200/208)."""
    mge = _mge(quirks)
    if mge.nominal_output_voltage is None:
        mge.nominal_output_voltage = int(value)
    nominal, candidate = mge.nominal_output_voltage, int(value)
    offline = mge.family < DEFAULT
    if nominal in LOW_VOLTAGES:
        allowed = candidate in LOW_VOLTAGES
    elif nominal in HIGH_208:
        allowed = candidate in HIGH_208 or (candidate in HIGH_230 and not offline)
    elif nominal in HIGH_230:
        # NUT's code lets 200/208 through for every line-interactive or online unit, whatever the country.
        allowed = candidate in HIGH_230 or (candidate in HIGH_208 and not offline)
    else:
        allowed = True  # NUT cannot tell the unit's voltages: any value is published
    return f"{value:.0f}" if allowed else None


def _local_time(value: float, layout: str) -> str | None:
    """Unix time as local time; None for a value no calendar holds (NUT: strftime fails, nothing published)."""
    try:
        return time.strftime(layout, time.localtime(value))
    except (OverflowError, OSError, ValueError):
        return None


def _date(quirks: Quirks, value: float, published: Published) -> str | None:
    """UPS.PowerSummary.Time (Unix time) -> ups.date, local time."""
    return _local_time(value, "%Y/%m/%d")


def _time(quirks: Quirks, value: float, published: Published) -> str | None:
    """UPS.PowerSummary.Time -> ups.time, local time."""
    return _local_time(value, "%H:%M:%S")


def _unix_time(date: str | None, clock: str | None) -> float | None:
    try:
        return time.mktime(time.strptime(f"{date} {clock}", "%Y/%m/%d %H:%M:%S"))
    except (ValueError, OverflowError):
        # NUT 2.8.0 writes 0 (1970) for a text it cannot read; we refuse the value instead.
        return None


def _date_number(quirks: Quirks, text: str, published: Published) -> float | None:
    return _unix_time(text, published("ups.time"))


def _time_number(quirks: Quirks, text: str, published: Published) -> float | None:
    return _unix_time(published("ups.date"), text)


# -- status bits with state ---------------------------------------------------------------------------


def _legacy_bit(flag: str) -> Callable[[Quirks, float, dict[str, bool]], None]:
    """Charging/Discharging count only with ABM off; with ABM on they clear the bit (the charger's mode
    sets it after them)."""

    def apply(quirks: Quirks, value: float, bits: dict[str, bool]) -> None:
        bits[flag] = value == 1 and not _mge(quirks).is_abm_enabled

    return apply


def _abm_bits(quirks: Quirks, value: float, bits: dict[str, bool]) -> None:
    if not _mge(quirks).is_abm_enabled:
        return
    if int(value) in ABM_CHARGING_MODES:
        bits["chrg"] = True
    elif int(value) == ABM_DISCHARGING_MODE:
        bits["dischrg"] = True


def _converter_online(quirks: Quirks, value: float, bits: dict[str, bool]) -> None:
    """UPS.PowerConverter.Input.[1].PresentStatus.Used is "online" only while the UPS is not off."""
    if not bits.get("off", False):
        bits["online"] = value != 0


# -- conversions ----------------------------------------------------------------------------------------

COUNTRY = Conversion("country", device_text=_store_country)
ABM_ENABLED = Conversion("ABM enabled", device_text=_store_abm)
ABM_STATUS = Conversion("ABM status", device_text=_abm_charger_status)
BATTERY_VOLTAGE = Conversion("battery voltage", device_text=_battery_voltage)
BATTERY_VOLTAGE_NOMINAL = Conversion("battery voltage nominal", device_text=_battery_voltage_nominal)
POWER_FACTOR = Conversion("power factor", to_text=lambda value: f"{value / 100:.2f}")
BATTERY_CAPACITY = Conversion("As to Ah", to_text=lambda value: f"{value / 3600:.2f}")
ENABLED = Conversion("enable/disable", {0: "disabled", 1: "enabled"})
UPS_TYPE = Conversion(
    "UPS type",
    {
        1: "offline / line interactive",
        2: "online",
        3: "online - unitary/parallel",
        4: "online - parallel with hot standy",  # sic, as NUT spells it
        5: "online - hot standby redundancy",
    },
)
SENSITIVITY = Conversion("sensitivity", {0: "normal", 1: "high", 2: "low"})
ECO_THRESHOLD = Conversion("Eco threshold", {10: "10", 25: "25", 60: "60"}, device_text=_eco_threshold)
ECO_YES_NO = Conversion("Eco yes/no", {0: "no", 1: "yes"}, device_text=_eco_yes_no, device_number=_eco_yes_no_number)
REALPOWER = Conversion("computed realpower", device_text=_computed_realpower)
NOMINAL_OUTPUT_VOLTAGE = Conversion(
    "nominal output voltage",
    {v: str(v) for v in (200, 208, 220, 230, 240, 100, 110, 120, 127)},
    device_text=_nominal_output_voltage,
)
DATE = Conversion("date", device_text=_date, device_number=_date_number)
TIME = Conversion("time", device_text=_time, device_number=_time_number)
ON_BATTERY = {1: False, 0: True}
"""mge_onbatt_info: 1 clears ``online``, 0 sets it."""

# -- the table ------------------------------------------------------------------------------------------

BATTERY = "UPS.BatterySystem.Battery"
CHARGER = "UPS.BatterySystem.Charger"
CONVERTER = "UPS.PowerConverter"
INPUT = f"{CONVERTER}.Input"
OUTPUT = f"{CONVERTER}.Output"
OUTLET = "UPS.OutletSystem.Outlet"
PHASES = (("L1", "1"), ("L2", "2"), ("L3", "3"))
LINE_PAIRS = (("L1-L2", "12"), ("L2-L3", "23"), ("L3-L1", "31"))


def _static(name: str, path: str, fmt: str = "%.0f", **kwargs: object) -> HidVariable:
    return HidVariable(name, path, fmt, poll=Poll.STATIC, **kwargs)  # type: ignore[arg-type]


def _phase_voltages(prefix: str, collection: str) -> tuple[HidVariable, ...]:
    """Per-phase voltages of a 3-phase input or output: line to neutral, then line to line."""
    pairs = (*((f"{phase}-N", n) for phase, n in PHASES), *LINE_PAIRS)
    return tuple(
        HidVariable(f"{prefix}.{pair}.voltage", f"{collection}.Phase.[{n}].Voltage", "%.1f") for pair, n in pairs
    )


def _phase_currents(prefix: str, collection: str) -> tuple[HidVariable, ...]:
    """Per-phase currents of a 3-phase input or output."""
    return tuple(HidVariable(f"{prefix}.{ph}.current", f"{collection}.Phase.[{n}].Current", "%.1f") for ph, n in PHASES)


def _source_rows(prefix: str, number: int) -> tuple[HidVariable, ...]:
    """An input source (1 mains, 2 bypass): voltage, current, frequency, per phase, and their nominal values."""
    source, flow = f"{INPUT}.[{number}]", f"UPS.Flow.[{number}]"
    return (
        HidVariable(f"{prefix}.voltage", f"{source}.Voltage", "%.1f"),
        *_phase_voltages(prefix, source),
        _static(f"{prefix}.voltage.nominal", f"{flow}.ConfigVoltage"),
        HidVariable(f"{prefix}.current", f"{source}.Current", "%.2f"),
        *_phase_currents(prefix, source),
        _static(f"{prefix}.current.nominal", f"{flow}.ConfigCurrent", "%.2f"),
        HidVariable(f"{prefix}.frequency", f"{source}.Frequency", "%.1f"),
        _static(f"{prefix}.frequency.nominal", f"{flow}.ConfigFrequency"),
    )


def _outlet_rows(number: int) -> tuple[HidVariable, ...]:
    """outlet.N.* of a PowerShare outlet (Outlet.[N+1]); outlet.2's switchable row is Eco control's."""
    name, path = f"outlet.{number}", f"{OUTLET}.[{number + 1}]"
    if number == 2:
        # Protection Station / Ellipse ECO: RW, to enable the master/slave mode; the plain row for others.
        switchable: tuple[HidVariable, ...] = (
            rw(f"{name}.switchable", f"{path}.PresentStatus.Switchable", "%s", length=3, conversion=ECO_YES_NO),
            HidVariable(f"{name}.switchable", f"{path}.PresentStatus.Switchable", "%s", conversion=YES_NO),
        )
    else:
        switchable = (_static(f"{name}.switchable", f"{path}.PresentStatus.Switchable", "%s", conversion=YES_NO),)
    status = (HidVariable(f"{name}.status", f"{path}.PresentStatus.SwitchOn/Off", "%s", conversion=ON_OFF),)
    if number == 1:  # low-end units with one outlet not on battery
        status += (HidVariable(f"{name}.status", f"{PRESENT}.ACPresent", "%s", conversion=ON_OFF),)
    return (
        _static(f"{name}.id", f"{path}.OutletID"),
        *switchable,
        *status,
        rw(f"{name}.autoswitch.charge.low", f"{path}.RemainingCapacityLimit", length=3),
        rw(f"{name}.delay.shutdown", f"{path}.ShutdownTimer", length=5),
        rw(f"{name}.delay.start", f"{path}.StartupTimer", length=5),
        *_power_rows(name, path),
    )


def _power_rows(name: str, path: str) -> tuple[HidVariable, ...]:
    return (
        HidVariable(f"{name}.power", f"{path}.ApparentPower"),
        HidVariable(f"{name}.realpower", f"{path}.ActivePower"),
        HidVariable(f"{name}.current", f"{path}.Current", "%.2f"),
        HidVariable(f"{name}.powerfactor", f"{path}.PowerFactor", "%.2f"),
    )


def _outlet_commands(number: int) -> tuple[HidCommand, ...]:
    path = f"{OUTLET}.[{number + 1}]"
    return (
        HidCommand(f"outlet.{number}.load.off", f"{path}.DelayBeforeShutdown", "0"),
        HidCommand(f"outlet.{number}.load.on", f"{path}.DelayBeforeStartup", "0"),
    )


def _beeper_commands() -> tuple[HidCommand, ...]:
    """mge-hid.c's beeper rows: beeper.off disables (1) rather than mutes; the 3S has its alarm control under
    the battery, others under PowerSummary (the first present wins)."""
    rows = [HidCommand("beeper.off", f"{PS}.AudibleAlarmControl", "1")]
    rows.append(HidCommand("beeper.on", f"{PS}.AudibleAlarmControl", "2"))
    for name, value in (("beeper.mute", "3"), ("beeper.disable", "1"), ("beeper.enable", "2")):
        rows += [HidCommand(name, f"{BATTERY}.AudibleAlarmControl", value)]
        rows += [HidCommand(name, f"{PS}.AudibleAlarmControl", value)]
    return tuple(rows)


def _alarm(path: str, text: str) -> HidAlarm:
    return HidAlarm(path, {1: text})


def _semi(name: str, path: str, fmt: str = "%s", **kwargs: object) -> HidVariable:
    return HidVariable(name, path, fmt, poll=Poll.SEMI_STATIC, **kwargs)  # type: ignore[arg-type]


_TIMERS, _DELAY_COMMANDS, _DELAYS = delay_rows(PS)
USAGES = {
    0xFFFF0000 + code: name
    for code, name in (
        (0x00, "Undefined"), (0x01, "STS"), (0x02, "Environment"), (0x03, "Statistic"), (0x04, "StatisticSystem"),
        (0x10, "Phase"), (0x11, "PhaseID"), (0x12, "Chopper"), (0x13, "ChopperID"), (0x14, "Inverter"),
        (0x15, "InverterID"), (0x16, "Rectifier"), (0x17, "RectifierID"), (0x18, "LCMSystem"),
        (0x19, "LCMSystemID"), (0x1A, "LCMAlarm"), (0x1B, "LCMAlarmID"), (0x1C, "HistorySystem"),
        (0x1D, "HistorySystemID"), (0x1E, "Event"), (0x1F, "EventID"), (0x20, "CircuitBreaker"),
        (0x21, "TransferForbidden"), (0x22, "OverallAlarm"), (0x23, "Dephasing"), (0x24, "BypassBreaker"),
        (0x25, "PowerModule"), (0x26, "PowerRate"), (0x27, "PowerSource"), (0x28, "CurrentPowerSource"),
        (0x29, "RedundancyLevel"), (0x2A, "RedundancyLost"), (0x2B, "NotificationStatus"),
        (0x2C, "ProtectionLost"), (0x2D, "ConfigurationFailure"), (0x2E, "CompatibilityFailure"),
        (0x40, "SwitchType"), (0x41, "ConverterType"), (0x42, "FrequencyConverterMode"),
        (0x43, "AutomaticRestart"), (0x44, "ForcedReboot"), (0x45, "TestPeriod"), (0x46, "EnergySaving"),
        (0x47, "StartOnBattery"), (0x48, "Schedule"), (0x49, "DeepDischargeProtection"), (0x4A, "ShortCircuit"),
        (0x4B, "ExtendedVoltageMode"), (0x4C, "SensitivityMode"), (0x4D, "RemainingCapacityLimitSetting"),
        (0x4E, "ExtendedFrequencyMode"), (0x4F, "FrequencyConverterModeSetting"),
        (0x50, "LowVoltageBoostTransfer"), (0x51, "HighVoltageBoostTransfer"), (0x52, "LowVoltageBuckTransfer"),
        (0x53, "HighVoltageBuckTransfer"), (0x54, "OverloadTransferEnable"),
        (0x55, "OutOfToleranceTransferEnable"), (0x56, "ForcedTransferEnable"),
        (0x57, "LowVoltageBypassTransfer"), (0x58, "HighVoltageBypassTransfer"),
        (0x59, "FrequencyRangeBypassTransfer"), (0x5A, "LowVoltageEcoTransfer"),
        (0x5B, "HighVoltageEcoTransfer"), (0x5C, "FrequencyRangeEcoTransfer"), (0x5D, "ShutdownTimer"),
        (0x5E, "StartupTimer"), (0x5F, "RestartLevel"), (0x60, "PhaseOutOfRange"), (0x61, "CurrentLimitation"),
        (0x62, "ThermalOverload"), (0x63, "SynchroSource"), (0x64, "FuseFault"),
        (0x65, "ExternalProtectedTransfert"), (0x66, "ExternalForcedTransfert"), (0x67, "Compensation"),
        (0x68, "EmergencyStop"), (0x69, "PowerFactor"), (0x6A, "PeakFactor"), (0x6B, "ChargerType"),
        (0x6C, "HighPositiveDCBusVoltage"), (0x6D, "LowPositiveDCBusVoltage"),
        (0x6E, "HighNegativeDCBusVoltage"), (0x6F, "LowNegativeDCBusVoltage"), (0x70, "FrequencyRangeTransfer"),
        (0x71, "WiringFaultDetection"), (0x72, "ControlStandby"), (0x73, "ShortCircuitTolerance"),
        (0x74, "VoltageTooHigh"), (0x75, "VoltageTooLow"), (0x76, "DCBusUnbalanced"), (0x77, "FanFailure"),
        (0x78, "WiringFault"), (0x79, "Floating"), (0x7A, "OverCurrent"), (0x7B, "RemainingActivePower"),
        (0x7C, "Energy"), (0x7D, "Threshold"), (0x7E, "OverThreshold"), (0x80, "Sensor"), (0x81, "LowHumidity"),
        (0x82, "HighHumidity"), (0x83, "LowTemperature"), (0x84, "HighTemperature"), (0x85, "ECOControl"),
        (0x86, "Efficiency"), (0x87, "ABMEnable"), (0x88, "NegativeCurrent"), (0x89, "AutomaticStart"),
        (0x90, "Count"), (0x91, "Timer"), (0x92, "Interval"), (0x93, "TimerExpired"), (0x94, "Mode"),
        (0x95, "Country"), (0x96, "State"), (0x97, "Time"), (0x98, "Code"), (0x99, "DataValid"),
        (0x9A, "ToggleTimer"), (0x9B, "BypassTransferDelay"), (0x9C, "HysteresysVoltageTransfer"),
        (0x9D, "SlewRate"), (0xA0, "PDU"), (0xA1, "Breaker"), (0xA2, "BreakerID"), (0xA3, "OverVoltage"),
        (0xA4, "Tripped"), (0xA5, "OverEnergy"), (0xA6, "OverHumidity"), (0xA7, "ConfigurationReset"),
        (0xA8, "Level"), (0xA9, "PDUType"), (0xAA, "ReactivePower"), (0xAB, "Pole"), (0xAC, "PoleID"),
        (0xAD, "Reset"), (0xAE, "WatchdogReset"), (0xE0, "COPIBridge"), (0xF0, "iModel"), (0xF1, "iVersion"),
        (0xF2, "iTechnicalLevel"), (0xF3, "iPartNumber"), (0xF4, "iReferenceNumber"), (0xF5, "iGang"),
    )
}  # fmt: skip
"""mge_usage_lkp: Eaton/MGE's vendor page 0xffff."""
USAGES[0x0084006B] = "SwitchOn/Off"  # NUT's own name for the Power Device page's 0x6B

EATON = Subdriver(
    name="MGE HID 1.46",
    vendor_ids=frozenset(
        {MGE_VENDORID, DELL_VENDORID, POWERWARE_VENDORID, HP_VENDORID, AEG_VENDORID, PHOENIXTEC_VENDORID}
        | {IBM_VENDORID}
    ),
    products={
        MGE_VENDORID: frozenset({0x0001, 0xFFFF}),
        DELL_VENDORID: frozenset({0xFFFF}),
        POWERWARE_VENDORID: frozenset({0x0004}),  # PW 9140
        HP_VENDORID: frozenset({0x1FE5, 0x1FE6, 0x1FE7, 0x1FE8}),  # R/T3000 and others
        AEG_VENDORID: frozenset({0xFFFF}),  # PROTECT B / NAS
        PHOENIXTEC_VENDORID: frozenset({0xFFFF}),  # AEG PROTECT NAS
        IBM_VENDORID: frozenset({0x0001}),  # 6000 VA LCD 4U Rack UPS; 5396-1Kx
    },
    string_claims={PHOENIXTEC_VENDORID: "AEG"},
    usages=USAGES,
    variables=(
        _static("device.country", f"{PS}.Country", "%s", conversion=COUNTRY),  # kept, not published
        # Battery
        HidVariable("battery.charge", f"{PS}.RemainingCapacity"),
        rw("battery.charge.low", f"{PS}.RemainingCapacityLimitSetting", length=5),
        _static("battery.charge.low", f"{PS}.RemainingCapacityLimit"),
        rw("battery.charge.restart", f"{PS}.RestartLevel", length=3),
        _static("battery.capacity", f"{BATTERY}.DesignCapacity", "%s", conversion=BATTERY_CAPACITY),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        HidVariable("battery.runtime.low", f"{PS}.RemainingTimeLimit", writable=True),  # listed twice in NUT
        HidVariable("battery.runtime.elapsed", "UPS.StatisticSystem.Input.[1].Statistic.[1].Time", poll=Poll.QUICK),
        HidVariable("battery.temperature", f"{BATTERY}.Temperature", "%s", conversion=KELVIN),
        _static("battery.type", f"{PS}.iDeviceChemistry", "%s", conversion=STRING_INDEX),
        HidVariable("battery.voltage", "UPS.BatterySystem.Voltage", "%.1f"),
        HidVariable("battery.voltage", f"{PS}.Voltage", "%s", conversion=BATTERY_VOLTAGE),
        _static("battery.voltage.nominal", "UPS.BatterySystem.ConfigVoltage"),
        _static("battery.voltage.nominal", f"{PS}.ConfigVoltage", "%s", conversion=BATTERY_VOLTAGE_NOMINAL),
        rw("battery.protection", f"{BATTERY}.DeepDischargeProtection", "%s", length=5, conversion=YES_NO),
        rw("battery.energysave", f"{INPUT}.[3].EnergySaving", "%s", length=5, conversion=YES_NO),
        rw("battery.energysave.load", f"{INPUT}.[3].ConfigPercentLoad", length=5),
        rw("battery.energysave.delay", f"{INPUT}.[3].EnergySaving.ShutdownTimer", length=5),
        rw("battery.energysave.delay", f"{INPUT}.[3].ShutdownTimer", length=5),
        rw("battery.energysave.realpower", f"{INPUT}.[3].ConfigActivePower", length=5),
        # ABM: ABMEnable is kept (not published), then the charger's mode is the status
        HidVariable("battery.charger.status", f"{CHARGER}.ABMEnable", conversion=ABM_ENABLED, poll=Poll.QUICK),
        HidVariable("battery.charger.status", f"{CHARGER}.Mode", conversion=ABM_STATUS, poll=Poll.QUICK),
        # UPS
        HidVariable("ups.efficiency", f"{OUTPUT}.Efficiency"),
        _static("ups.firmware", f"{PS}.iVersion", "%s", conversion=STRING_INDEX),
        HidVariable("ups.load", f"{PS}.PercentLoad"),
        rw("ups.load.high", "UPS.Flow.[4].ConfigPercentLoad", length=5),
        *_TIMERS,
        HidVariable("ups.test.result", f"{BATTERY}.Test", "%s", conversion=TEST_RESULT),
        rw("ups.test.interval", f"{BATTERY}.TestPeriod", length=8),
        _semi("ups.beeper.status", f"{BATTERY}.AudibleAlarmControl", conversion=BEEPER),
        _semi("ups.beeper.status", f"{PS}.AudibleAlarmControl", conversion=BEEPER),
        HidVariable("ups.temperature", f"{PS}.Temperature", "%s", conversion=KELVIN),
        HidVariable("ups.power", f"{OUTPUT}.ApparentPower"),
        *(HidVariable(f"ups.{ph}.power", f"{OUTPUT}.Phase.[{n}].ApparentPower") for ph, n in PHASES),
        _static("ups.power.nominal", "UPS.Flow.[4].ConfigApparentPower"),
        HidVariable("ups.realpower", f"{OUTPUT}.ActivePower"),
        HidVariable("ups.realpower", "UPS.Flow.[4].ConfigApparentPower", "%s", conversion=REALPOWER),
        *(HidVariable(f"ups.{ph}.realpower", f"{OUTPUT}.Phase.[{n}].ActivePower") for ph, n in PHASES),
        _static("ups.realpower.nominal", "UPS.Flow.[4].ConfigActivePower"),
        rw("ups.start.auto", f"{INPUT}.[1].AutomaticRestart", "%s", length=5, conversion=YES_NO),
        rw("ups.start.battery", f"{INPUT}.[3].StartOnBattery", "%s", length=5, conversion=YES_NO),
        rw("ups.start.reboot", f"{OUTPUT}.ForcedReboot", "%s", length=5, conversion=YES_NO),
        rw("ups.shutdown", f"{PRESENT}.Switchable", "%s", conversion=ENABLED, enum=True),
        HidVariable("ups.date", f"{PS}.Time", "%s", conversion=DATE, writable=True),
        HidVariable("ups.time", f"{PS}.Time", "%s", conversion=TIME, writable=True),
        _static("ups.type", f"{CONVERTER}.ConverterType", "%s", conversion=UPS_TYPE),
        # Input
        *_source_rows("input", 1),
        rw("input.transfer.low", f"{OUTPUT}.LowVoltageTransfer", length=5),
        rw("input.transfer.boost.low", f"{OUTPUT}.LowVoltageBoostTransfer", length=5),
        rw("input.transfer.boost.high", f"{OUTPUT}.HighVoltageBoostTransfer", length=5),
        rw("input.transfer.trim.low", f"{OUTPUT}.LowVoltageBuckTransfer", length=5),
        rw("input.transfer.high", f"{OUTPUT}.HighVoltageTransfer", length=5),
        rw("input.transfer.trim.high", f"{OUTPUT}.HighVoltageBuckTransfer", length=5),
        rw("input.sensitivity", f"{OUTPUT}.SensitivityMode", "%s", conversion=SENSITIVITY),
        rw("input.voltage.extended", f"{OUTPUT}.ExtendedVoltageMode", "%s", length=5, conversion=YES_NO),
        rw("input.frequency.extended", f"{OUTPUT}.ExtendedFrequencyMode", "%s", length=5, conversion=YES_NO),
        # Bypass
        *_source_rows("input.bypass", 2),
        # Output
        HidVariable("output.voltage", f"{OUTPUT}.Voltage", "%.1f"),
        *_phase_voltages("output", OUTPUT),
        rw(
            "output.voltage.nominal",
            "UPS.Flow.[4].ConfigVoltage",
            length=3,
            conversion=NOMINAL_OUTPUT_VOLTAGE,
            enum=True,
        ),
        HidVariable("output.current", f"{OUTPUT}.Current", "%.2f"),
        *_phase_currents("output", OUTPUT),
        HidVariable("output.current.nominal", "UPS.Flow.[4].ConfigCurrent", "%.2f"),
        HidVariable("output.frequency", f"{OUTPUT}.Frequency", "%.1f"),
        _static("output.frequency.nominal", "UPS.Flow.[4].ConfigFrequency"),
        HidVariable("output.powerfactor", f"{OUTPUT}.PowerFactor", "%s", conversion=POWER_FACTOR),
        # Outlets (MGE's PowerShare): the main one (Outlet.[1]), then outlets 1 and 2
        _static("outlet.id", f"{OUTLET}.[1].OutletID"),
        _static("outlet.switchable", f"{OUTLET}.[1].PresentStatus.Switchable", "%s", conversion=YES_NO),
        # Protection Station: the master outlet's consumption (10, 25 or 60 VA) below which the others go off
        rw("outlet.power", f"{OUTLET}.[1].ConfigApparentPower", "%s", length=6, conversion=ECO_THRESHOLD, enum=True),
        *_power_rows("outlet", f"{OUTLET}.[1]"),
        *_outlet_rows(1),
        *_outlet_rows(2),
    ),
    flags=(
        *status_rows(PRESENT, ("ACPresent",), ()),
        HidFlag(f"{INPUT}.[3].PresentStatus.Used", "online", ON_BATTERY),
        # Charging/Discharging count while ABM is off; with it on, the charger's mode says (see MgeQuirks).
        HidFlag(f"{PRESENT}.Discharging", "dischrg", poll=Poll.QUICK, device_bits=_legacy_bit("dischrg")),
        HidFlag(f"{PRESENT}.Charging", "chrg", poll=Poll.QUICK, device_bits=_legacy_bit("chrg")),
        HidFlag(f"{CHARGER}.Mode", "chrg", poll=Poll.QUICK, device_bits=_abm_bits),
        *status_rows(PRESENT, ("BelowRemainingCapacityLimit",), ()),
        HidFlag(f"{OUTPUT}.Overload.[1].PresentStatus.OverThreshold", "overload"),
        HidFlag(f"{OUTPUT}.Overload.[2].PresentStatus.OverThreshold", "overload"),
        *status_rows(PRESENT, (), ("Overload", "NeedReplacement")),
        HidFlag("UPS.LCMSystem.LCMAlarm.[2].PresentStatus.TimerExpired", "replacebatt"),
        *status_rows(f"{INPUT}.[1].PresentStatus", (), ("Buck", "Boost", "VoltageOutOfRange", "FrequencyOutOfRange")),
        HidFlag(f"{PRESENT}.Good", "off", SET_WHEN_0),
        HidFlag(f"{INPUT}.[1].PresentStatus.Used", "online", device_bits=_converter_online),  # after Good
        HidFlag(f"{INPUT}.[2].PresentStatus.Used", "bypassauto"),
        HidFlag(f"{INPUT}.[4].PresentStatus.Used", "bypassman"),
        HidFlag(f"{PRESENT}.FanFailure", "fanfail"),
        HidFlag(f"{BATTERY}.PresentStatus.Present", "nobattery", SET_WHEN_0),
        HidFlag(f"{CHARGER}.PresentStatus.InternalFailure", "chargerfail"),
        HidFlag(f"{CHARGER}.PresentStatus.VoltageTooHigh", "battvolthi"),
        HidFlag(f"{INPUT}.[1].PresentStatus.VoltageTooHigh", "battvolthi"),
        HidFlag(f"{BATTERY}.PresentStatus.VoltageTooHigh", "battvolthi"),
        HidFlag(f"{CHARGER}.PresentStatus.VoltageTooLow", "battvoltlo"),
        HidFlag(f"{INPUT}.[1].PresentStatus.VoltageTooLow", "online", ON_BATTERY),
        *status_rows(PRESENT, (), ("InternalFailure", "OverTemperature", "ShutdownImminent")),
    ),
    alarms=(
        _alarm(f"{PRESENT}.EmergencyStop", "Emergency stop!"),
        _alarm(f"{INPUT}.[1].PresentStatus.WiringFault", "Wiring fault!"),
        _alarm(f"{PRESENT}.ConfigurationFailure", "Fatal EEPROM fault!"),
        _alarm(f"{CONVERTER}.Inverter.PresentStatus.VoltageTooHigh", "Inverter AC voltage too high!"),
        _alarm(f"{CONVERTER}.Inverter.PresentStatus.VoltageTooLow", "Inverter AC voltage too low!"),
        _alarm(f"{OUTPUT}.PresentStatus.ShortCircuit", "Output short circuit!"),
    ),
    commands=(
        *test_commands(f"{BATTERY}.Test"),
        *_DELAY_COMMANDS,
        *_beeper_commands(),
        *_outlet_commands(1),
        *_outlet_commands(2),
    ),
    settings=(
        *_DELAYS,
        ServerSetting("outlet.desc", f"{OUTLET}.[1].OutletID", "Main Outlet", length=20),
        ServerSetting("outlet.1.desc", f"{OUTLET}.[2].OutletID", "PowerShare Outlet 1", length=20),
        ServerSetting("outlet.2.desc", f"{OUTLET}.[3].OutletID", "PowerShare Outlet 2", length=20),
    ),
    default_mfr="Eaton",
    quirks=MgeQuirks,
)
"""mge-hid.c restated whole; left out only what NUT 2.8.0 compiles out (the legacy ABM row under ``#if 0``)."""
