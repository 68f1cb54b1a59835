"""A fake pyusb backend: simulated USB HID devices that real pyusb code (``usb.core.find(backend=...)``) talks to.

pyusb's own fake backend is an unfinished stub, so this one implements :class:`usb.backend.IBackend` far enough
for enumeration, descriptors, strings, kernel-driver detach, interface claims, control transfers, interrupt
reads and resets. Everything above the backend (``usb.core``, ``usb.util``, our transport) is the real code.

Device side (what a simulator overrides; all of them run in the caller's thread)::

    class MyUps(FakeDevice):
        def get_report(self, report_type, report_id, length):   # HID GET_REPORT; None = stall (EPIPE)
            ...
        def set_report(self, report_type, report_id, data):     # HID SET_REPORT; False = stall (EPIPE)
            ...
        def interrupt_in(self, length, timeout_ms):             # interrupt IN on EP 0x81; None = timeout
            ...

``get_report``/``set_report`` receive the report type (1 input, 2 output, 3 feature) and ID from wValue. Any other
control request goes to :meth:`FakeDevice.control`. The standard requests (string and HID report descriptors)
are answered from the constructor's arguments.

Faults a test can cause: :meth:`FakeBackend.unplug` (every open handle then fails with ENODEV, as libusb says
LIBUSB_ERROR_NO_DEVICE), ``device.wedged = True`` (every transfer times out until the device is reset),
``device.busy = True`` (claiming the interface fails with EBUSY: another program holds it),
``device.access_denied = True`` (opening it fails with EACCES: no udev rule lets this user in).
"""

from __future__ import annotations

import array
import errno
import threading
from collections import deque
from dataclasses import dataclass, field

import usb.backend
import usb.core

HID_CLASS = 3
DESC_TYPE_STRING = 3
DESC_TYPE_HID = 0x21
DESC_TYPE_REPORT = 0x22
GET_DESCRIPTOR = 6
HID_GET_REPORT = 1
HID_SET_REPORT = 9
LANGID_EN_US = 0x0409
# libusb's error codes, as pyusb's libusb1 backend reports them (backend_error_code).
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_ACCESS = -3
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_BUSY = -6
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_PIPE = -9


@dataclass
class Descriptor:
    """A descriptor record: the ``b*``/``w*``/``id*`` fields pyusb reads, plus ``extra_descriptors``."""

    fields: dict[str, object]
    extra_descriptors: bytes = b""

    def __getattr__(self, name: str) -> object:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


def no_device_error() -> usb.core.USBError:
    """The error libusb gives for a device that went away."""
    return usb.core.USBError("No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV)


def stall_error() -> usb.core.USBError:
    """The error libusb gives when the device stalls a request."""
    return usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)


