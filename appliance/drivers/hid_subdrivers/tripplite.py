"""Tripp Lite's usbhid-ups subdriver: NUT 2.8.0's tripplite-hid.c ("TrippLite HID 0.84") as data and quirks."""

from __future__ import annotations

from appliance.drivers.hid_subdrivers.common import (
    BEEPER,
    KELVIN,
    PRESENT,
    PS,
    STRING_INDEX,
    TEST_RESULT,
    beeper_commands,
    rw,
    status_rows,
    test_commands,
)
from appliance.drivers.hid_subdrivers.model import (
    DEFAULT_OFFDELAY,
    DEFAULT_ONDELAY,
    HidCommand,
    HidFlag,
    HidVariable,
    Poll,
    Quirks,
    ServerSetting,
    Subdriver,
)
from appliance.drivers.usb_transport import UsbIdentity

TRIPPLITE_VENDORID = 0x09AE
HP_VENDORID = 0x03F0
DELTA_VENDORID = 0x05DD

# The per-product scales of tripplite-hid.c's device table: some firmware reports the battery voltage 10 times
# too high (0.1), two newer units get every voltage, frequency and current exponent wrong.
BATTERY_TENTH = frozenset(
    {0x1003, 0x1007, 0x1008, 0x1009, 0x1010, 0x2005, 0x2007, 0x2008, 0x2009, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014}
)
SMART1500LCDT = frozenset({0x3016, 0x3024})
UNSCALED = frozenset({0x1330, 0x3008, 0x3009, 0x3010, 0x3011, 0x3012, 0x3013, 0x3014, 0x3015, *range(0x4001, 0x4009)})
HP_PRODUCTS = frozenset({0x0001, 0x1FE0, 0x1FE1, 0x1FE2, 0x1FE3, 0x1F06, 0x1F08, 0x1F09, 0x1F0A})
WRONG_CHEMISTRY = frozenset({0x1003, 0x2005})
"""AVR550U and OMNI1000LCD firmware give a bad chemistry string index: NUT publishes "unknown"."""

_SMART1500LCDT_SCALES = {
    "battery.voltage": 100000.0,
    "input.voltage": 100000.0,
    "output.voltage": 100000.0,
    "input.frequency": 0.01,
    "output.frequency": 0.01,
    "output.current": 0.01,
}


class TrippLiteQuirks(Quirks):
    """Scales by product ID and the chemistry workaround (tripplite-hid.c)."""

    def __init__(self, identity: UsbIdentity) -> None:
        super().__init__(identity)
        product = identity.productid if identity.vendorid == TRIPPLITE_VENDORID else None
        if product in BATTERY_TENTH:
            self.scale["battery.voltage"] = 0.1
        elif product in SMART1500LCDT:
            self.scale.update(_SMART1500LCDT_SCALES)
        if product in WRONG_CHEMISTRY:
            self.fixed["battery.type"] = "unknown"


