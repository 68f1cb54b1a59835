"""Harness for test_tripplite_usb_vs_nut.py: one simulated Tripp Lite behind umockdev, NUT's driver and ours in turn.

Runs with the SYSTEM python (python3-gi and umockdev's typelib) under ``umockdev-wrapper``::

    umockdev-wrapper /usr/bin/python3 tripplite_umockdev.py NUT_DRIVER -- OUR_DRIVER... -- dump|killpower PROTOCOL
    umockdev-wrapper /usr/bin/python3 tripplite_umockdev.py recover PROTOCOL OUR_DRIVER...

A USB device 09ae:0001 appears at /dev/bus/usb/001/002 (sysfs attributes and a descriptor blob), and the
usbdevfs ioctls libusb sends it are answered here: control URBs (string descriptors, HID SET_REPORT) and
interrupt IN URBs, from a :class:`TrippliteUnit` of tests/tripplite_unit.py. So both drivers run their real
libusb code (NUT's C driver through libusb-1.0; ours through pyusb's libusb backend) against the same unit.

Each driver in turn runs ``-d 1`` (``dump``: print the data after the first update and exit) or ``-k``
(``killpower``) on a fresh unit of the protocol. One at a time: the URB queues here are per device, not per
client (the test runs one harness, with its own testbed, per protocol side by side).
Prints one JSON object: {"nut"|"ours": {"data": {var: value}, "frames": [hex of each command frame], "exit":
code, "log": stderr}}.

``recover`` runs our driver alone as a service (pollinterval 1) and unplugs the unit mid-outage (the device
leaves sysfs and its open handles fail with ENODEV), then plugs it back as another device number; it prints how
long each step took to show on the driver socket (see :func:`recover`).
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import gi

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # noqa: E402

from tests.tripplite_unit import FIXTURES, TrippliteUnit  # noqa: E402

# usbdevfs ioctls (linux/usbdevice_fs.h, 64-bit struct sizes)
SUBMITURB = 0x8038550A
DISCARDURB = 0x0000550B
REAPURB = 0x4008550C
REAPURBNDELAY = 0x4008550D
GETDRIVER = 0x41045508
GET_CAPABILITIES = 0x8004551A
URB_CONTROL, URB_INTERRUPT = 2, 1
URB_SIZE = 56
STATUS, BUFFER, BUFFER_LENGTH, ACTUAL_LENGTH = 4, 16, 24, 28  # offsets in struct usbdevfs_urb
MANUFACTURER, PRODUCT = 1, 2


def descriptors() -> bytes:
    """Device, configuration, HID interface, HID class and interrupt IN endpoint descriptors."""
    device = struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0110, 0, 0, 0, 8, 0x09AE, 0x0001, 0x0100, 1, 2, 0, 1)
    interface = bytes([9, 4, 0, 0, 1, 3, 0, 0, 0])
    hid = bytes([9, 0x21, 0x10, 0x01, 0, 1, 0x22, 0x34, 0])
    endpoint = bytes([7, 5, 0x81, 3, 8, 0, 10])
    total = 9 + len(interface) + len(hid) + len(endpoint)
    configuration = struct.pack("<BBHBBBBB", 9, 2, total, 1, 1, 0, 0xA0, 50)
    return device + configuration + interface + hid + endpoint


class UsbDevfs(UMockdev.IoctlBase):
    """The device side of usbdevfs for one simulated unit; ``frames`` records every SET_REPORT payload."""

    def __init__(self) -> None:
        super().__init__()
        self.unit: TrippliteUnit | None = None
        self.gone = False
        self.frames: list[str] = []
        self.reapable: list[UMockdev.IoctlData] = []
        self.waiting: list[UMockdev.IoctlData] = []

    def start(self, unit: TrippliteUnit) -> None:
        """A fresh unit for the next driver run."""
        self.unit, self.frames, self.reapable, self.waiting = unit, [], [], []

    def strings(self, index: int) -> bytes:
        assert self.unit is not None
        if index == 0:
            return bytes([4, 3, 0x09, 0x04])
        text = {MANUFACTURER: "TRIPP LITE", PRODUCT: f"TRIPP LITE {self.unit.fixture.model} "}.get(index, "")
        encoded = text.encode("utf-16-le")
        return bytes([2 + len(encoded), 3]) + encoded

    def finish(self, urb: UMockdev.IoctlData, actual: int, status: int = 0) -> None:
        urb.update(STATUS, struct.pack("<i", status))
        urb.update(ACTUAL_LENGTH, struct.pack("<i", actual))
        self.reapable.append(urb)

    def control(self, urb: UMockdev.IoctlData, buffer: UMockdev.IoctlData, data: bytes) -> None:
        request_type, request, value, _, length = struct.unpack_from("<BBHHH", data)
        assert self.unit is not None
        if request_type == 0x21 and request == 0x09:  # HID SET_REPORT
            payload = data[8 : 8 + length]
            self.frames.append(payload.hex())
            if value == 0x0300:
                self.unit.receive(payload)
            self.finish(urb, length)
        elif request_type == 0x80 and request == 0x06 and value >> 8 == 3:  # string descriptor
            answer = self.strings(value & 0xFF)[:length]
            buffer.update(8, answer)
            self.finish(urb, len(answer))
        else:
            self.finish(urb, 0, -errno.EPIPE)

    def interrupt(self, urb: UMockdev.IoctlData, buffer: UMockdev.IoctlData, length: int) -> None:
        assert self.unit is not None
        if self.unit.current is None:
            self.waiting.append(urb)  # libusb discards it when its timeout expires
            return
        answer = self.unit.current[:length]
        buffer.update(0, answer)
        self.finish(urb, len(answer))

    def do_handle_ioctl(self, client: UMockdev.IoctlClient) -> bool:
        request, arg = client.get_request(), client.get_arg()
        if self.gone:
            client.complete(-1, errno.ENODEV)  # unplugged: every open handle fails as the kernel's would
        elif request == SUBMITURB:
            urb = arg.resolve(0, URB_SIZE)
            raw = bytes(urb.retrieve())
            length = struct.unpack_from("<i", raw, BUFFER_LENGTH)[0]
            buffer = urb.resolve(BUFFER, length)
            if raw[0] == URB_CONTROL:
                self.control(urb, buffer, bytes(buffer.retrieve()))
            elif raw[0] == URB_INTERRUPT:
                self.interrupt(urb, buffer, length)
            else:
                self.finish(urb, 0, -errno.EINVAL)
            client.complete(0, 0)
        elif request in (REAPURB, REAPURBNDELAY):
            if self.reapable:
                arg.resolve(0, 8).set_ptr(0, self.reapable.pop(0))
                client.complete(0, 0)
            else:
                client.complete(-1, errno.EAGAIN)
        elif request == DISCARDURB:
            if self.waiting:
                self.finish(self.waiting.pop(0), 0, -errno.ENOENT)
            client.complete(0, 0)
        elif request == GETDRIVER:
            client.complete(-1, errno.ENODATA)  # no kernel driver to detach
        elif request == GET_CAPABILITIES:
            client.complete(-1, errno.ENOTTY)
        else:
            client.complete(0, 0)  # claim, release, set configuration, reset: accepted
        return True


def parse_dump(text: str) -> dict[str, str]:
    """``var: value`` lines as upsc prints them."""
    data = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and "." in name and " " not in name:
            data[name] = value
    return data


def sys_path(number: int) -> str:
    """The sysfs path of the simulated device number ``number``."""
    return f"/sys/devices/pci0000:00/usb1/1-{number}"


def add_device(testbed: UMockdev.Testbed, number: int) -> str:
    """A 09ae:0001 device node /dev/bus/usb/001/<number> (sysfs :func:`sys_path`); returns the node's path."""
    devnode = f"/dev/bus/usb/001/{number:03d}"
    testbed.add_from_string(
        f"P: {sys_path(number).removeprefix('/sys')}\nN: bus/usb/001/{number:03d}\n"
        f"E: DEVNAME={devnode}\nE: DEVTYPE=usb_device\nE: SUBSYSTEM=usb\nE: BUSNUM=001\nE: DEVNUM={number:03d}\n"
        f"A: busnum=1\nA: devnum={number}\nA: idVendor=09ae\nA: idProduct=0001\nA: dev=189:{number - 1}\n"
        f"A: speed=12\nA: bConfigurationValue=1\nH: descriptors={descriptors().hex()}\n"
    )
    return devnode


