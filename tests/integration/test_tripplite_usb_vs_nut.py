"""Debian's tripplite_usb 2.8.0 and ours against the same simulated Tripp Lite, through real libusb (umockdev).

Each protocol's unit answers from tests/tripplite_unit.py (the DDL dumps' bytes); both drivers print their data
after one update (``-d 1``) and every command frame they send is recorded. They must publish the same variables
and send the same frames, apart from the deliberate differences listed here. The harness
(``tripplite_umockdev.py``) needs the system python with python3-gi and umockdev; see its docstring.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appliance.drivers.tripplite_usb import frame

NUT_DRIVER = Path("/lib/nut/tripplite_usb")
SYSTEM_PYTHON = Path("/usr/bin/python3")
HARNESS = Path(__file__).with_name("tripplite_umockdev.py")
ROOT = Path(__file__).parents[2]
PROTOCOLS = ["3003", "3005", "2001", "1001", "0004", "3017"]  # the first one is also shut down (-k)
# Always different: NUT's own version, and the libusb version only NUT's C code can print.
VERSIONS = {"driver.version", "driver.version.usb"}
# NUT 2.8.0 reads the 3005 temperature byte (binary) as a hex digit: 0x20 becomes 0; we read 32.
DIFFERENCES = {"3005": {"ups.temperature": ("0", "32")}}


def _has_umockdev_gi() -> bool:
    probe = "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev"
    return SYSTEM_PYTHON.exists() and subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not (NUT_DRIVER.exists() and shutil.which("umockdev-wrapper") and _has_umockdev_gi()),
    reason="needs Debian's nut-server tripplite_usb, umockdev, gir1.2-umockdev-1.0 and python3-gi",
)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    """Every protocol's dumps and the first one's killpower, each from its own harness (testbed), side by side:
    most of a run is waiting on the unit's pace."""
    ours = [sys.executable, "-m", "appliance", "driver", "tripplite_usb"]
    argv = ["umockdev-wrapper", str(SYSTEM_PYTHON), str(HARNESS), str(NUT_DRIVER), "--", *ours, "--"]
    runs = {protocol: [*argv, "dump", protocol] for protocol in PROTOCOLS}
    runs["killpower"] = [*argv, "killpower", PROTOCOLS[0]]
    harnesses = {
        name: subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for name, run in runs.items()
    }
    data: dict[str, Any] = {}
    try:
        for name, harness in harnesses.items():
            stdout, stderr = harness.communicate(timeout=300)
            assert harness.returncode == 0, stderr[-3000:]
            data[name] = json.loads(stdout)
    finally:
        for harness in harnesses.values():
            if harness.poll() is None:  # another one failed: stop the rest
                harness.kill()
                harness.communicate()
    return data


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if p != "3017"])
def test_same_data_and_same_frames_as_nut(results: dict[str, Any], protocol: int) -> None:
    nut, ours = results[protocol]["nut"], results[protocol]["ours"]
    assert nut["exit"] == 0 and ours["exit"] == 0, ours["log"][-2000:]
    assert nut["data"]["ups.status"] == ours["data"]["ups.status"] != ""
    differences = {
        name: (nut["data"].get(name), ours["data"].get(name))
        for name in set(nut["data"]) | set(ours["data"])
        if name not in VERSIONS and nut["data"].get(name) != ours["data"].get(name)
    }
    assert differences == DIFFERENCES.get(protocol, {})
    # NUT's -d 1 polls three times, ours once: our init and poll are NUT's first frames, byte for byte.
    assert ours["frames"] == nut["frames"][: len(ours["frames"])]
    assert len(nut["frames"]) > len(ours["frames"])


def test_protocol_3017_which_nut_2_8_0_does_not_know(results: dict[str, Any]) -> None:
    nut, ours = results["3017"]["nut"], results["3017"]["ours"]
    assert nut["data"]["ups.debug.0"] == "30 17 58 58 58 58 0d '0.XXXX.'"  # 2.8.0: "unknown protocol"
    assert nut["data"]["ups.status"] == ""
    assert ours["data"]["ups.firmware.aux"] == "protocol 3017" and "ups.debug.0" not in ours["data"]
    assert ours["data"]["ups.status"] == "OL"
    assert ours["data"]["input.voltage"] == "235" and ours["data"]["ups.load"] == "20"
    # Up to the poll's smart-only commands, both send the same frames.
    assert ours["frames"][:9] == nut["frames"][:9]


def test_killpower_sends_the_same_shutdown(results: dict[str, Any]) -> None:
    nut, ours = results["killpower"]["nut"], results["killpower"]["ours"]
    assert nut["exit"] == 0 and ours["exit"] == 0
    shutdown = [frame(b"N\x00\x40").hex(), frame(b"G").hex()]  # offdelay 64, then G
    assert nut["frames"] == shutdown  # NUT's -k skips the init sequence
    assert ours["frames"][-2:] == shutdown


def test_unplug_and_replug_through_real_libusb() -> None:
    """Our driver as a service on real libusb: the unit leaves the bus mid-outage and comes back renumbered."""
    ours = [sys.executable, "-m", "appliance", "driver", "tripplite_usb"]
    argv = ["umockdev-wrapper", str(SYSTEM_PYTHON), str(HARNESS), "recover", "3003", *ours]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    timeline = json.loads(run.stdout)
    poll, slack = 1.0, 1.0
    assert timeline["ob"] is not None and timeline["ob"] <= poll + slack
    assert timeline["stale"] is not None and timeline["stale"] <= poll + slack  # within one poll
    assert timeline["still_stale"] is True
    # Two polls, plus the init sequence at NUT's pace (13 exchanges, 100 ms each) before the first poll.
    assert timeline["ob_again"] is not None and timeline["ob_again"] <= 2 * poll + 1.3 + slack
    assert timeline["frames_after_replug"] > 0
    log = timeline["log"]
    assert log.count("data marked stale") == 1 and "gone from the USB bus" in log
    assert "found the UPS again" in log and "device 005" in log