OUTLET = "UPS.OutletSystem.Outlet"
CONVERTER = "UPS.PowerConverter"
TRIPPLITE = Subdriver(
    name="TrippLite HID 0.84",
    vendor_ids=frozenset({TRIPPLITE_VENDORID, HP_VENDORID}),
    products={
        TRIPPLITE_VENDORID: BATTERY_TENTH | SMART1500LCDT | UNSCALED,
        HP_VENDORID: HP_PRODUCTS,
        DELTA_VENDORID: frozenset({0xA011}),  # Delta/Minuteman Enterprise Plus E1500RM2U
    },
    refused=frozenset({(TRIPPLITE_VENDORID, 0x0001)}),  # tripplite_usb's units
    usages={
        0xFFFF0010: "TLCustom",
        0xFFFF0056: "TLDelayBeforeStartup",
        0xFFFF0057: "TLLowVoltageTransferMax",
        0xFFFF0058: "TLLowVoltageTransferMin",
        0xFFFF0059: "TLHighVoltageTransferMax",
        0xFFFF005A: "TLHighVoltageTransferMin",
        0xFFFF007A: "OutletState",
        0xFFFF007B: "OutletCount",
        0xFFFF007C: "UPSFirmwareVersion",
        0xFFFF007D: "CommunicationProtocolVersion",
        0xFFFF007E: "CommunicationVersion",
        0xFFFF007F: "iUPSPartNumber",
        0xFFFF0080: "AutoOnDelay",
        0xFFFF0092: "TLWatchdog",
        0xFFFF0095: "TLOutletsAvailableMask",
        0xFFFF0096: "TLOutletsStatusMask",
        # Tripp Lite put these Battery System usages on the Power Device page (OMNI1000LCD); the vendor names
        # win over the standard ones, as in NUT (0x00840045 is ConfigPercentLoad on HP units).
        0x00840044: "TLCharging",
        0x00840045: "TLDischarging",
        0x0084004B: "TLNeedReplacement",
        0x008400D0: "TLACPresent",
    },
    variables=(
        HidVariable("device.part", "UPS.TLCustom.[1].iUPSPartNumber", conversion=STRING_INDEX, poll=Poll.STATIC),
        HidVariable("battery.charge", f"{PS}.RemainingCapacity"),
        HidVariable("battery.charge", "UPS.BatterySystem.Battery.RemainingCapacity"),
        rw("battery.charge.low", f"{PS}.RemainingCapacityLimit", length=5),
        HidVariable("battery.charge.warning", f"{PS}.WarningCapacityLimit"),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        HidVariable("battery.voltage.nominal", "UPS.BatterySystem.Battery.ConfigVoltage", "%.1f", poll=Poll.STATIC),
        HidVariable("battery.voltage", "UPS.BatterySystem.Battery.Voltage", "%.1f"),
        HidVariable("battery.type", f"{PS}.iDeviceChemistry", conversion=STRING_INDEX, poll=Poll.STATIC),
        HidVariable("battery.temperature", "UPS.BatterySystem.Temperature", conversion=KELVIN),
        HidVariable("ups.timer.start", f"{OUTLET}.DelayBeforeStartup", poll=Poll.QUICK),
        HidVariable("ups.timer.start", f"{OUTLET}.TLDelayBeforeStartup", poll=Poll.QUICK),
        HidVariable("ups.timer.shutdown", f"{OUTLET}.DelayBeforeShutdown", poll=Poll.QUICK),
        HidVariable("ups.timer.reboot", f"{OUTLET}.DelayBeforeReboot", poll=Poll.QUICK),
        HidVariable("ups.test.result", "UPS.BatterySystem.Test", conversion=TEST_RESULT),
        HidVariable("ups.beeper.status", f"{PS}.AudibleAlarmControl", conversion=BEEPER),
        HidVariable("ups.power.nominal", "UPS.Flow.ConfigApparentPower", poll=Poll.STATIC),
        HidVariable("ups.power", f"{OUTLET}.ActivePower", "%.1f"),
        HidVariable("ups.power", f"{CONVERTER}.Output.ActivePower", "%.1f"),
        HidVariable("ups.load", f"{OUTLET}.PercentLoad"),
        HidVariable("ups.firmware", "UPS.TLCustom.[1].UPSFirmwareVersion", poll=Poll.STATIC),
        HidVariable("ups.watchdog.status", f"{OUTLET}.TLWatchdog"),
        HidVariable("ups.load.nominal", "UPS.Flow.ConfigPercentLoad"),
        HidVariable("input.voltage.nominal", f"{PS}.Input.ConfigVoltage", poll=Poll.STATIC),
        HidVariable("input.voltage", f"{PS}.Input.Voltage", "%.1f"),
        HidVariable("input.voltage", f"{CONVERTER}.Input.Voltage", "%.1f"),
        HidVariable("input.frequency", f"{CONVERTER}.Input.Frequency", "%.1f"),
        rw("input.transfer.low", f"{CONVERTER}.Output.LowVoltageTransfer", "%.1f", length=5),
        HidVariable("input.transfer.low.max", f"{CONVERTER}.Output.TLLowVoltageTransferMax", poll=Poll.STATIC),
        HidVariable("input.transfer.low.min", f"{CONVERTER}.Output.TLLowVoltageTransferMin", poll=Poll.STATIC),
        rw("input.transfer.high", f"{CONVERTER}.Output.HighVoltageTransfer", "%.1f", length=5),
        HidVariable("input.transfer.high.max", f"{CONVERTER}.Output.TLHighVoltageTransferMax", poll=Poll.STATIC),
        HidVariable("input.transfer.high.min", f"{CONVERTER}.Output.TLHighVoltageTransferMin", poll=Poll.STATIC),
        HidVariable("output.voltage.nominal", "UPS.Flow.ConfigVoltage", poll=Poll.STATIC),
        HidVariable("output.voltage", f"{CONVERTER}.Output.Voltage", "%.1f"),
        HidVariable("output.voltage", f"{PS}.Voltage", "%.1f"),
        HidVariable("output.current", f"{CONVERTER}.Output.Current", "%.1f"),
        HidVariable("output.frequency.nominal", "UPS.Flow.ConfigFrequency", poll=Poll.STATIC),
        HidVariable("output.frequency", f"{CONVERTER}.Output.Frequency", "%.1f"),
    ),
    flags=(
        *status_rows(PRESENT, (), ("InternalFailure", "ShutdownImminent")),
        *status_rows(
            PRESENT,
            ("ACPresent", "BelowRemainingCapacityLimit", "FullyCharged", "Charging", "Discharging", "FullyDischarged"),
            ("NeedReplacement",),
        ),
        HidFlag(f"{PRESENT}.TLACPresent", "online", poll=Poll.QUICK),
        HidFlag(f"{PRESENT}.TLDischarging", "dischrg", poll=Poll.QUICK),
        HidFlag(f"{PRESENT}.TLCharging", "chrg", poll=Poll.QUICK),
        HidFlag(f"{PRESENT}.TLNeedReplacement", "replacebatt"),
        *status_rows(
            f"{CONVERTER}.PresentStatus",
            (),
            ("VoltageOutOfRange", "Buck", "Boost", "Overload", "OverTemperature", "InternalFailure", "AwaitingPower"),
        ),
    ),
    commands=(
        *test_commands("UPS.BatterySystem.Test"),
        HidCommand("load.off.delay", f"{OUTLET}.DelayBeforeShutdown", "offdelay"),
        HidCommand("load.on.delay", f"{OUTLET}.DelayBeforeStartup", "ondelay"),
        HidCommand("load.on.delay", f"{OUTLET}.TLDelayBeforeStartup", "ondelay"),
        HidCommand("shutdown.stop", f"{OUTLET}.DelayBeforeShutdown", "-1"),
        HidCommand("shutdown.reboot", f"{OUTLET}.DelayBeforeReboot", "10"),
        HidCommand("shutdown.reboot", f"{OUTLET}.TLWatchdog", "10"),
        HidCommand("reset.watchdog", f"{OUTLET}.TLWatchdog", "60"),
        *beeper_commands(f"{PS}.AudibleAlarmControl"),
    ),
    settings=(
        ServerSetting("ups.delay.start", f"{OUTLET}.DelayBeforeStartup", str(DEFAULT_ONDELAY), "ondelay"),
        ServerSetting("ups.delay.start", f"{OUTLET}.TLDelayBeforeStartup", str(DEFAULT_ONDELAY), "ondelay"),
        ServerSetting("ups.delay.shutdown", f"{OUTLET}.DelayBeforeShutdown", str(DEFAULT_OFFDELAY), "offdelay"),
    ),
    default_mfr="Tripp Lite",
    quirks=TrippLiteQuirks,
)
"""tripplite-hid.c restated whole except its USBHID_UPS_TRIPPLITE_DEBUG rows (unknown usages published raw,
compiled out in NUT's builds)."""