def timeout_error() -> usb.core.USBTimeoutError:
    """The error libusb gives when a transfer times out."""
    return usb.core.USBTimeoutError("Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)


class FakeDevice:
    """One simulated USB HID device with one interface (0), interrupt IN endpoint 0x81 and optional OUT 0x02.

    Subclass it (or assign the methods) to simulate a UPS; see the module docstring. ``sent_reports`` records
    every SET_REPORT as ``(report_type, report_id, data)`` and ``resets`` counts USB resets.
    """

    def __init__(
        self,
        vendorid: int,
        productid: int,
        *,
        manufacturer: str | None = None,
        product: str | None = None,
        serial: str | None = None,
        report_descriptor: bytes = b"",
        bus: int = 1,
        address: int = 2,
        port_number: int = 1,
        bcd_device: int = 0x0100,
        interrupt_out: bool = False,
    ) -> None:
        self.vendorid = vendorid
        self.productid = productid
        self.bus = bus
        self.address = address
        self.port_number = port_number
        self.bcd_device = bcd_device
        self.report_descriptor = report_descriptor
        self.interrupt_out = interrupt_out
        self.strings: dict[int, str] = {}
        self.string_index = {
            name: self._add_string(text)
            for name, text in (("manufacturer", manufacturer), ("product", product), ("serial", serial))
        }
        self.kernel_driver_active = True
        self.claimed = False
        self.busy = False
        self.access_denied = False
        self.wedged = False
        self.resets = 0
        self.sent_reports: list[tuple[int, int, bytes]] = []
        self.queued_interrupts: deque[bytes] = deque()

    def _add_string(self, text: str | None) -> int:
        if text is None:
            return 0
        index = len(self.strings) + 1
        self.strings[index] = text
        return index

    # -- device side: override these -------------------------------------------------------------

    def get_report(self, report_type: int, report_id: int, length: int) -> bytes | None:
        """HID GET_REPORT: the report's bytes (report ID first when IDs are used), or None to stall."""
        return None

    def set_report(self, report_type: int, report_id: int, data: bytes) -> bool:
        """HID SET_REPORT: True when accepted, False to stall. The default records it and accepts."""
        return True

    def interrupt_in(self, length: int, timeout_ms: int) -> bytes | None:
        """The next interrupt IN packet, or None when nothing comes before the timeout.

        The default hands out what :meth:`queue_interrupt` queued.
        """
        return self.queued_interrupts.popleft() if self.queued_interrupts else None

    def control(self, request_type: int, request: int, value: int, index: int, data: bytes | int) -> bytes | int | None:
        """Any other control request: bytes for IN (``data`` is the length), a count for OUT, None to stall."""
        return None

    def on_reset(self) -> None:
        """A USB reset (USBDEVFS_RESET): the default un-wedges the device."""
        self.wedged = False

    # -- helpers for tests ----------------------------------------------------------------------

    def queue_interrupt(self, packet: bytes) -> None:
        """Queue a packet for the default :meth:`interrupt_in`."""
        self.queued_interrupts.append(bytes(packet))

    # -- descriptors ----------------------------------------------------------------------------

    def device_descriptor(self) -> Descriptor:
        """The device descriptor with pyusb's extra bus/address/port fields."""
        return Descriptor(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0110,
                "bDeviceClass": 0,
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 8,
                "idVendor": self.vendorid,
                "idProduct": self.productid,
                "bcdDevice": self.bcd_device,
                "iManufacturer": self.string_index["manufacturer"],
                "iProduct": self.string_index["product"],
                "iSerialNumber": self.string_index["serial"],
                "bNumConfigurations": 1,
                "bus": self.bus,
                "address": self.address,
                "port_number": self.port_number,
                "port_numbers": (self.port_number,),
                "speed": 1,
            }
        )

    def hid_descriptor(self) -> bytes:
        """The class descriptor (0x21) that carries the report descriptor's length."""
        length = len(self.report_descriptor)
        return bytes([9, DESC_TYPE_HID, 0x10, 0x01, 0, 1, DESC_TYPE_REPORT, length & 0xFF, length >> 8])

    def endpoints(self) -> list[Descriptor]:
        """Interrupt IN 0x81 and, when asked for, interrupt OUT 0x02."""
        addresses = [0x81, 0x02] if self.interrupt_out else [0x81]
        return [
            Descriptor(
                {
                    "bLength": 7,
                    "bDescriptorType": 5,
                    "bEndpointAddress": address,
                    "bmAttributes": 3,
                    "wMaxPacketSize": 8,
                    "bInterval": 10,
                    "bRefresh": 0,
                    "bSynchAddress": 0,
                }
            )
            for address in addresses
        ]

    def configuration_descriptor(self) -> Descriptor:
        """One configuration (value 1) with one interface."""
        return Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": 9 + 9 + 9 + 7 * len(self.endpoints()),
                "bNumInterfaces": 1,
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0xA0,
                "bMaxPower": 50,
            }
        )

    def interface_descriptor(self) -> Descriptor:
        """Interface 0, class HID, with the HID class descriptor in ``extra_descriptors``."""
        return Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 0,
                "bAlternateSetting": 0,
                "bNumEndpoints": len(self.endpoints()),
                "bInterfaceClass": HID_CLASS,
                "bInterfaceSubClass": 0,
                "bInterfaceProtocol": 0,
                "iInterface": 0,
            },
            extra_descriptors=self.hid_descriptor(),
        )

    # -- what the backend calls -----------------------------------------------------------------

    def handle_control(self, request_type: int, request: int, value: int, index: int, data: bytes | int) -> bytes | int:
        """Route one control transfer; raises the USBError libusb would give."""
        if self.wedged:
            raise timeout_error()
        descriptor_type = value >> 8
        if request_type == 0x80 and request == GET_DESCRIPTOR and descriptor_type == DESC_TYPE_STRING:
            return self._string_descriptor(value & 0xFF)
        if request_type == 0x81 and request == GET_DESCRIPTOR and descriptor_type == DESC_TYPE_REPORT:
            return self.report_descriptor
        if request_type == 0xA1 and request == HID_GET_REPORT and isinstance(data, int):
            report = self.get_report(value >> 8, value & 0xFF, data)
            if report is None:
                raise stall_error()
            return report
        if request_type == 0x21 and request == HID_SET_REPORT and isinstance(data, bytes):
            self.sent_reports.append((value >> 8, value & 0xFF, data))
            if not self.set_report(value >> 8, value & 0xFF, data):
                raise stall_error()
            return len(data)
        answer = self.control(request_type, request, value, index, data)
        if answer is None:
            raise stall_error()
        return answer

    def _string_descriptor(self, index: int) -> bytes:
        if index == 0:
            return bytes([4, DESC_TYPE_STRING]) + LANGID_EN_US.to_bytes(2, "little")
        text = self.strings.get(index)
        if text is None:
            raise stall_error()
        encoded = text.encode("utf-16-le")
        return bytes([2 + len(encoded), DESC_TYPE_STRING]) + encoded


