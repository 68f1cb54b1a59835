"""Our HID parser on real UPS report descriptors (tests/data/hid_descriptors), checked against NUT 2.8.0's own parse.

Where the source shows NUT's object list (``.paths``), every object NUT found must be ours too, with the same
path, type, report ID, offset and size, and our value conversion must give NUT's value from the bytes NUT read.
"""

from __future__ import annotations

import pytest

from appliance.drivers import hid_subdrivers
from appliance.drivers.hid_descriptor import (
    REPORT_FEATURE,
    REPORT_TYPE_NAMES,
    HidError,
    HidField,
    ReportDescriptor,
    extract,
    parse_descriptor,
    to_physical,
)
from tests.hid_descriptors import (
    NutObject,
    descriptor_header,
    descriptor_names,
    load_descriptor,
    load_nut_paths,
    nut_path_names,
    nut_paths_header,
)

NUT_OFFSET_BITS = 256
"""NUT 2.8.0 keeps field offsets in a uint8_t (hidtypes.h), so its report lengths are only right below 256 bits."""


def _names(header_value: str) -> dict[int, str]:
    """Usage names of the subdriver a header names (its first word: APC, CYBERPOWER, EATON, TRIPPLITE, EXPLORE)."""
    subdriver = getattr(hid_subdrivers, header_value.split()[0])
    return subdriver.names


def _parsed(name: str, names_from: str = "subdriver") -> ReportDescriptor:
    if names_from == "subdriver":
        names = _names(descriptor_header(name)["subdriver"])
    else:
        names = _names(nut_paths_header(name)["names"])
    return parse_descriptor(load_descriptor(name), names)


def _key(path: str, report_type: int, report_id: int, offset: int, size: int) -> tuple[str, str, int, int, int]:
    return (path, REPORT_TYPE_NAMES[report_type], report_id, offset, size)


def _field_for(descriptor: ReportDescriptor, item: NutObject) -> HidField:
    """Our field for one of NUT's objects (same path, type, report, offset and size); fails the test if none."""
    for candidate in descriptor.fields:
        ours = _key(candidate.path, candidate.report_type, candidate.report_id, candidate.offset, candidate.size)
        if ours == _key(item.path, item.report_type, item.report_id, item.offset, item.size):
            return candidate
    raise AssertionError(f"NUT's object {item} is not among ours")


def _report_length(descriptor: ReportDescriptor, report_id: int) -> int:
    """Bytes of a report with its ID byte, over all types (NUT keeps one length per report ID)."""
    return max(descriptor.report_length(report_id, report_type) for report_type in REPORT_TYPE_NAMES)


def test_every_descriptor_is_stored_whole_with_its_source() -> None:
    for name in descriptor_names():
        header = descriptor_header(name)
        assert {"device", "usb", "subdriver", "source", "size", "how"} <= header.keys(), name
        assert header["source"].startswith("https://"), name
        assert len(load_descriptor(name)) == int(header["size"]), name


@pytest.mark.parametrize("name", descriptor_names())
def test_real_descriptor_parses(name: str) -> None:
    descriptor = _parsed(name)
    assert descriptor.uses_report_ids
    assert descriptor.fields
    # Every Power Device descriptor is one UPS application collection.
    assert {field.path.split(".")[0] for field in descriptor.fields} == {"UPS"}
    assert descriptor.find("UPS.PowerSummary.iProduct") is not None


@pytest.mark.parametrize("name", nut_path_names())
def test_every_nut_object_is_ours(name: str) -> None:
    descriptor = _parsed(name, names_from="nut")
    for item in load_nut_paths(name):
        _field_for(descriptor, item)


@pytest.mark.parametrize("name", nut_path_names())
def test_values_convert_as_nut_read_them(name: str) -> None:
    descriptor = _parsed(name, names_from="nut")
    for item in load_nut_paths(name):
        field = _field_for(descriptor, item)
        # A short answer from the device: NUT reads the missing bytes of its buffer as zeros.
        report = item.report.ljust(_report_length(descriptor, item.report_id), b"\0")
        value = to_physical(field, extract(report, field, descriptor.uses_report_ids))
        assert value == pytest.approx(item.value), item


@pytest.mark.parametrize("name", nut_path_names())
def test_report_lengths_as_nut(name: str) -> None:
    descriptor = _parsed(name, names_from="nut")
    nut_lengths = {item.report_id: item.buffer_length for item in load_nut_paths(name) if item.buffer_length}
    assert nut_lengths
    compared = {
        report_id: length
        for report_id, length in nut_lengths.items()
        # Past 256 bits NUT 2.8.0's uint8_t offsets wrap (a NUT bug we do not copy): there its length is wrong.
        if _report_length(descriptor, report_id) <= 1 + NUT_OFFSET_BITS // 8
    }
    ours = {report_id: _report_length(descriptor, report_id) for report_id in compared}
    assert ours == compared


@pytest.mark.parametrize("name", nut_path_names())
def test_objects_are_exactly_nuts(name: str) -> None:
    descriptor = _parsed(name, names_from="nut")
    nut = sorted(_key(i.path, i.report_type, i.report_id, i.offset, i.size) for i in load_nut_paths(name))
    ours = sorted(_key(f.path, f.report_type, f.report_id, f.offset, f.size) for f in descriptor.fields)
    assert ours == nut


def test_apc_vendor_usages_get_nut_names() -> None:
    """With the APC table, the usages NUT's explore printed as hex get apc-hid.c's names (the DDL dump's
    input.sensitivity comes from report 0x35)."""
    descriptor = _parsed("apc_back-ups_bk650m2-ch")
    sensitivity = descriptor.find("UPS.Input.APCSensitivity")
    assert sensitivity is not None
    assert (sensitivity.report_id, sensitivity.offset, sensitivity.size) == (0x35, 0, 8)
    assert descriptor.find("UPS.Input.ff860061") is None
    assert descriptor.find("UPS.Input.APCSensitivity", REPORT_FEATURE) is sensitivity


@pytest.mark.parametrize("name", descriptor_names())
def test_truncated_descriptor_is_a_hid_error(name: str) -> None:
    """Every cut of a real descriptor is refused with a HidError, never another exception. A cut before the first
    collection holds no object at all: NUT 2.8.0's Parse_ReportDesc refuses that too (it returns NULL)."""
    data = load_descriptor(name)
    names = _names(descriptor_header(name)["subdriver"])
    for cut in range(len(data)):
        with pytest.raises(HidError):
            parse_descriptor(data[:cut], names)
