"""USB matching (NUT's regex rules), the pyusb HID transport on the fake backend, and the shared recovery."""

from __future__ import annotations

import pytest

from appliance.drivers.base import DeviceError
from appliance.drivers.usb_transport import (
    MAX_RESETS,
    UsbConnection,
    UsbGone,
    UsbIdentity,
    UsbMatcher,
    UsbStall,
    UsbTimeout,
    check_regex,
    open_hid_transport,
)
from tests.fake_usb import FakeBackend, FakeDevice

OMNIVS = UsbIdentity(0x09AE, 0x0001, "Tripp Lite", " TRIPP LITE OMNIVS1000 ", None, "001", "004", "002")


def matcher(**options: str | bool) -> UsbMatcher:
    return UsbMatcher.from_options(options)


class ReportDevice(FakeDevice):
    """Answers GET_REPORT with the report ID followed by 1, 2, 3."""

    def get_report(self, report_type: int, report_id: int, length: int) -> bytes | None:
        if report_id == 9:
            return None
        return bytes([report_id, 1, 2, 3])[:length]


def ups(address: int = 4, serial: str | None = "A1", **kwargs: object) -> ReportDevice:
    return ReportDevice(
        0x09AE,
        0x0001,
        manufacturer="Tripp Lite",
        product="TRIPP LITE OMNIVS1000",
        serial=serial,
        report_descriptor=bytes(range(60)),
        address=address,
        **kwargs,  # type: ignore[arg-type]
    )


# -- matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, True),
        ({"product": "TRIPP LITE OMNIVS1000"}, True),  # surrounding blanks of the value are ignored
        ({"product": "omnivs1000"}, False),  # whole string, not a search
        ({"product": ".*omnivs.*"}, True),  # case-insensitive
        ({"product": "TRIPP"}, False),
        ({"vendor": "tripp lite"}, True),
        ({"vendorid": "09AE"}, True),  # the ID as 4 hex digits, either case
        ({"vendorid": "9ae"}, False),
        ({"productid": "0001"}, True),
        ({"productid": "000[[:digit:]]"}, True),  # POSIX classes work as in NUT's regcomp
        ({"productid": "1"}, False),
        ({"serial": ".*"}, True),  # an absent string is ""
        ({"serial": ".+"}, False),
        ({"bus": "001"}, True),
        ({"bus": "1"}, False),
        ({"device": "00[3-5]"}, True),
        ({"device": "005"}, False),
        ({"busport": "002"}, True),
        ({"bus": "001", "product": "nope"}, False),  # every option must match
        ({"vendor": "Tripp Lite|APC"}, True),  # extended regex alternation spans the whole value
    ],
)
def test_matching_follows_nuts_whole_string_case_insensitive_rules(options: dict[str, str], expected: bool) -> None:
    assert matcher(**options).matches(OMNIVS) is expected


def test_a_driver_can_restrict_the_options_it_honours() -> None:
    only_product = UsbMatcher.from_options({"vendorid": "ffff", "product": ".*"}, fields=("product",))
    assert only_product.matches(OMNIVS)


def test_the_drivers_device_filter_applies_too() -> None:
    tripplite_only = UsbMatcher.from_options({}, supported=lambda identity: identity.vendorid == 0x09AE)
    assert tripplite_only.matches(OMNIVS)
    assert not tripplite_only.matches(UsbIdentity(0x051D, 0x0002))


def test_a_bad_regex_is_a_clear_error_naming_the_option() -> None:
    assert check_regex("[unclosed") is not None
    assert "invalid regular expression" in (check_regex("(") or "")
    assert check_regex("09a[ef]") is None
    with pytest.raises(DeviceError, match="'product'"):
        matcher(product="(OMNI")


def test_for_unit_ignores_bus_and_device_but_not_the_unit() -> None:
    again = matcher(product=".*OMNIVS.*").for_unit(OMNIVS)
    moved = UsbIdentity(0x09AE, 0x0001, "Tripp Lite", " TRIPP LITE OMNIVS1000 ", None, "003", "017", "001")
    other_unit = UsbIdentity(0x09AE, 0x0001, "Tripp Lite", " TRIPP LITE OMNIVS1000 ", "B2", "001", "004", "002")
    assert again.matches(moved)
    assert not again.matches(other_unit)


# -- open_hid_transport on the fake pyusb backend -----------------------------------------------


def test_open_detaches_the_kernel_driver_claims_and_reads_the_identity() -> None:
    device = ups()
    transport = open_hid_transport(matcher(product=".*OMNIVS.*"), FakeBackend(device))
    assert not device.kernel_driver_active
    assert device.claimed
    assert transport.identity == UsbIdentity(
        0x09AE, 0x0001, "Tripp Lite", "TRIPP LITE OMNIVS1000", "A1", "001", "004", "001"
    )
    transport.close()
    assert not device.claimed


def test_nothing_matching_says_what_was_asked_for() -> None:
    with pytest.raises(UsbGone, match=r"product='APC\.\*'"):
        open_hid_transport(matcher(product="APC.*"), FakeBackend(ups()))
    with pytest.raises(UsbGone, match="no matching USB UPS"):
        open_hid_transport(matcher(), FakeBackend())


