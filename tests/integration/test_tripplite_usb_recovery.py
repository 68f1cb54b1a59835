"""A Tripp Lite unplugged and replugged mid-outage, seen through Debian's real upsd 2.8.0.

Our tripplite_usb runs in-process through the real runner (socket, polls, reconnects) with its pyusb code on the
fake USB bus (the only way to give it a simulated unit: the fake backend lives in this process). Debian's
``/lib/nut/upsd`` connects to its driver socket, and the test asks upsd over TCP, as any NUT client would.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.drivers.runner import DriverRunner, DriverSettings
from appliance.drivers.tripplite_usb import TrippliteUsb
from tests.fake_usb import FakeBackend
from tests.nut_reference import HAVE_NUT, debian_upsd
from tests.tripplite_sim import FIXTURES, TrippliteSim

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's NUT 2.8.0 upsd is not installed")

POLL = 1  # seconds: the driver's pollinterval
DEADLINE = 15.0
# A loss must reach upsd within one poll, a replugged unit within two; this much more covers a busy machine.
SLACK = 1.0


class DriverThread:
    """The runner of a simulated tripplite_usb on its own event loop in a thread."""

    def __init__(self, settings: DriverSettings, cls: type[TrippliteUsb]) -> None:
        self.runner = DriverRunner(settings, cls)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.exit_status: int | None = None

    def _run(self) -> None:
        self.exit_status = self.loop.run_until_complete(self.runner.run())

    def __enter__(self) -> DriverThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.runner.stop)
        self.thread.join(DEADLINE)
        self.loop.close()


def get_var(port: int, name: str) -> str:
    """GET VAR tl <name> through upsd: the value, or upsd's ERR word."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"GET VAR tl {name}\n".encode())
            reply = sock.makefile("rb").readline().decode().strip()
    except OSError as err:
        return f"unreachable: {err}"
    if reply.startswith("VAR "):
        return reply.split('"', 1)[1].rsplit('"', 1)[0]
    return reply


def wait_for(check: Callable[[], bool], what: str) -> float:
    """Poll ``check`` until true; the seconds it took (fails after DEADLINE)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > DEADLINE:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def count_searches(backend: FakeBackend) -> list[float]:
    """From now on, note when the driver looks for devices on the bus."""
    searches: list[float] = []
    enumerate_devices = backend.enumerate_devices

    def counted() -> list[object]:
        searches.append(time.monotonic())
        return enumerate_devices()  # type: ignore[return-value]

    backend.enumerate_devices = counted  # type: ignore[method-assign]
    return searches


@pytest.fixture
def nutdir(tmp_path: Path) -> Path:
    (tmp_path / "ups.conf").write_text("[tl]\n\tdriver = tripplite_usb\n\tport = auto\n")
    (tmp_path / "upsd.users").write_text("[admin]\n\tpassword = secret\n\tactions = SET\n\tinstcmds = ALL\n")
    return tmp_path


@pytest.fixture
def upsd(nutdir: Path) -> Iterator[int]:
    with debian_upsd(nutdir) as port:
        yield port


def test_unplug_and_replug_mid_outage_shows_ob_again_within_two_polls(
    nutdir: Path, upsd: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fixture = FIXTURES[0x3005]
    unit = TrippliteSim(fixture, address=4, serial="2345AB")
    backend = FakeBackend(unit)
    cls = type(
        "SimulatedTrippliteUsb", (TrippliteUsb,), {"usb_backend": backend, "pause": staticmethod(lambda _: None)}
    )
    settings = DriverSettings(
        driver="tripplite_usb", ups="tl", port="auto", pollinterval=POLL, state_dir=nutdir, pid_dir=nutdir
    )
    with DriverThread(settings, cls) as driver:
        wait_for(lambda: get_var(upsd, "ups.status") == "OL", "OL through upsd")
        assert get_var(upsd, "ups.model") == "SMART500RT1U"

        unit.set_on_battery(True)  # the outage
        wait_for(lambda: get_var(upsd, "ups.status") == "OB", "OB through upsd")

        backend.unplug(unit)
        took = wait_for(lambda: get_var(upsd, "ups.status") == "ERR DATA-STALE", "stale through upsd")
        assert took <= POLL + SLACK
        searches = count_searches(backend)
        wait_for(lambda: len(searches) >= 3, "three reconnect attempts")  # each one finds nothing
        gaps = [later - earlier for earlier, later in itertools.pairwise(searches)]
        assert all(gap <= POLL + SLACK for gap in gaps)  # every poll, as NUT, not a growing backoff
        assert get_var(upsd, "ups.status") == "ERR DATA-STALE"

        # The same unit comes back on another device number, still on battery.
        again = TrippliteSim(fixture, address=9, serial="2345AB")
        again.set_on_battery(True)
        backend.plug(again)
        took = wait_for(lambda: get_var(upsd, "ups.status") == "OB", "OB again through upsd")
        assert took <= 2 * POLL + SLACK
        assert driver.runner.driver.connection.identity is not None
        assert driver.runner.driver.connection.identity.device == "009"
        assert get_var(upsd, "battery.charge") == "100"

    assert driver.exit_status == 0
    lost = [r.getMessage() for r in caplog.records if "data marked stale" in r.getMessage()]
    assert len(lost) == 1 and "gone from the USB bus" in lost[0]  # reported once, not at every attempt
    assert any("communication with the device restored" in r.getMessage() for r in caplog.records)
    assert any("found the UPS again" in r.getMessage() and "device 009" in r.getMessage() for r in caplog.records)
