"""Debian's nutdrv_qx 2.8.0 and ours, each on one end of a socat pty pair whose other end is the same simulated
Megatec unit: both dump (``-d 1``) the same variables for each state, and ``-k`` sends the same wire commands."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.megatec_sim import MegatecUps, serve_pty

NUT_DRIVER = Path("/lib/nut/nutdrv_qx")
pytestmark = pytest.mark.skipif(not NUT_DRIVER.exists(), reason="Debian's nut-server is not installed")

STATES = {
    "online": "(215.0 195.0 230.0 014 49.0 22.7 30.0 00000000",
    "on battery, low": "(000.0 000.0 229.0 031 00.0 20.9 31.5 11000001",
    "boost, line interactive": "(195.0 195.0 228.0 040 50.1 27.1 25.0 00101000",
    "trim, test running": "(250.0 195.0 231.0 040 50.1 26.9 25.0 00100100",
    "per-cell battery voltage": "(230.0 230.0 230.0 000 50.0 2.25 24.0 00000000",
}


@pytest.fixture
def line(tmp_path: Path) -> Iterator[tuple[MegatecUps, Path]]:
    """A simulated unit behind a pty pair; yields it and the driver's end."""
    ours, device = tmp_path / "ttyUPS", tmp_path / "ttySIM"
    socat = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={device}", f"pty,raw,echo=0,link={ours}"], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while not (device.exists() and ours.exists()):
        assert time.monotonic() < deadline, "socat made no ptys"
        time.sleep(0.02)
    ups = MegatecUps()
    serve_pty(ups, str(device))
    yield ups, ours
    socat.terminate()
    socat.wait(timeout=10)


def driver_dump(path: Path, until: str, timeout: float) -> str:
    """The driver socket's DUMPALL, asked again until it contains ``until`` (or the time is up)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(str(path))
            conn.sendall(b"DUMPALL\n")
            text = ""
            while "DUMPDONE" not in text:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                text += chunk.decode()
            if until in text:
                return text
        time.sleep(0.2)
    return text


def run_driver(
    command: list[str], confdir: Path, port: Path, *extra: str, options: str = ""
) -> subprocess.CompletedProcess[str]:
    """One run of a driver on section [qx] of a fresh ups.conf (plus ``options`` lines)."""
    (confdir / "ups.conf").write_text(f"[qx]\n  driver = nutdrv_qx\n  port = {port}\n  protocol = megatec\n{options}")
    env = {"NUT_CONFPATH": str(confdir), "NUT_STATEPATH": str(confdir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([*command, "-a", "qx", *extra], env=env, capture_output=True, text=True, timeout=60)


NUT = [str(NUT_DRIVER), "-u", "root"]
OURS = [sys.executable, "-m", "appliance", "driver"]


def dump(command: list[str], confdir: Path, port: Path, options: str = "") -> dict[str, str]:
    """The variables a driver prints with ``-d 1`` (its own driver.* left out)."""
    result = run_driver(command, confdir, port, "-d", "1", options=options)
    assert result.returncode == 0, result.stderr
    pairs = (line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    return {name: value for name, value in pairs if not name.startswith("driver.")}


@pytest.mark.parametrize("state", STATES)
def test_both_drivers_publish_the_same_variables(state: str, line: tuple[MegatecUps, Path], tmp_path: Path) -> None:
    ups, port = line
    ups.q1 = STATES[state]
    theirs = dump(NUT, tmp_path, port)
    ours = dump(OURS, tmp_path, port)
    assert "ups.status" in theirs
    if state == "per-cell battery voltage":
        # NUT 2.8.0 makes its first charge guess before it has found the 12 packs (2.25 V: 0 %) and keeps it until
        # its first full update (pollfreq later). We find the packs first (12 x 2.25 V = 27.0 V, above the 26.0 V
        # high level): a deliberate difference.
        assert (theirs.pop("battery.charge"), ours.pop("battery.charge")) == ("0", "100")
    assert ours == theirs


# pollfreq = -1 makes every NUT update a full one (NUT's -d updates back to back, with no time between them), so
# that its battery model runs before the dump as ours does at every update.
FULL_UPDATES = "  pollfreq = -1\n"
OPTIONS = {
    "delays": "  offdelay = 45\n  ondelay = 200\n",
    "runtimecal": "  runtimecal = 240,100,720,50\n",
    "runtimecal, chargetime, idleload": "  runtimecal = 300,80,900,40\n  chargetime = 3600\n  idleload = 30\n",
    "ignoresab, norating": "  ignoresab\n  norating\n",
    "novendor, cablepower": "  novendor\n  cablepower = reverse\n",
}


@pytest.mark.parametrize("state", ["online", "boost, line interactive", "per-cell battery voltage"])
@pytest.mark.parametrize("options", OPTIONS)
def test_both_drivers_agree_with_options(
    state: str, options: str, line: tuple[MegatecUps, Path], tmp_path: Path
) -> None:
    ups, port = line
    ups.q1 = STATES[state][:-2] + "10"  # shutdown active: FSD unless ignoresab
    theirs = dump(NUT, tmp_path, port, OPTIONS[options] + FULL_UPDATES)
    ours = dump(OURS, tmp_path, port, OPTIONS[options] + FULL_UPDATES)
    assert ("battery.runtime" in ours) == ("runtimecal" in options)
    assert ("FSD" in ours["ups.status"]) != ("ignoresab" in options)
    if state == "per-cell battery voltage" and "runtimecal" in options:
        # NUT 2.8.0 starts its runtime model from the charge it guessed before finding the 12 packs (0 %): it
        # then says 0 % and 0 s until the model has recharged (chargetime, 12 h by default). We start from the
        # charge with the packs: a deliberate difference.
        assert (theirs.pop("battery.charge"), theirs.pop("battery.runtime")) == ("0", "0")
        assert ours.pop("battery.charge") == "100" and int(ours.pop("battery.runtime")) > 0
    assert ours == theirs


def test_killpower_sends_what_nut_sends(line: tuple[MegatecUps, Path], tmp_path: Path) -> None:
    ups, port = line
    sent = []
    for command in (NUT, OURS):
        ups.received.clear()
        result = run_driver(command, tmp_path, port, "-k")
        assert result.returncode == 0, result.stderr
        sent.append([request for request in ups.received if request not in ("Q1", "F", "I")])
    assert sent[0] == sent[1] == ["C", "S.5R0003"]


def test_an_unplugged_unit_goes_stale_and_recovers(line: tuple[MegatecUps, Path], tmp_path: Path) -> None:
    ups, port = line
    (tmp_path / "ups.conf").write_text(f"[qx]\n  driver = nutdrv_qx\n  port = {port}\n  pollinterval = 1\n")
    env = {"NUT_CONFPATH": str(tmp_path), "NUT_STATEPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    driver = subprocess.Popen([*OURS, "-a", "qx"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        socket_path = tmp_path / "nutdrv_qx-qx"
        assert "ups.status" in driver_dump(socket_path, "ups.status", timeout=20)
        ups.silent = True
        assert "DATASTALE" in driver_dump(socket_path, "DATASTALE", timeout=30)
        ups.silent = False
        assert "DATAOK" in driver_dump(socket_path, "DATAOK", timeout=60)
    finally:
        driver.terminate()
        stderr = driver.communicate(timeout=10)[1]
    assert stderr.count("no valid reply from the UPS") == 1, stderr
