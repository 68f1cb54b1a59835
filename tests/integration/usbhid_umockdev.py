"""Harness for test_usbhid_vs_nut.py: one simulated HID Power Device behind umockdev, NUT's usbhid-ups and ours.

Runs with the SYSTEM python (python3-gi and umockdev's typelib) under ``umockdev-wrapper``::

    umockdev-wrapper /usr/bin/python3 usbhid_umockdev.py NUT_DRIVER -- OUR_DRIVER... -- UNIT...

UNIT names a unit function of tests/hid_sim.py (``apc_back_ups_es_850g2`` ...). For each unit, a USB device with
the unit's vendor:product appears at /dev/bus/usb/001/<n> (sysfs attributes and a descriptor blob whose HID class
descriptor gives the report descriptor's length), and the usbdevfs ioctls libusb sends it are answered from a
:class:`~tests.hid_sim.HidUpsSimulator`: GET_DESCRIPTOR (strings, and the HID report descriptor asked of the
interface), HID GET_REPORT and SET_REPORT; interrupt IN carries the simulator's queued Input reports (none
unless a test queues one, so libusb's timeout discards the URB). The usbdevfs plumbing (URB submit, reap,
discard) is tripplite_umockdev.py's :class:`UsbDevfs`.

Each driver in turn runs ``-d 1`` (print the data after the first update and exit) on a fresh simulator of the
unit, one at a time (the URB queues are per device, not per client): first as the unit is (online), then with
the unit on battery (:func:`on_battery`).
Prints one JSON object: "<unit>" and "<unit>:onbattery" -> {"nut"|"ours": {"data": {var: value}, "writes":
[[path, value]...], "exit": code, "log": stderr}}.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import gi

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

from tests.hid_sim import (  # noqa: E402
    PS,
    HidUpsSimulator,
    SimulatedUnit,
    apc_back_ups_bk650m2_ch,
    apc_back_ups_es_850g2,
    cyberpower_cp1500pfclcd,
    cyberpower_cst135uc2,
    eaton_5e650i,
    eaton_santak_tg_box_850,
    tripplite_smart550usb,
)
from tests.hid_sim_eaton import eaton_5p650  # noqa: E402
from tests.integration.tripplite_umockdev import UsbDevfs, answer_ioctls_during, parse_dump  # noqa: E402

UNITS = {
    unit.__name__: unit
    for unit in (
        apc_back_ups_es_850g2,
        apc_back_ups_bk650m2_ch,
        cyberpower_cp1500pfclcd,
        cyberpower_cst135uc2,
        eaton_5e650i,
        eaton_santak_tg_box_850,
        tripplite_smart550usb,
        eaton_5p650,
    )
}
"""The units a run may name; units sharing a vendor:product (the 5E and the 5P, the two APCs) go in separate
runs."""
MANUFACTURER, PRODUCT, SERIAL = 1, 2, 3
GET_DESCRIPTOR, GET_REPORT, SET_REPORT = 0x06, 0x01, 0x09
STRING, HID_REPORT = 0x03, 0x22
STALL = -errno.EPIPE
INTERRUPT_PACKET = 64


def descriptors(unit: SimulatedUnit) -> bytes:
    """Device, configuration, HID interface, HID class (with the report descriptor's length) and interrupt IN."""
    identity = unit.identity
    serial = SERIAL if identity.serial is not None else 0
    device = struct.pack(
        "<BBHBBBBHHHBBBB", 18, 1, 0x0110, 0, 0, 0, 8, identity.vendorid, identity.productid, 0x0100, 1, 2, serial, 1
    )
    interface = bytes([9, 4, 0, 0, 1, 3, 0, 0, 0])
    hid = struct.pack("<BBHBBBH", 9, 0x21, 0x0110, 0, 1, HID_REPORT, len(unit.descriptor))
    endpoint = struct.pack("<BBBBHB", 7, 5, 0x81, 3, INTERRUPT_PACKET, 10)
    total = 9 + len(interface) + len(hid) + len(endpoint)
    configuration = struct.pack("<BBHBBBBB", 9, 2, total, 1, 1, 0, 0xA0, 50)
    return device + configuration + interface + hid + endpoint


def add_device(testbed: UMockdev.Testbed, unit: SimulatedUnit, number: int) -> str:
    """The unit's device node /dev/bus/usb/001/<number>; returns its path."""
    devnode = f"/dev/bus/usb/001/{number:03d}"
    identity = unit.identity
    testbed.add_from_string(
        f"P: /devices/pci0000:00/usb1/1-{number}\nN: bus/usb/001/{number:03d}\n"
        f"E: DEVNAME={devnode}\nE: DEVTYPE=usb_device\nE: SUBSYSTEM=usb\nE: BUSNUM=001\nE: DEVNUM={number:03d}\n"
        f"A: busnum=1\nA: devnum={number}\nA: idVendor={identity.vendorid:04x}\n"
        f"A: idProduct={identity.productid:04x}\nA: dev=189:{number - 1}\n"
        f"A: speed=12\nA: bConfigurationValue=1\nH: descriptors={descriptors(unit).hex()}\n"
    )
    return devnode


def on_battery(values: dict[str, float]) -> dict[str, float]:
    """``values`` of a unit that lost its input: AC and charging bits cleared (APC units report ACPresent in
    PresentStatus and alone in its own report), Discharging set."""
    cleared = ("ACPresent", "Charging", "FullyCharged")
    changed = {path: 0 for path in values if path.rpartition(".")[2] in cleared}
    return {**values, **changed, f"{PS}.PresentStatus.Discharging": 1}


class HidDevfs(UsbDevfs):
    """usbdevfs for a HID UPS: control and interrupt URBs answered by a :class:`HidUpsSimulator`."""

    def __init__(self, unit: SimulatedUnit) -> None:
        super().__init__()
        self.simulated = unit
        self.simulator = HidUpsSimulator(unit)

    def restart(self, battery: bool) -> None:
        """A fresh simulator of the same unit for the next driver run, online or on ``battery``."""
        self.simulator = HidUpsSimulator(self.simulated)
        if battery:
            self.simulator.values = on_battery(self.simulator.values)
        self.reapable, self.waiting = [], []

    def strings(self, index: int) -> bytes:
        """String descriptor ``index`` (0: the language list); the identity's strings, then the unit's."""
        if index == 0:
            return bytes([4, 3, 0x09, 0x04])
        identity = self.simulated.identity
        text = {MANUFACTURER: identity.vendor, PRODUCT: identity.product, SERIAL: identity.serial}.get(index)
        encoded = (text if text is not None else self.simulator.string(index)).encode("utf-16-le")
        return bytes([2 + len(encoded), 3]) + encoded

    def answer(self, request_type: int, request: int, value: int, data: bytes) -> bytes | None:
        """The IN data of one control request (empty for OUT), or None to stall it."""
        kind, index = value >> 8, value & 0xFF
        if request_type == 0x80 and request == GET_DESCRIPTOR and kind == STRING:
            return self.strings(index)
        if request_type == 0x81 and request == GET_DESCRIPTOR and kind == HID_REPORT:
            return self.simulator.report_descriptor()
        if request_type == 0xA1 and request == GET_REPORT:
            return self.simulator.get_report(index, len(data), kind)
        if request_type == 0x21 and request == SET_REPORT:
            self.simulator.set_report(index, data, kind)
            return b""
        return None

    def control(self, urb: UMockdev.IoctlData, buffer: UMockdev.IoctlData, data: bytes) -> None:
        """One control URB: the 8-byte setup packet, then the data stage."""
        request_type, request, value, _, length = struct.unpack_from("<BBHHH", data)
        try:
            answer = self.answer(request_type, request, value, data[8 : 8 + length])
        except Exception:  # the simulator's UsbStall for a report it does not have
            answer = None
        if answer is None:
            self.finish(urb, 0, STALL)
        elif request_type & 0x80:
            buffer.update(8, answer[:length])
            self.finish(urb, len(answer[:length]))
        else:
            self.finish(urb, length)

    def interrupt(self, urb: UMockdev.IoctlData, buffer: UMockdev.IoctlData, length: int) -> None:
        """A queued Input report, or wait (libusb discards the URB when its timeout expires)."""
        report = self.simulator.read_interrupt(length, 0)
        if report is None:
            self.waiting.append(urb)
            return
        buffer.update(0, report)
        self.finish(urb, len(report))


def run_driver(argv: list[str], devfs: HidDevfs, env: dict[str, str], battery: bool) -> dict:
    """One ``-d 1`` run on a fresh simulator of ``devfs``'s unit, matched by vendor:product (all are on the bus)."""
    devfs.restart(battery)
    identity = devfs.simulated.identity
    match = ["-x", f"vendorid={identity.vendorid:04x}", "-x", f"productid={identity.productid:04x}"]
    result = subprocess.run(
        [*argv, "-s", "ups", "-x", "port=auto", *match, "-d", "1", "-u", "root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {
        "data": parse_dump(result.stdout),
        "writes": devfs.simulator.writes,
        "exit": result.returncode,
        "log": result.stderr,
    }


def main(argv: list[str]) -> int:
    """See the module docstring."""
    first, second = argv.index("--"), argv.index("--", argv.index("--") + 1)
    nut, ours, names = argv[:first], argv[first + 1 : second], argv[second + 1 :]
    testbed = UMockdev.Testbed.new()
    env = {**os.environ, "UMOCKDEV_DIR": testbed.get_root_dir()}
    results: dict[str, dict] = {}
    devices = []
    for number, name in enumerate(names, start=2):
        devfs = HidDevfs(UNITS[name]())
        testbed.attach_ioctl(add_device(testbed, devfs.simulated, number), devfs)
        devices.append((name, devfs))

    def scenario() -> None:
        for name, devfs in devices:
            for key, battery in ((name, False), (f"{name}:onbattery", True)):
                results[key] = {
                    "nut": run_driver(nut, devfs, env, battery),
                    "ours": run_driver(ours, devfs, env, battery),
                }

    answer_ioctls_during(scenario)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
