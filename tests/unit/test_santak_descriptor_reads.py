"""Our HID parser on the real SANTAK TG-BOX 850 descriptor (Eaton, 0463:ffff), checked against the device's answers.

The source of ``tests/data/hid_descriptors/eaton_santak_tg-box_850.txt`` (the README of
ludoux/esp32-nut-server-usbhid, pinned in the file's header) shows no NUT object list, but it does show the
Feature reports the UPS answered to GET_REPORT, byte by byte, with what they meant (battery 100 %, 1248 s of
runtime, 24 % load, 850 VA, 50 Hz, 230 V out, 220 V nominal, transfer at 184 V and 264 V, beeper enabled). The same
values appear in the NUT 2.7.4 dump hard-coded in that project's main/esp32-nut-server-usbhid.c. Our layout of the
descriptor must find each value at the place the device put it, in a report of the length the device sent.
"""

from __future__ import annotations

import pytest

from appliance.drivers.hid_descriptor import REPORT_FEATURE, ReportDescriptor, extract, parse_descriptor, to_physical
from appliance.drivers.hid_subdrivers import EATON
from tests.hid_descriptors import load_descriptor

# (report as the README shows it, path of the object, value the README reads from it)
DEVICE_READS = [
    # Report 0x01 is given as a bit diagram of byte 1 (ACPresent, Charging and Good set: 0x25) and two zero bytes.
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.ACPresent", 1),
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit", 0),
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.Charging", 1),
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.Discharging", 0),
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.Good", 1),
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.NeedReplacement", 0),
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.Overload", 0),
    ("01 25 00 00", "UPS.PowerSummary.PresentStatus.ShutdownImminent", 0),
    ("06 64 e0 04 00 00", "UPS.PowerSummary.RemainingCapacity", 100),
    ("06 64 e0 04 00 00", "UPS.PowerSummary.RunTimeToEmpty", 1248),
    ("07 02 02 01 00 03 18 02", "UPS.PowerSummary.PercentLoad", 24),
    ("08 14", "UPS.PowerSummary.RemainingCapacityLimit", 20),
    ("0d 52 03 32", "UPS.Flow.[4].ConfigApparentPower", 850),
    ("0d 52 03 32", "UPS.Flow.[4].ConfigFrequency", 50),
    ("0e e6 00", "UPS.PowerConverter.Output.Voltage", 230),
    ("12 dc", "UPS.Flow.[4].ConfigVoltage", 220),
    ("13 08 01", "UPS.PowerConverter.Output.HighVoltageTransfer", 264),
    ("14 b8", "UPS.PowerConverter.Output.LowVoltageTransfer", 184),
    ("1f 02", "UPS.PowerSummary.AudibleAlarmControl", 2),
]


@pytest.fixture(scope="module")
def descriptor() -> ReportDescriptor:
    """The SANTAK descriptor, with the usage names of NUT's MGE HID subdriver."""
    return parse_descriptor(load_descriptor("eaton_santak_tg-box_850"), EATON.names)


@pytest.mark.parametrize(("report_hex", "path", "value"), DEVICE_READS)
def test_value_is_where_the_device_put_it(descriptor: ReportDescriptor, report_hex: str, path: str, value: int) -> None:
    report = bytes.fromhex(report_hex)
    field = descriptor.find(path, REPORT_FEATURE)
    assert field is not None, path
    assert field.report_id == report[0]
    assert to_physical(field, extract(report, field, descriptor.uses_report_ids)) == value


@pytest.mark.parametrize("report_hex", sorted({read[0] for read in DEVICE_READS}))
def test_report_length_is_what_the_device_sent(descriptor: ReportDescriptor, report_hex: str) -> None:
    report = bytes.fromhex(report_hex)
    assert descriptor.report_length(report[0], REPORT_FEATURE) == len(report)
