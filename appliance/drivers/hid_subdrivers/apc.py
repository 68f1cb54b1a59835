"""APC's usbhid-ups subdriver: NUT 2.8.0's apc-hid.c ("APC HID 0.98") as data."""

from __future__ import annotations

from appliance.drivers.hid_subdrivers.common import (
    BEEPER,
    HID_DATE,
    KELVIN,
    PRESENT,
    PS,
    STRING_INDEX,
    TEST_RESULT,
    beeper_commands,
    delay_rows,
    rw,
    status_rows,
    test_commands,
)
from appliance.drivers.hid_subdrivers.model import (
    SET_WHEN_0,
    Conversion,
    HidCommand,
    HidFlag,
    HidVariable,
    Poll,
    Quirks,
    Subdriver,
)
from appliance.drivers.usb_transport import UsbIdentity


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


APC_DATE = Conversion("APC date", to_text=_apc_date)
APC_SENSITIVITY = Conversion("APC sensitivity", {0: "low", 1: "medium", 2: "high"})


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


class ApcQuirks(Quirks):
    """APC 5G units (051d:0003) use the interrupt pipe for a proprietary protocol: poll only (apc-hid.c)."""

    def __init__(self, identity: UsbIdentity) -> None:
        super().__init__(identity)
        self.use_interrupt_pipe = identity.productid != 0x0003


# APCStatusFlag, "determined empirically from observing a BackUPS LS 500": 8 (normal) and 16 (briefly at
# power-on) clear OFF, 0 sets it, other values say nothing.
APC_STATUS_FLAG = {8: False, 16: False, 0: True}
# APCLineFailCause, the reason of the last transfer (from apcupsd): voltage causes, frequency, or none yet.
APC_LINE_FAIL_VOLTAGE = {1: True, 2: True, 4: True, 8: True, 9: True, 0: False}
APC_LINE_FAIL_FREQUENCY = {7: True, 0: False}

APC_VENDORID = 0x051D
_APC_DELAYS = [delay_rows(PS), delay_rows("UPS.Output"), delay_rows("UPS.APCGeneralCollection", "APC")]
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
        rw("battery.charge.low", f"{PS}.RemainingCapacityLimit"),
        HidVariable("battery.charge.warning", f"{PS}.WarningCapacityLimit"),
        HidVariable("battery.runtime", "UPS.Battery.RunTimeToEmpty"),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        rw("battery.runtime.low", "UPS.Battery.RemainingTimeLimit"),
        rw("battery.runtime.low", f"{PS}.RemainingTimeLimit"),
        HidVariable("battery.voltage", "UPS.Battery.Voltage", "%.1f"),
        HidVariable("battery.voltage", f"{PS}.Voltage", "%.1f"),
        HidVariable("battery.voltage.nominal", "UPS.Battery.ConfigVoltage", "%.1f"),
        HidVariable("battery.voltage.nominal", f"{PS}.ConfigVoltage", "%.1f"),
        HidVariable("battery.temperature", "UPS.Battery.Temperature", conversion=KELVIN),
        HidVariable("battery.type", f"{PS}.iDeviceChemistry", conversion=STRING_INDEX),
        rw("battery.mfr.date", "UPS.Battery.ManufacturerDate", conversion=HID_DATE),
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
        rw("input.transfer.low", "UPS.Output.LowVoltageTransfer"),
        rw("input.transfer.high", "UPS.Output.HighVoltageTransfer"),
        rw("input.transfer.low", "UPS.Input.LowVoltageTransfer"),
        rw("input.transfer.high", "UPS.Input.HighVoltageTransfer"),
        rw("input.sensitivity", "UPS.Input.APCSensitivity", "%s", conversion=APC_SENSITIVITY),
        HidVariable("output.voltage", "UPS.Output.Voltage", "%.1f"),
        HidVariable("output.voltage.nominal", "UPS.Output.ConfigVoltage", "%.1f"),
        HidVariable("output.current", "UPS.Output.Current", "%.2f"),
        HidVariable("output.frequency", "UPS.Output.Frequency", "%.1f"),
        HidVariable("ambient.temperature", "UPS.APCEnvironment.APCProbe1.Temperature", conversion=KELVIN),
        HidVariable("ambient.humidity", "UPS.APCEnvironment.APCProbe1.Humidity", "%.1f"),
    ),
    flags=(
        *status_rows(
            PRESENT,
            ("ACPresent", "Discharging", "Charging", "BelowRemainingCapacityLimit"),
            ("ShutdownImminent", "Overload", "NeedReplacement", "RemainingTimeLimitExpired"),
        ),
        HidFlag(f"{PRESENT}.BatteryPresent", "nobattery", SET_WHEN_0),
        # Back-UPS 500 and the ES series put the bits straight under PowerSummary.
        *status_rows(
            PS, ("Charging", "Discharging", "ACPresent", "BelowRemainingCapacityLimit"), ("ShutdownImminent",)
        ),
        HidFlag(f"{PS}.APCStatusFlag", "off", APC_STATUS_FLAG, Poll.QUICK),
        HidFlag("UPS.Input.APCLineFailCause", "vrange", APC_LINE_FAIL_VOLTAGE),
        HidFlag("UPS.Input.APCLineFailCause", "frange", APC_LINE_FAIL_FREQUENCY),
    ),
    commands=(
        *test_commands("UPS.BatterySystem.Battery.Test"),
        *test_commands("UPS.Battery.Test"),
        HidCommand("test.panel.start", "UPS.APCPanelTest", "1"),
        HidCommand("test.panel.stop", "UPS.APCPanelTest", "0"),
        HidCommand("test.panel.start", f"{PS}.APCPanelTest", "1"),
        HidCommand("test.panel.stop", f"{PS}.APCPanelTest", "0"),
        *(row for _, commands, _ in _APC_DELAYS for row in commands),
        HidCommand("shutdown.return", "UPS.Output.APCDelayBeforeReboot", "1"),  # Back-UPS CS
        *beeper_commands(f"{PS}.AudibleAlarmControl"),
    ),
    settings=tuple(row for _, _, delays in _APC_DELAYS for row in delays),
    default_mfr="APC",
    product_variables=_apc_product,
    quirks=ApcQuirks,
)
"""Left out, as in NUT 2.8.0: the usages it names but never reads (BUP*, APCBattCapBeforeStartup, panel test
state). NUT's max_report_size tweak for Back-UPS ES 525/CS is our default: every GET_REPORT asks for the
length the descriptor gives the report."""