def run_driver(argv: list[str], devfs: UsbDevfs, protocol: int, env: dict[str, str], action: list[str]) -> dict:
    """One driver run (``action``: ``-d 1`` or ``-k``) on a fresh unit of ``protocol``."""
    devfs.start(TrippliteUnit(FIXTURES[protocol]))
    result = subprocess.run(
        [*argv, "-s", "tl", "-x", "port=auto", *action, "-u", "root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {"data": parse_dump(result.stdout), "frames": devfs.frames, "exit": result.returncode, "log": result.stderr}


def answer_ioctls_during(work: Callable[[], None]) -> None:
    """Run ``work`` in a thread while this one turns GLib's loop, where umockdev calls the ioctl handlers."""
    worker = threading.Thread(target=work)
    worker.start()
    context = GLib.MainContext.default()
    while worker.is_alive():
        context.iteration(False) or time.sleep(0.0002)
    worker.join()


def in_main_loop(work: Callable[[], object]) -> None:
    """Run ``work`` on the GLib loop's thread (where the testbed lives) and wait for it."""
    finished = threading.Event()

    def call() -> bool:
        work()
        finished.set()
        return False

    GLib.idle_add(call)
    finished.wait(10)


def socket_state(path: Path) -> tuple[str | None, bool]:
    """(ups.status, stale) from a DUMPALL on a driver socket; (None, True) when it does not answer."""
    messages: list[list[str]] = []
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(2)
            conn.connect(str(path))
            conn.sendall(b"DUMPALL\n")
            for line in conn.makefile("r", encoding="utf-8"):
                messages.append(shlex.split(line))
                if messages[-1] == ["DUMPDONE"]:
                    break
    except OSError:
        return None, True
    if ["DUMPDONE"] not in messages:
        return None, True
    status = next((words[2] for words in messages if words[:2] == ["SETINFO", "ups.status"]), None)
    return status, ["DATASTALE"] in messages


def seconds_until(check: Callable[[], bool], limit: float = 20.0) -> float | None:
    """How long until ``check`` holds (None when it never did within ``limit``)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit:
            return None
        time.sleep(0.02)
    return time.monotonic() - start


def recover(ours: list[str], protocol: int) -> dict:
    """Our driver as a process on unit 002; unplug it on battery; the same unit comes back as 005, on battery.

    Returns the seconds each step took to show on the driver socket, and the driver's log.
    """
    testbed = UMockdev.Testbed.new()
    first, again = UsbDevfs(), UsbDevfs()
    unit = TrippliteUnit(FIXTURES[protocol])
    first.start(unit)
    testbed.attach_ioctl(add_device(testbed, 2), first)
    statedir = Path(tempfile.mkdtemp(prefix="tripplite-recover-"))
    (statedir / "ups.conf").write_text("[tl]\n\tdriver = tripplite_usb\n\tport = auto\n\tpollinterval = 1\n")
    env = {**os.environ, "UMOCKDEV_DIR": testbed.get_root_dir()}
    env.update(NUT_CONFPATH=str(statedir), NUT_STATEPATH=str(statedir), NUT_ALTPIDPATH=str(statedir))
    sock = statedir / "tripplite_usb-tl"
    timeline: dict[str, object] = {}

    def scenario() -> None:
        log = (statedir / "driver.log").open("w")
        driver = subprocess.Popen([*ours, "-a", "tl", "-u", "root"], env=env, stdout=log, stderr=log)
        try:
            timeline["ol"] = seconds_until(lambda: socket_state(sock) == ("OL", False))
            unit.set_on_battery(True)
            timeline["ob"] = seconds_until(lambda: socket_state(sock) == ("OB", False))

            def unplug() -> None:
                first.gone = True
                testbed.remove_device(sys_path(2))

            in_main_loop(unplug)
            timeline["stale"] = seconds_until(lambda: socket_state(sock)[1])
            time.sleep(3)  # three polls with nothing on the bus
            timeline["still_stale"] = socket_state(sock)[1]
            back = TrippliteUnit(FIXTURES[protocol])
            back.set_on_battery(True)
            again.start(back)
            in_main_loop(lambda: testbed.attach_ioctl(add_device(testbed, 5), again))
            timeline["ob_again"] = seconds_until(lambda: socket_state(sock) == ("OB", False))
            timeline["frames_after_replug"] = len(again.frames)
        finally:
            driver.terminate()
            driver.wait(10)
            log.close()
            timeline["log"] = (statedir / "driver.log").read_text()

    answer_ioctls_during(scenario)
    return timeline


def main(argv: list[str]) -> int:
    """See the module docstring."""
    if argv[0] == "recover":
        print(json.dumps(recover(argv[2:], int(argv[1], 16))))
        return 0
    first, second = argv.index("--"), argv.index("--", argv.index("--") + 1)
    nut, ours = argv[:first], argv[first + 1 : second]
    action, protocol = {"dump": ["-d", "1"], "killpower": ["-k"]}[argv[second + 1]], int(argv[second + 2], 16)
    testbed = UMockdev.Testbed.new()
    devfs = UsbDevfs()
    testbed.attach_ioctl(add_device(testbed, 2), devfs)
    env = {**os.environ, "UMOCKDEV_DIR": testbed.get_root_dir()}
    results: dict[str, dict] = {}

    def scenario() -> None:
        for name, argv in (("nut", nut), ("ours", ours)):
            results[name] = run_driver(argv, devfs, protocol, env, action)

    answer_ioctls_during(scenario)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
