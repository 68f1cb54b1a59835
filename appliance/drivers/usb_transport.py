"""USB for the USB drivers (tripplite_usb, usbhid-ups): device matching, a small HID transport, and recovery.

Matching follows NUT's ``usb-common.c``: each of ``vendorid``, ``productid``, ``vendor``, ``product``, ``serial``,
``bus``, ``device`` and ``busport`` is an extended regular expression, case-insensitive, that must match the
*whole* value with surrounding blanks removed; the IDs are matched as 4-digit lowercase hex ("09ae"), bus, device
and port as 3-digit decimal ("001"), an absent string as "". ``allow_duplicates`` lets a driver skip a matching
device that another process already holds (NUT 2.8.1+).

Drivers talk to the device through :class:`HidTransport` (GET/SET_REPORT, interrupt IN, the report descriptor,
strings). :class:`PyusbHidTransport` implements it on pyusb; tests pass a fake pyusb backend
(``tests/fake_usb.py``) or implement the protocol directly. Failures come out as :class:`DeviceError`
subclasses, so the runner marks the data stale and reconnects: :class:`UsbStall` (the device refused one
request; it is still there), :class:`UsbTimeout` (it did not answer), :class:`UsbGone` (it left the bus).

:class:`UsbConnection` is the recovery both drivers share: it finds the device by the matcher, finds it again
after a loss by the same matcher narrowed to the same unit (IDs and strings; a different bus/device number is
fine, unlike NUT's exact re-open matcher), and resets it (USBDEVFS_RESET) before reopening when it had stopped
answering, at most :data:`MAX_RESETS` times in a row.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import usb.backend
import usb.core
import usb.util

from appliance.drivers.base import DeviceError
from appliance.nutconf.schema import OptionSpec

logger = logging.getLogger(__name__)

REPORT_INPUT = 1
REPORT_OUTPUT = 2
REPORT_FEATURE = 3
HID_INTERFACE = 0
INTERRUPT_IN = 0x81
CONTROL_TIMEOUT_MS = 5000
MAX_REPORT_DESCRIPTOR = 4096
MAX_RESETS = 3
"""Consecutive USB resets of a device that keeps not answering before we only reopen it."""

MATCH_FIELDS = ("vendorid", "productid", "vendor", "product", "serial", "bus", "device", "busport")
_BLANKS = " \t\n"
# POSIX bracket classes that Python's re lacks, for the regexes NUT users write.
_POSIX_CLASSES = {
    "[:alnum:]": "a-zA-Z0-9",
    "[:alpha:]": "a-zA-Z",
    "[:blank:]": " \\t",
    "[:digit:]": "0-9",
    "[:lower:]": "a-z",
    "[:space:]": " \\t\\n\\r\\f\\v",
    "[:upper:]": "A-Z",
    "[:xdigit:]": "0-9A-Fa-f",
}


class UsbStall(DeviceError):
    """The device refused a request (EPIPE): it is still there, the request is not supported."""


class UsbTimeout(DeviceError):
    """The device did not answer in time."""


class UsbGone(DeviceError):
    """The device left the bus (or cannot be reached at all)."""


def compile_nut_regex(pattern: str) -> re.Pattern[str]:
    """A NUT USB matching regex (ERE, case-insensitive) as a Python pattern; re.error when it is malformed."""
    for posix, python in _POSIX_CLASSES.items():
        pattern = pattern.replace(posix, python)
    return re.compile(pattern, re.IGNORECASE)


def check_regex(value: str) -> str | None:
    """Option check: None when ``value`` is a valid regular expression, else why not."""
    try:
        compile_nut_regex(value)
    except re.error as err:
        return f"invalid regular expression {value!r}: {err}"
    return None


def _check_altsetting(value: str) -> str | None:
    return None if value.isdigit() and int(value) < 256 else f"'{value}' is not an alternate setting (0-255)"


USB_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("vendor", help="Regular expression to match UPS Manufacturer string", check=check_regex),
    OptionSpec("product", help="Regular expression to match UPS Product string", check=check_regex),
    OptionSpec("serial", help="Regular expression to match UPS Serial number", check=check_regex),
    OptionSpec(
        "vendorid",
        help="Regular expression to match UPS Manufacturer numerical ID (4 digits hexadecimal)",
        check=check_regex,
    ),
    OptionSpec(
        "productid",
        help="Regular expression to match UPS Product numerical ID (4 digits hexadecimal)",
        check=check_regex,
    ),
    OptionSpec("bus", help="Regular expression to match USB bus name", check=check_regex),
    OptionSpec("device", help="Regular expression to match USB device name", check=check_regex),
    OptionSpec("busport", help="Regular expression to match USB bus port name", check=check_regex),
    OptionSpec(
        "allow_duplicates",
        takes_value=False,
        help="If more than one device matches, take the first one that no other process holds",
    ),
    OptionSpec(
        "usb_set_altinterface",
        help="Force a call to usb_set_altinterface() (value=bAlternateSetting; default=0)",
        check=_check_altsetting,
    ),
)
"""The USB options every USB driver accepts (NUT's nut_usb_addvars), for a driver's ``options``."""


@dataclass(frozen=True)
class UsbIdentity:
    """What identifies a USB device, in the forms NUT matches against (bus/device/busport as "001")."""

    vendorid: int
    productid: int
    vendor: str | None = None
    product: str | None = None
    serial: str | None = None
    bus: str = ""
    device: str = ""
    busport: str = ""

    def field_text(self, name: str) -> str:
        """The text a matcher regex sees for field ``name``."""
        if name in ("vendorid", "productid"):
            return f"{getattr(self, name):04x}"
        value = getattr(self, name)
        return (value or "").strip(_BLANKS)

    def describe(self) -> str:
        """One line for logs: ``09ae:0001 "Tripp Lite" "OMNIVS1000" on bus 001 device 004``."""
        names = " ".join(f'"{text}"' for text in (self.vendor, self.product) if text)
        serial = f" serial {self.serial!r}" if self.serial else ""
        return f"{self.vendorid:04x}:{self.productid:04x} {names}{serial} on bus {self.bus} device {self.device}"


@dataclass(frozen=True)
class UsbMatcher:
    """Which USB device a driver takes: NUT's regex options, the driver's own device filter, the same unit.

    ``patterns`` maps fields of :data:`MATCH_FIELDS` to regexes; ``supported`` is the driver's filter (its device
    table); ``unit`` pins the IDs and strings of a device found before, for finding it again after a loss.
    """

    patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    allow_duplicates: bool = False
    supported: Callable[[UsbIdentity], bool] | None = None
    unit: UsbIdentity | None = None

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, str | bool],
        supported: Callable[[UsbIdentity], bool] | None = None,
        fields: Iterable[str] = MATCH_FIELDS,
    ) -> UsbMatcher:
        """The matcher the driver options ask for; DeviceError naming the option when a regex is malformed.

        ``fields`` are the matching options this driver honours (tripplite_usb ignores ``vendorid``, as NUT's).
        """
        patterns: dict[str, re.Pattern[str]] = {}
        for name in fields:
            value = options.get(name)
            if isinstance(value, str):
                try:
                    patterns[name] = compile_nut_regex(value)
                except re.error as err:
                    raise DeviceError(f"invalid regular expression for '{name}' ({value!r}): {err}") from err
        return cls(patterns, options.get("allow_duplicates") is True, supported)

    def matches(self, identity: UsbIdentity) -> bool:
        """True when ``identity`` is a device this driver should take."""
        if self.unit is not None and not self._is_same_unit(identity):
            return False
        if self.supported is not None and not self.supported(identity):
            return False
        return all(pattern.fullmatch(identity.field_text(name)) for name, pattern in self.patterns.items())

    def _is_same_unit(self, identity: UsbIdentity) -> bool:
        unit = self.unit
        assert unit is not None
        return all(
            getattr(identity, name) == getattr(unit, name)
            for name in ("vendorid", "productid", "vendor", "product", "serial")
        )

    def for_unit(self, identity: UsbIdentity) -> UsbMatcher:
        """This matcher narrowed to the unit ``identity`` (bus and device numbers may differ)."""
        return replace(self, unit=identity)

    def describe(self) -> str:
        """The options in force, for "no matching device" messages."""
        wanted = [f"{name}={pattern.pattern!r}" for name, pattern in self.patterns.items()]
        if self.unit is not None:
            wanted.append(f"the unit {self.unit.describe()}")
        return ", ".join(wanted) or "any supported device"


class HidTransport(Protocol):
    """The USB HID operations the drivers need (``identity`` says which device this is)."""

    identity: UsbIdentity

    def get_report(self, report_id: int, length: int, report_type: int = REPORT_FEATURE) -> bytes:
        """HID GET_REPORT (3 = Feature, 1 = Input): up to ``length`` bytes, report ID first when IDs are used."""
        ...

    def set_report(self, report_id: int, data: bytes, report_type: int = REPORT_FEATURE) -> None:
        """HID SET_REPORT of ``data`` (with the report ID first when IDs are used)."""
        ...

    def read_interrupt(self, length: int, timeout_ms: int) -> bytes | None:
        """One packet from interrupt IN (EP 0x81), or None when nothing came within ``timeout_ms``."""
        ...

    def report_descriptor(self) -> bytes:
        """The HID report descriptor (GET_DESCRIPTOR 0x22 on the interface)."""
        ...

    def string(self, index: int) -> str:
        """USB string descriptor ``index`` ("" for index 0)."""
        ...

    def reset(self) -> None:
        """USB port reset (USBDEVFS_RESET)."""
        ...

    def close(self) -> None:
        """Release the interface and the device."""
        ...


def as_device_error(err: usb.core.USBError, what: str) -> DeviceError:
    """The :class:`DeviceError` for a pyusb error during ``what`` (message names the operation and the cause)."""
    reason = err.strerror or str(err)
    if isinstance(err, usb.core.USBTimeoutError):
        return UsbTimeout(f"{what}: the UPS did not answer ({reason})")
    if err.errno in (errno.ENODEV, errno.ENOENT):
        return UsbGone(f"{what}: the UPS is gone from the USB bus ({reason})")
    if err.errno == errno.EPIPE:
        return UsbStall(f"{what}: the UPS refused the request ({reason})")
    return DeviceError(f"{what}: USB error ({reason})")


class PyusbHidTransport:
    """:class:`HidTransport` on a pyusb device whose interface 0 is claimed (see :func:`open_hid_transport`)."""

    def __init__(self, device: usb.core.Device, identity: UsbIdentity) -> None:
        self.device = device
        self.identity = identity

    def _control(self, what: str, *args: object) -> object:
        try:
            return self.device.ctrl_transfer(*args, timeout=CONTROL_TIMEOUT_MS)
        except usb.core.USBError as err:
            raise as_device_error(err, what) from err

    def get_report(self, report_id: int, length: int, report_type: int = REPORT_FEATURE) -> bytes:
        """HID GET_REPORT (bmRequestType 0xA1, bRequest 1, wValue type<<8 | id, wIndex the interface)."""
        data = self._control(
            f"GET_REPORT {report_id}", 0xA1, 0x01, (report_type << 8) | report_id, HID_INTERFACE, length
        )
        return bytes(data)  # type: ignore[call-overload]

    def set_report(self, report_id: int, data: bytes, report_type: int = REPORT_FEATURE) -> None:
        """HID SET_REPORT (bmRequestType 0x21, bRequest 9, wValue type<<8 | id, wIndex the interface)."""
        sent = self._control(
            f"SET_REPORT {report_id}", 0x21, 0x09, (report_type << 8) | report_id, HID_INTERFACE, bytes(data)
        )
        if sent != len(data):
            raise DeviceError(f"SET_REPORT {report_id}: the UPS took {sent} of {len(data)} bytes")

    def read_interrupt(self, length: int, timeout_ms: int) -> bytes | None:
        """Read interrupt IN 0x81; None on timeout."""
        try:
            return bytes(self.device.read(INTERRUPT_IN, length, timeout=timeout_ms))
        except usb.core.USBTimeoutError:
            return None
        except usb.core.USBError as err:
            raise as_device_error(err, "interrupt read") from err

    def report_descriptor(self) -> bytes:
        """GET_DESCRIPTOR (0x81, 6, 0x2200, interface) for the length the HID class descriptor gives."""
        data = self._control("report descriptor", 0x81, 0x06, 0x2200, HID_INTERFACE, self._report_descriptor_length())
        return bytes(data)  # type: ignore[call-overload]

    def _report_descriptor_length(self) -> int:
        """wDescriptorLength of the report descriptor in the 0x21 HID descriptor, else the maximum we read."""
        try:
            interface = self.device.get_active_configuration()[(HID_INTERFACE, 0)]
            extra = bytes(interface.extra_descriptors)
        except (usb.core.USBError, KeyError, IndexError):
            return MAX_REPORT_DESCRIPTOR
        position = 0
        while position + 1 < len(extra):
            size, kind = extra[position], extra[position + 1]
            if size < 2:
                break
            if kind == 0x21 and size >= 9 and position + 9 <= len(extra) and extra[position + 6] == 0x22:
                return min(int.from_bytes(extra[position + 7 : position + 9], "little"), MAX_REPORT_DESCRIPTOR)
            position += size
        return MAX_REPORT_DESCRIPTOR

    def string(self, index: int) -> str:
        """USB string ``index`` ("" for 0)."""
        if index == 0:
            return ""
        try:
            return usb.util.get_string(self.device, index) or ""
        except (usb.core.USBError, ValueError) as err:
            if isinstance(err, usb.core.USBError):
                raise as_device_error(err, f"string {index}") from err
            raise UsbStall(f"string {index}: the UPS has no strings ({err})") from err

    def reset(self) -> None:
        """USBDEVFS_RESET through pyusb; the interface is claimed again on the next transfer."""
        try:
            self.device.reset()
        except usb.core.USBError as err:
            raise as_device_error(err, "USB reset") from err

    def close(self) -> None:
        """Release the interface and close the device (quietly: it may be gone already)."""
        with contextlib.suppress(usb.core.USBError):
            usb.util.release_interface(self.device, HID_INTERFACE)
        usb.util.dispose_resources(self.device)


def _read_string(device: usb.core.Device, index: int) -> str | None:
    """A string descriptor while enumerating; None when absent or unreadable (as NUT leaves it NULL).

    A device this user may not open raises the USBError (EACCES): its strings are unknown, not absent.
    """
    if not index:
        return None
    try:
        langids = usb.util.get_langids(device)
        return usb.util.get_string(device, index, langids[0]) if langids else None
    except usb.core.USBError as err:
        if err.errno == errno.EACCES:
            raise
        return None


def identify(device: usb.core.Device) -> UsbIdentity:
    """The identity of a pyusb device, reading its strings (opens the device, claims nothing)."""
    port = getattr(device, "port_number", None)
    return UsbIdentity(
        vendorid=device.idVendor,
        productid=device.idProduct,
        vendor=_read_string(device, device.iManufacturer),
        product=_read_string(device, device.iProduct),
        serial=_read_string(device, device.iSerialNumber),
        bus=f"{device.bus or 0:03d}",
        device=f"{device.address or 0:03d}",
        busport=f"{port:03d}" if port else "",
    )


def _claim(device: usb.core.Device, altsetting: int | None) -> None:
    """Detach the kernel's usbhid from interface 0 and claim it (NUT's libusb1.c order)."""
    try:
        if device.is_kernel_driver_active(HID_INTERFACE):
            device.detach_kernel_driver(HID_INTERFACE)
    except (usb.core.USBError, NotImplementedError) as err:
        logger.debug("kernel driver detach: %s", err)
    usb.util.claim_interface(device, HID_INTERFACE)
    if altsetting is not None:
        device.set_interface_altsetting(HID_INTERFACE, altsetting)


def open_hid_transport(
    matcher: UsbMatcher,
    backend: usb.backend.IBackend | None = None,
    accept: Callable[[PyusbHidTransport], bool] | None = None,
    altsetting: int | None = None,
) -> PyusbHidTransport:
    """Find the first device ``matcher`` takes, detach the kernel driver and claim interface 0.

    ``accept`` runs on the opened transport and may refuse it (tripplite's ``upsid``: ask the unit its ID);
    then the search goes on. A device another process holds is skipped with ``allow_duplicates``, and is an
    error otherwise. Raises :class:`UsbGone` naming the options when nothing matches.
    """
    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
    except (usb.core.NoBackendError, usb.core.USBError) as err:
        raise UsbGone(f"USB is not available here: {err}") from err
    seen = 0
    denied: list[str] = []
    for device in devices:
        try:
            identity = identify(device)
        except usb.core.USBError as err:
            logger.debug("skipping a device that cannot be opened: %s", err)
            if err.errno == errno.EACCES:
                denied.append(
                    f"{device.idVendor:04x}:{device.idProduct:04x} on bus {device.bus:03d} device {device.address:03d}"
                )
            continue
        if not matcher.matches(identity):
            logger.debug("not taking %s", identity.describe())
            continue
        seen += 1
        try:
            _claim(device, altsetting)
        except usb.core.USBError as err:
            usb.util.dispose_resources(device)
            if err.errno == errno.EACCES:
                raise DeviceError(
                    f"no permission to open {identity.describe()} (/dev/bus/usb/{identity.bus}/{identity.device}): "
                    f"a udev rule must give this user access to {identity.vendorid:04x}:{identity.productid:04x}"
                ) from err
            if matcher.allow_duplicates:
                logger.debug("%s is held elsewhere (%s); allow_duplicates: trying the next", identity.describe(), err)
                continue
            raise DeviceError(f"cannot claim {identity.describe()}: {err.strerror or err} (another driver?)") from err
        transport = PyusbHidTransport(device, identity)
        if accept is not None and not accept(transport):
            transport.close()
            continue
        return transport
    found = f" ({seen} matched but were refused or busy)" if seen else ""
    if denied:
        found += f"; no permission to open {', '.join(denied)} (a udev rule must give this user access)"
    raise UsbGone(f"no matching USB UPS found for {matcher.describe()}{found}")


Opener = Callable[[UsbMatcher], HidTransport]


class UsbConnection:
    """A driver's link to its USB device: find, lose, reset, find again (see the module docstring).

    ``opener`` builds the transport for a matcher: by default :func:`open_hid_transport` on ``backend``; tests
    of driver logic pass one that returns a simulator.
    """

    def __init__(self, matcher: UsbMatcher, opener: Opener) -> None:
        self.matcher = matcher
        self.opener = opener
        self.transport: HidTransport | None = None
        self.identity: UsbIdentity | None = None
        self._unanswered = False
        self._resets = 0

    @classmethod
    def pyusb(
        cls,
        matcher: UsbMatcher,
        backend: usb.backend.IBackend | None = None,
        accept: Callable[[PyusbHidTransport], bool] | None = None,
        altsetting: int | None = None,
    ) -> UsbConnection:
        """A connection opened through pyusb (``backend`` None: libusb)."""
        return cls(matcher, lambda m: open_hid_transport(m, backend, accept, altsetting))

    def open(self) -> HidTransport:
        """Open the device: the first time by the matcher, later the same unit again; raises DeviceError."""
        self.close()
        matcher = self.matcher if self.identity is None else self.matcher.for_unit(self.identity)
        transport = self.opener(matcher)
        if self.identity is not None and transport.identity != self.identity:
            logger.info("found the UPS again: %s", transport.identity.describe())
        self.transport, self.identity = transport, transport.identity
        return transport

    def failed(self, err: BaseException) -> None:
        """Note why an exchange failed: a timeout (also as the cause of a driver's own error) means the device
        stopped answering, so reset it on close."""
        cause: BaseException | None = err
        while cause is not None:
            if isinstance(cause, UsbTimeout):
                self._unanswered = True
                return
            cause = cause.__cause__

    def answered(self) -> None:
        """An exchange worked: the reset budget is full again."""
        self._unanswered = False
        self._resets = 0

    def close(self) -> None:
        """Close the transport, resetting the device first when it had stopped answering."""
        transport, self.transport = self.transport, None
        if transport is None:
            return
        if self._unanswered and self._resets < MAX_RESETS:
            self._resets += 1
            logger.info("resetting the USB device that stopped answering (%d of %d)", self._resets, MAX_RESETS)
            try:
                transport.reset()
            except DeviceError as err:
                logger.debug("reset failed: %s", err)
        self._unanswered = False
        transport.close()
