"""The HID report-descriptor parser and value conversion, on a real APC descriptor and on bad input."""

from __future__ import annotations

import contextlib
import random

import pytest

from appliance.drivers.hid_descriptor import (
    REPORT_FEATURE,
    REPORT_INPUT,
    DescriptorError,
    ReportError,
    extract,
    insert,
    parse_descriptor,
    to_logical,
    to_physical,
)
from appliance.drivers.hid_subdrivers import APC
from tests.hid_sim import APC_ES_850G2_PREFIX

CLOSED_APC_PREFIX = APC_ES_850G2_PREFIX + b"\xc0\xc0"


def test_real_apc_prefix_gives_nut_paths_report_ids_and_units() -> None:
    descriptor = parse_descriptor(CLOSED_APC_PREFIX, APC.names)
    assert descriptor.uses_report_ids
    paths = {(f.path, f.report_type): f for f in descriptor.fields}
    product = paths["UPS.PowerSummary.iProduct", REPORT_FEATURE]
    assert (product.report_id, product.offset, product.size) == (0x01, 0, 8)
    # Report 6 carries three 8-bit fields, as Input and as Feature; the vendor usage has its NUT name.
    assert [f.path for f in descriptor.fields_of(6, REPORT_INPUT)] == [
        "UPS.PowerSummary.Charging",
        "UPS.PowerSummary.Discharging",
        "UPS.PowerSummary.APCStatusFlag",
    ]
    assert [f.offset for f in descriptor.fields_of(6, REPORT_FEATURE)] == [0, 8, 16]
    runtime = paths["UPS.PowerSummary.RunTimeToEmpty", REPORT_INPUT]
    assert (runtime.report_id, runtime.offset, runtime.size, runtime.unit) == (0x0C, 8, 16, 0x1001)
    assert descriptor.report_length(0x0C, REPORT_INPUT) == 4
    voltage = paths["UPS.PowerSummary.Voltage", REPORT_FEATURE]
    assert (voltage.unit, voltage.unit_exponent, voltage.logical_max) == (0x00F0D121, 5, 0xFFFF)
    # Volt with exponent 5: NUT's correction of 7 makes 1350 read as 13.50 V (the dump's battery.voltage 13.5).
    assert to_physical(voltage, 1350) == pytest.approx(13.5)
    assert to_logical(voltage, 13.5) == 1350


def test_unnamed_usages_are_hex_and_vendor_collections_are_indexed() -> None:
    descriptor = parse_descriptor(CLOSED_APC_PREFIX)
    assert any(f.path == "UPS.PowerSummary.ff860060" for f in descriptor.fields)
    indexed = bytes.fromhex("05 84 09 04 a1 01 09 1a a1 81 09 30 85 01 75 08 95 01 15 00 26 ff 00 b1 02 c0 c0")
    assert [f.path for f in parse_descriptor(indexed).fields] == ["UPS.Input.[1].Voltage"]


def test_push_pop_usage_ranges_and_padding() -> None:
    data = bytes.fromhex(
        "05 84 09 04 a1 01 09 02 a1 02 85 02 75 01 15 00 25 01"
        " a4 95 02 05 85 19 44 29 45 81 02"  # PUSH, Charging..Discharging by a usage range
        " 95 06 81 03"  # six bits of padding (no usage)
        " b4 95 03 05 85 09 d0 b1 02"  # POP: size 1 again; one usage for three fields: the other two are padding
        " 75 08 95 02 b1 03"  # then two bytes of Feature padding
        " c0 c0"
    )
    descriptor = parse_descriptor(data)
    assert [(f.path, f.offset) for f in descriptor.fields_of(2, REPORT_INPUT)] == [
        ("UPS.PresentStatus.Charging", 0),
        ("UPS.PresentStatus.Discharging", 1),
    ]
    assert [(f.path, f.offset) for f in descriptor.fields_of(2, REPORT_FEATURE)] == [("UPS.PresentStatus.ACPresent", 0)]
    assert descriptor.report_length(2, REPORT_INPUT) == 2
    assert descriptor.report_length(2, REPORT_FEATURE) == 1 + 3  # ID, 3 bits rounded up, 16 bits of padding


def test_values_sign_extend_clamp_and_round_trip() -> None:
    data = bytes.fromhex("05 84 09 04 a1 01 85 03 09 57 75 10 95 01 15 ff 26 ff 7f b1 02 c0")
    descriptor = parse_descriptor(data)
    delay = descriptor.find("UPS.DelayBeforeShutdown")
    assert delay is not None and delay.logical_min == -1
    assert extract(bytes([3, 0xFF, 0xFF]), delay, True) == -1
    report = bytearray([3, 0, 0])
    insert(report, delay, to_logical(delay, 20), True)
    assert bytes(report) == bytes([3, 20, 0])
    assert extract(bytes(report), delay, True) == 20
    with pytest.raises(ReportError, match="too short"):
        extract(bytes([3]), delay, True)


def test_physical_range_scales_and_clamps() -> None:
    # Logical 0..255 mapped to physical 0..510 (as CyberPower firmware does for voltages).
    data = bytes.fromhex("05 84 09 04 a1 01 85 01 09 30 75 08 95 01 15 00 26 ff 00 35 00 46 fe 01 b1 02 c0")
    voltage = parse_descriptor(data).find("UPS.Voltage")
    assert voltage is not None
    assert to_physical(voltage, 115) == 230
    assert to_logical(voltage, 230) == 115
    assert to_logical(voltage, 9999) == 255


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (APC_ES_850G2_PREFIX, "never closed"),
        (APC_ES_850G2_PREFIX[:-1], "truncated: item 0xb1"),
        (APC_ES_850G2_PREFIX + b"\x26\xff", "truncated"),
        (bytes.fromhex("05 84 c0"), "END_COLLECTION without"),
        (bytes.fromhex("b4"), "POP without PUSH"),
        (bytes.fromhex("85 00"), "report ID 0"),
        (bytes.fromhex("75 08 96 ff ff 81 02"), "bits long"),
        (bytes.fromhex("75 40 95 01 81 02"), "more than 32"),
        (bytes.fromhex("fe 05 00 01"), "truncated long item"),
        (b"\xa1\x01" * 40, "nested deeper"),
    ],
)
def test_bad_descriptors_raise_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(DescriptorError, match=message) as err:
        parse_descriptor(data)
    assert "report descriptor byte" in str(err.value)


def test_random_bytes_never_crash_the_parser() -> None:
    generator = random.Random(6)
    for _ in range(2000):
        data = bytes(generator.randrange(256) for _ in range(generator.randrange(1, 80)))
        with contextlib.suppress(DescriptorError):
            parse_descriptor(data)
