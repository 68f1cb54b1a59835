"""CyberPower's usbhid-ups subdriver: NUT 2.8.0's cps-hid.c ("CyberPower HID 0.6") as data and quirks."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from appliance.drivers.hid_descriptor import ReportDescriptor
from appliance.drivers.hid_subdrivers.common import (
    BEEPER,
    PRESENT,
    PS,
    STRING_INDEX,
    TEST_RESULT,
    beeper_commands,
    delay_rows,
    number_or_none,
    rw,
    status_rows,
    test_commands,
)
from appliance.drivers.hid_subdrivers.model import Conversion, HidFlag, HidVariable, Quirks, Subdriver
from appliance.drivers.usb_transport import UsbIdentity

logger = logging.getLogger(__name__)

CPS_VENDORID = 0x0764
SCALED_PRODUCT = 0x0501
"""The product whose battery voltage may read 1.5 times too high, and whose descriptor may lie (cps-hid.c)."""
BATTERY_SANITY_RATIO = 1.4
"""Battery voltage above 1.4 x nominal means the reading needs scaling by 2/3."""
VOLTAGE_LOGICAL_RANGE = (0, 511)
"""The range NUT gives the output voltage when the descriptor lent it the high transfer point's."""
HIGH_TRANSFER = (0x10, 0x00840054)
OUTPUT_VOLTAGE = (0x12, 0x00840030)
"""(report ID, usage) of the fields cps_fix_report_desc compares."""


def _charge_text(value: float) -> str:
    """Battery charge, clamped to 100 % (cps_battcharge)."""
    return f"{min(value, 100.0):.0f}"


CHARGE_AT_MOST_100 = Conversion("charge clamped to 100", to_text=_charge_text)


class CyberPowerQuirks(Quirks):
    """0764:0501 units: the output voltage's range fix and the 2/3 battery voltage scale (cps-hid.c)."""

    def __init__(self, identity: UsbIdentity) -> None:
        super().__init__(identity)
        self.might_need_scale = identity.vendorid == CPS_VENDORID and identity.productid == SCALED_PRODUCT
        self.battery_scale = 1.0
        self.scale_checked = False

    def fix_descriptor(self, descriptor: ReportDescriptor) -> ReportDescriptor:
        """Give the output voltage a 0-511 range when it carries the high transfer point's (CP900EPFCLCD...)."""
        if not self.might_need_scale:
            return descriptor
        fields = descriptor.fields

        def index_of(report_id: int, usage: int) -> int | None:
            for index, item in enumerate(fields):
                if item.report_id == report_id and item.nodes[-1] == usage:
                    return index
            return None

        high, output = index_of(*HIGH_TRANSFER), index_of(*OUTPUT_VOLTAGE)
        if high is None or output is None:
            return descriptor
        transfer, voltage = fields[high], fields[output]
        if (transfer.logical_min, transfer.logical_max) != (voltage.logical_min, voltage.logical_max):
            return descriptor
        low, top = VOLTAGE_LOGICAL_RANGE
        logger.info("fixing the report descriptor: output voltage LogMin %d, LogMax %d", low, top)
        # As NUT 2.8.0: only the first field with that report ID and usage (whatever its type) is fixed, and the
        # input voltage fix it announces is never applied.
        fields[output] = dataclasses.replace(voltage, logical_min=low, logical_max=top)
        return descriptor

    def adjust(self, name: str, value: float, published: Callable[[str], str | None]) -> float:
        """battery.voltage times 2/3 when the first reading with a nominal voltage known was over 1.4 x it."""
        if name != "battery.voltage" or not self.might_need_scale:
            return value
        if not self.scale_checked:
            nominal = number_or_none(published("battery.voltage.nominal"))
            if nominal:
                if value / nominal > BATTERY_SANITY_RATIO:
                    logger.info("battery readings will be scaled by 2/3")
                    self.battery_scale = 2.0 / 3
                self.scale_checked = True
        return value * self.battery_scale


_CPS_TIMERS, _CPS_COMMANDS, _CPS_DELAYS = delay_rows("UPS.Output")
CYBERPOWER = Subdriver(
    name="CyberPower HID 0.6",
    vendor_ids=frozenset({CPS_VENDORID}),
    products={CPS_VENDORID: frozenset({0x0005, 0x0501, 0x0601})},
    usages={},
    variables=(
        HidVariable("battery.type", f"{PS}.iDeviceChemistry", conversion=STRING_INDEX),
        HidVariable("battery.mfr.date", f"{PS}.iOEMInformation", conversion=STRING_INDEX),
        HidVariable("battery.charge.warning", f"{PS}.WarningCapacityLimit"),
        rw("battery.charge.low", f"{PS}.RemainingCapacityLimit"),
        HidVariable("battery.charge", f"{PS}.RemainingCapacity", conversion=CHARGE_AT_MOST_100),
        HidVariable("battery.runtime", f"{PS}.RunTimeToEmpty"),
        rw("battery.runtime.low", f"{PS}.RemainingTimeLimit"),
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
        rw("input.transfer.low", "UPS.Input.LowVoltageTransfer"),
        rw("input.transfer.high", "UPS.Input.HighVoltageTransfer"),
        HidVariable("output.frequency", "UPS.Output.Frequency", "%.1f"),
        HidVariable("output.voltage", "UPS.Output.Voltage", "%.1f"),
        HidVariable("output.voltage.nominal", "UPS.Output.ConfigVoltage"),
    ),
    flags=(
        *status_rows(
            PRESENT,
            ("ACPresent", "Charging", "Discharging", "BelowRemainingCapacityLimit"),
            ("FullyCharged", "RemainingTimeLimitExpired"),
        ),
        HidFlag("UPS.Output.Boost", "boost"),
        HidFlag("UPS.Output.Overload", "overload"),
    ),
    commands=(*test_commands("UPS.Output.Test"), *_CPS_COMMANDS, *beeper_commands(f"{PS}.AudibleAlarmControl")),
    settings=_CPS_DELAYS,
    default_mfr="CPS",
    quirks=CyberPowerQuirks,
)
"""cps-hid.c restated whole, with its descriptor fix and battery scale guess (:class:`CyberPowerQuirks`)."""