@dataclass
class _Handle:
    device: FakeDevice
    claimed: set[int] = field(default_factory=set)


class FakeBackend(usb.backend.IBackend):
    """A pyusb backend whose bus holds :class:`FakeDevice` objects; pass it as ``backend=`` to pyusb.

    Thread-safe: a test thread may plug/unplug while the driver polls from another.
    """

    def __init__(self, *devices: FakeDevice) -> None:
        self._lock = threading.Lock()
        self._devices: list[FakeDevice] = list(devices)

    # -- the test's side ------------------------------------------------------------------------

    def plug(self, device: FakeDevice) -> FakeDevice:
        """Connect ``device`` to the bus (give it a new ``address`` first to simulate a re-enumeration)."""
        with self._lock:
            device.kernel_driver_active = True
            device.claimed = False
            self._devices.append(device)
        return device

    def unplug(self, device: FakeDevice) -> None:
        """Disconnect ``device``: it disappears from enumeration and its open handles fail with ENODEV."""
        with self._lock:
            if device in self._devices:
                self._devices.remove(device)
            device.claimed = False

    def is_plugged(self, device: FakeDevice) -> bool:
        """True while ``device`` is on the bus."""
        with self._lock:
            return device in self._devices

    # -- IBackend -------------------------------------------------------------------------------

    def _live(self, handle: _Handle) -> FakeDevice:
        if not self.is_plugged(handle.device):
            raise no_device_error()
        return handle.device

    def enumerate_devices(self) -> list[FakeDevice]:
        """The devices on the bus now."""
        with self._lock:
            return list(self._devices)

    def get_parent(self, dev: FakeDevice) -> None:
        """Every fake device hangs off the root hub."""
        return None

    def get_device_descriptor(self, dev: FakeDevice) -> Descriptor:
        """See :meth:`FakeDevice.device_descriptor`."""
        return dev.device_descriptor()

    def get_configuration_descriptor(self, dev: FakeDevice, config: int) -> Descriptor:
        """See :meth:`FakeDevice.configuration_descriptor`."""
        return dev.configuration_descriptor()

    def get_interface_descriptor(self, dev: FakeDevice, intf: int, alt: int, config: int) -> Descriptor:
        """See :meth:`FakeDevice.interface_descriptor`."""
        if intf != 0 or alt != 0:
            raise IndexError("no such interface")
        return dev.interface_descriptor()

    def get_endpoint_descriptor(self, dev: FakeDevice, ep: int, intf: int, alt: int, config: int) -> Descriptor:
        """See :meth:`FakeDevice.endpoints`."""
        return dev.endpoints()[ep]

    def open_device(self, dev: FakeDevice) -> _Handle:
        """A handle on a plugged device this user may open."""
        if not self.is_plugged(dev):
            raise no_device_error()
        if dev.access_denied:
            raise usb.core.USBError("Access denied (insufficient permissions)", LIBUSB_ERROR_ACCESS, errno.EACCES)
        return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        """Closing releases the claims."""
        if dev_handle.claimed:
            dev_handle.device.claimed = False
            dev_handle.claimed.clear()

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        """Only configuration 1 exists."""
        self._live(dev_handle)

    def get_configuration(self, dev_handle: _Handle) -> int:
        """Configuration 1 is always active."""
        self._live(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        """Only alternate setting 0 exists."""
        self._live(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        """Fails with EBUSY when the kernel driver still holds it or ``busy`` is set."""
        device = self._live(dev_handle)
        if device.busy or device.kernel_driver_active:
            raise usb.core.USBError("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
        device.claimed = True
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        """Release a claim (also fine on a gone device: libusb ignores it too)."""
        dev_handle.claimed.discard(intf)
        dev_handle.device.claimed = False

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        """usbhid holds a HID interface until detached."""
        return self._live(dev_handle).kernel_driver_active

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        """Detach usbhid."""
        self._live(dev_handle).kernel_driver_active = False

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        """Give the interface back to usbhid."""
        self._live(dev_handle).kernel_driver_active = True

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array,
        timeout: int,
    ) -> int:
        """Run a control transfer on the device: fill ``data`` for IN and return the length."""
        device = self._live(dev_handle)
        is_in = bool(bmRequestType & 0x80)
        answer = device.handle_control(bmRequestType, bRequest, wValue, wIndex, len(data) if is_in else bytes(data))
        if not is_in:
            return int(answer) if isinstance(answer, int) else len(answer)
        reply = bytes(answer) if not isinstance(answer, int) else b""
        count = min(len(reply), len(data))
        data[:count] = array.array("B", reply[:count])
        return count

    def intr_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        """Read the next interrupt packet into ``buff``; USBTimeoutError when none comes."""
        device = self._live(dev_handle)
        if ep != 0x81 or intf not in dev_handle.claimed:
            raise usb.core.USBError("Input/Output Error", LIBUSB_ERROR_IO, errno.EIO)
        packet = None if device.wedged else device.interrupt_in(len(buff), timeout)
        if packet is None:
            raise timeout_error()
        count = min(len(packet), len(buff))
        buff[:count] = array.array("B", packet[:count])
        return count

    def intr_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array, timeout: int) -> int:
        """Interrupt OUT: taken as an output report (type 2) with the first byte as its ID."""
        device = self._live(dev_handle)
        payload = bytes(data)
        device.sent_reports.append((2, payload[0] if payload else 0, payload))
        return len(payload)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        """Nothing to clear."""
        self._live(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        """USBDEVFS_RESET: claims are dropped and the device's :meth:`FakeDevice.on_reset` runs."""
        device = self._live(dev_handle)
        device.resets += 1
        device.claimed = False
        dev_handle.claimed.clear()
        device.on_reset()