def test_a_device_held_elsewhere_is_an_error_unless_allow_duplicates() -> None:
    held, free = ups(address=4, serial="A1"), ups(address=5, serial="B2")
    held.busy = True
    backend = FakeBackend(held, free)
    with pytest.raises(DeviceError, match=r"cannot claim .*device 004"):
        open_hid_transport(matcher(), backend)
    transport = open_hid_transport(matcher(allow_duplicates=True), backend)
    assert transport.identity.serial == "B2"


def test_no_permission_says_which_device_node_and_ids_need_a_udev_rule() -> None:
    device = ups(address=7)
    device.access_denied = True
    with pytest.raises(UsbGone, match=r"no permission to open 09ae:0001 on bus 001 device 007 .*udev rule"):
        open_hid_transport(matcher(), FakeBackend(device))
    # Even when a string option was given: the strings of a device we may not open are unknown.
    with pytest.raises(UsbGone, match=r"product=.*no permission to open 09ae:0001"):
        open_hid_transport(matcher(product=".*OMNIVS.*"), FakeBackend(device))


def test_accept_can_refuse_a_device_and_the_search_goes_on() -> None:
    backend = FakeBackend(ups(address=4, serial="A1"), ups(address=5, serial="B2"))
    transport = open_hid_transport(matcher(), backend, accept=lambda t: t.identity.serial == "B2")
    assert transport.identity.device == "005"


# -- transfers ----------------------------------------------------------------------------------


def test_reports_interrupts_descriptor_and_strings_go_over_real_pyusb() -> None:
    device = ups()
    transport = open_hid_transport(matcher(), FakeBackend(device))
    assert transport.get_report(5, 8) == bytes([5, 1, 2, 3])
    assert transport.get_report(5, 2) == bytes([5, 1])
    transport.set_report(0, b":S\xac\r\0\0\0\0")
    transport.set_report(7, b"\x07\x01", report_type=2)
    assert device.sent_reports == [(3, 0, b":S\xac\r\0\0\0\0"), (2, 7, b"\x07\x01")]
    assert transport.read_interrupt(8, 10) is None
    device.queue_interrupt(b"SABCDEF\r")
    assert transport.read_interrupt(8, 10) == b"SABCDEF\r"
    # The length comes from the HID class descriptor: exactly the 60 bytes, not the 4096 we allow.
    assert transport.report_descriptor() == bytes(range(60))
    assert transport.string(device.string_index["product"]) == "TRIPP LITE OMNIVS1000"
    assert transport.string(0) == ""


def test_failures_become_device_errors_of_the_right_kind() -> None:
    device = ups()
    backend = FakeBackend(device)
    transport = open_hid_transport(matcher(), backend)
    with pytest.raises(UsbStall, match="GET_REPORT 9"):
        transport.get_report(9, 8)
    with pytest.raises(UsbStall, match="string 42"):
        transport.string(42)
    device.wedged = True
    with pytest.raises(UsbTimeout, match="did not answer"):
        transport.get_report(5, 8)
    assert transport.read_interrupt(8, 10) is None  # a quiet interrupt pipe is no error
    transport.reset()
    assert device.resets == 1 and not device.wedged
    assert transport.get_report(5, 8) == bytes([5, 1, 2, 3])  # pyusb claims the interface again by itself
    backend.unplug(device)
    for operation in (lambda: transport.get_report(5, 8), lambda: transport.read_interrupt(8, 10)):
        with pytest.raises(UsbGone, match="gone from the USB bus"):
            operation()
    transport.close()  # closing a gone device is quiet


# -- recovery -----------------------------------------------------------------------------------


def test_a_replugged_unit_is_found_again_on_another_device_number() -> None:
    first = ups(address=4)
    backend = FakeBackend(first)
    connection = UsbConnection.pyusb(matcher(), backend)
    connection.open()
    backend.unplug(first)
    with pytest.raises(UsbGone):
        connection.open()
    # Another Tripp Lite appears first: it is not our unit, so it is not taken.
    backend.plug(ups(address=6, serial="OTHER"))
    with pytest.raises(UsbGone, match="the unit"):
        connection.open()
    backend.plug(ups(address=9))
    transport = connection.open()
    assert transport.identity.device == "009" and transport.identity.serial == "A1"


def test_a_unit_that_stopped_answering_is_reset_a_bounded_number_of_times() -> None:
    device = ups()
    device.on_reset = lambda: None  # this one stays wedged through resets
    backend = FakeBackend(device)
    connection = UsbConnection.pyusb(matcher(), backend)
    device.wedged = True
    for _ in range(MAX_RESETS + 2):
        transport = connection.open()
        with pytest.raises(UsbTimeout) as caught:
            transport.get_report(5, 8)
        connection.failed(caught.value)
    connection.close()
    assert device.resets == MAX_RESETS
    connection.answered()
    connection.open()
    connection.failed(UsbTimeout("again"))
    connection.close()
    assert device.resets == MAX_RESETS + 1


def test_a_timeout_behind_a_drivers_own_error_still_resets() -> None:
    device = ups()
    connection = UsbConnection.pyusb(matcher(), FakeBackend(device))
    connection.open()
    try:
        try:
            raise UsbTimeout("no answer")
        except UsbTimeout as err:
            raise DeviceError("Error reading protocol") from err
    except DeviceError as err:
        connection.failed(err)
    connection.close()
    assert device.resets == 1


def test_a_device_gone_or_stalling_is_not_reset() -> None:
    device = ups()
    connection = UsbConnection.pyusb(matcher(), FakeBackend(device))
    connection.open()
    connection.failed(UsbStall("no such report"))
    connection.close()
    assert device.resets == 0
