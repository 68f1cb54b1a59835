"""An APC unplugged and replugged mid-outage under usbhid-ups, seen through Debian's real upsd 2.8.0.

Our usbhid-ups runs in-process through the real runner with its pyusb code on the fake USB bus
(``tests/fake_usb.py``) carrying the HID simulator of the Back-UPS ES 850G2; Debian's ``/lib/nut/upsd`` reads
its driver socket and the test asks upsd over TCP, as any NUT client would.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.drivers.runner import DriverSettings
from appliance.drivers.usbhid_ups import UsbhidUps
from tests.fake_usb import FakeBackend
from tests.hid_sim import FakeHidUps, HidUpsSimulator, apc_back_ups_es_850g2
from tests.integration.test_tripplite_usb_recovery import DriverThread, wait_for
from tests.nut_reference import HAVE_NUT, debian_upsd

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's NUT 2.8.0 upsd is not installed")

POLL = 1  # seconds: the driver's pollinterval
SLACK = 1.0
PS = "UPS.PowerSummary"


def get_var(port: int, name: str) -> str:
    """GET VAR apc <name> through upsd: the value, or upsd's ERR word."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"GET VAR apc {name}\n".encode())
            reply = sock.makefile("rb").readline().decode().strip()
    except OSError as err:
        return f"unreachable: {err}"
    return reply.split('"', 1)[1].rsplit('"', 1)[0] if reply.startswith("VAR ") else reply


@pytest.fixture
def upsd(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "ups.conf").write_text("[apc]\n\tdriver = usbhid-ups\n\tport = auto\n")
    (tmp_path / "upsd.users").write_text("")
    with debian_upsd(tmp_path) as port:
        yield port


def on_battery(simulator: HidUpsSimulator) -> HidUpsSimulator:
    for path in (f"{PS}.PresentStatus.ACPresent", f"{PS}.PresentStatus.Discharging", f"{PS}.Discharging"):
        simulator.set(path, 0 if path.endswith("ACPresent") else 1)
    return simulator


def test_unplug_and_replug_mid_outage_shows_ob_again_within_two_polls(
    tmp_path: Path, upsd: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    unit = FakeHidUps(HidUpsSimulator(apc_back_ups_es_850g2()), address=4)
    backend = FakeBackend(unit)
    cls = type("SimulatedUsbhidUps", (UsbhidUps,), {"usb_backend": backend})
    settings = DriverSettings(
        driver="usbhid-ups", ups="apc", port="auto", pollinterval=POLL, state_dir=tmp_path, pid_dir=tmp_path
    )
    with DriverThread(settings, cls) as driver:  # type: ignore[arg-type]
        wait_for(lambda: get_var(upsd, "ups.status") == "OL", "OL through upsd")
        assert get_var(upsd, "ups.model") == "Back-UPS ES 850G2"
        assert get_var(upsd, "battery.type") == "PbAc"  # a string descriptor read through pyusb

        on_battery(unit.simulator)  # the outage
        wait_for(lambda: get_var(upsd, "ups.status") == "OB DISCHRG", "OB through upsd")

        backend.unplug(unit)
        took = wait_for(lambda: get_var(upsd, "ups.status") == "ERR DATA-STALE", "stale through upsd")
        assert took <= POLL + SLACK

        # The same unit comes back on another device number, still on battery.
        again = FakeHidUps(on_battery(HidUpsSimulator(apc_back_ups_es_850g2())), address=9)
        backend.plug(again)
        took = wait_for(lambda: get_var(upsd, "ups.status") == "OB DISCHRG", "OB again through upsd")
        assert took <= 2 * POLL + SLACK
        identity = driver.runner.driver.connection.identity  # type: ignore[attr-defined]
        assert identity is not None and identity.device == "009"

    assert driver.exit_status == 0
    lost = [r.getMessage() for r in caplog.records if "data marked stale" in r.getMessage()]
    assert len(lost) == 1  # reported once, not at every attempt
