"""Eaton/MGE's usbhid-ups subdriver: NUT 2.8.0's mge-hid.c ("MGE HID 1.46") as data."""

from __future__ import annotations

from appliance.drivers.hid_subdrivers.common import (
    BEEPER,
    ON_OFF,
    PRESENT,
    PS,
    STRING_INDEX,
    TEST_RESULT,
    YES_NO,
    beeper_commands,
    delay_rows,
    rw,
    status_rows,
    test_commands,
)
from appliance.drivers.hid_subdrivers.model import (
    SET_WHEN_0,
    Conversion,
    HidFlag,
    HidVariable,
    Poll,
    ServerSetting,
    Subdriver,
)

NOMINAL_OUTPUT_VOLTAGE = Conversion("nominal output voltage", {v: str(v) for v in (200, 208, 220, 230, 240)})

MGE_VENDORID = 0x0463
_MGE_TIMERS, _MGE_COMMANDS, _MGE_DELAYS = delay_rows(PS)
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
        rw("battery.charge.low", f"{PS}.RemainingCapacityLimitSetting", length=5),
        HidVariable("battery.charge.low", f"{PS}.RemainingCapacityLimit", poll=Poll.STATIC),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        rw("battery.runtime.low", f"{PS}.RemainingTimeLimit"),
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
        rw("ups.start.battery", "UPS.PowerConverter.Input.[3].StartOnBattery", "%s", length=5, conversion=YES_NO),
        HidVariable("input.voltage", "UPS.PowerConverter.Input.[1].Voltage", "%.1f"),
        rw("input.transfer.low", "UPS.PowerConverter.Output.LowVoltageTransfer", length=5),
        rw("input.transfer.high", "UPS.PowerConverter.Output.HighVoltageTransfer", length=5),
        HidVariable("output.voltage", "UPS.PowerConverter.Output.Voltage", "%.1f"),
        rw("output.voltage.nominal", "UPS.Flow.[4].ConfigVoltage", length=3, conversion=NOMINAL_OUTPUT_VOLTAGE),
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
        # Deliberately not NUT 2.8.0: its mge-hid.c drops CHRG/DISCHRG until it reads Charger.ABMEnable = 0, so a
        # unit without ABM (the 5E) never shows CHRG; NUT 2.8.3 treats "ABM unknown" as disabled, as we do.
        *status_rows(
            PRESENT,
            ("ACPresent", "Discharging", "Charging", "BelowRemainingCapacityLimit"),
            ("Overload", "NeedReplacement", "ShutdownImminent"),
        ),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.Buck", "trim"),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.Boost", "boost"),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.VoltageOutOfRange", "vrange"),
        HidFlag("UPS.PowerConverter.Input.[1].PresentStatus.FrequencyOutOfRange", "frange"),
        HidFlag(f"{PRESENT}.Good", "off", SET_WHEN_0),
        HidFlag("UPS.PowerConverter.Input.[2].PresentStatus.Used", "bypassauto"),
        HidFlag("UPS.PowerConverter.Input.[4].PresentStatus.Used", "bypassman"),
        HidFlag(f"{PRESENT}.FanFailure", "fanfail"),
        HidFlag("UPS.BatterySystem.Battery.PresentStatus.Present", "nobattery", SET_WHEN_0),
    ),
    commands=(
        *test_commands("UPS.BatterySystem.Battery.Test"),
        *_MGE_COMMANDS,
        *beeper_commands(f"{PS}.AudibleAlarmControl"),
    ),
    settings=(
        *_MGE_DELAYS,
        ServerSetting("outlet.desc", "UPS.OutletSystem.Outlet.[1].OutletID", "Main Outlet", length=20),
    ),
    default_mfr="Eaton",
)
"""Left out: the outlet groups beyond outlet.1, ABM charger modes, the Flow/[n] thresholds, the Eaton
(non-MGE) PowerConverter online/on-battery rules and the 3-phase rows."""
