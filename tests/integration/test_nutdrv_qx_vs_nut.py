"""Debian's nutdrv_qx 2.8.0 and ours, each on one end of a socat pty pair whose other end is the same simulated
Megatec unit: both dump (``-d 1``) the same variables for each state and each set of ups.conf options, and ``-k``
sends the same wire commands. Then ours under Debian's upsd 2.8.0: an unplugged, silent, garbled or echoing unit
makes upsc say "Data stale" within seconds (logged once) and the data come back when the unit answers again.

Most of the time here is NUT's own 1 s serial timeout (a unit that takes a command says nothing): runs that wait
on it go side by side, each on its own pty pair and simulated unit (:func:`side_by_side`).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from tests.megatec_sim import MegatecUps, serve_pty
from tests.nut_reference import HAVE_NUT, UPSD, free_port

T = TypeVar("T")

NUT_DRIVER = Path("/lib/nut/nutdrv_qx")
pytestmark = pytest.mark.skipif(not NUT_DRIVER.exists(), reason="Debian's nut-server is not installed")

STATES = {
    "online": "(215.0 195.0 230.0 014 49.0 22.7 30.0 00000000",
    "on battery, low": "(000.0 000.0 229.0 031 00.0 20.9 31.5 11000001",
    "boost, line interactive": "(195.0 195.0 228.0 040 50.1 27.1 25.0 00101000",
    "trim, test running": "(250.0 195.0 231.0 040 50.1 26.9 25.0 00100100",
    "per-cell battery voltage": "(230.0 230.0 230.0 000 50.0 2.25 24.0 00000000",
}


class PtyLine:
    """A simulated unit on one end of a socat pty pair (``port`` is the drivers' end); it can be unplugged."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.device = workdir / "ttyUPS", workdir / "ttySIM"
        self.ups = MegatecUps()
        self.socat: subprocess.Popen[bytes] | None = None

    def plug(self) -> None:
        """Make the pty pair (the same link names each time) and answer on the device's end."""
        self.socat = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.device}", f"pty,raw,echo=0,link={self.port}"],
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not (self.device.exists() and self.port.exists()):
            assert time.monotonic() < deadline, "socat made no ptys"
            time.sleep(0.02)
        serve_pty(self.ups, str(self.device))

    def unplug(self) -> None:
        """End socat: both ptys and their links vanish, as a USB-serial adapter pulled out."""
        if self.socat is not None:
            self.socat.terminate()
            self.socat.wait(timeout=10)
            self.socat = None


@pytest.fixture
def line(tmp_path: Path) -> Iterator[PtyLine]:
    """A plugged-in simulated unit; unplugged at the end."""
    pty_line = PtyLine(tmp_path)
    pty_line.plug()
    yield pty_line
    pty_line.unplug()


def side_by_side(workdir: Path, runs: dict[str, Callable[[PtyLine, Path], T]]) -> dict[str, Future[T]]:
    """Start every run at once, each on its own plugged-in unit and config directory ``workdir/<name>``; the
    futures give each run's result (or raise its failure), once all have ended and their units are unplugged."""
    lines = {}
    for name in runs:
        (workdir / name).mkdir()
        lines[name] = PtyLine(workdir / name)
        lines[name].plug()
    try:
        with ThreadPoolExecutor(len(runs)) as pool:
            return {name: pool.submit(run, lines[name], workdir / name) for name, run in runs.items()}
    finally:
        for pty_line in lines.values():
            pty_line.unplug()


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
def test_both_drivers_publish_the_same_variables(state: str, line: PtyLine, tmp_path: Path) -> None:
    ups, port = line.ups, line.port
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
def test_both_drivers_agree_with_options(state: str, options: str, line: PtyLine, tmp_path: Path) -> None:
    ups, port = line.ups, line.port
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


KILLPOWER = {
    "defaults": ("", ["C", "S.5R0003"]),
    "stayoff": ("  stayoff\n", ["C", "S.5R0000"]),
    "offdelay 130, ondelay 0": ("  offdelay = 130\n  ondelay = 0\n", ["C", "S02"]),
    "offdelay 20, ondelay 599": ("  offdelay = 20\n  ondelay = 599\n", ["C", "S.3R0009"]),
}


def run_killpower(command: list[str], options: str, line: PtyLine, workdir: Path) -> list[str]:
    """A run of ``command -k`` with ``options``: what it sent the unit (status queries left out)."""
    result = run_driver(command, workdir, line.port, "-k", options=options)
    assert result.returncode == 0, result.stderr
    return [request for request in line.ups.received if request not in ("Q1", "F", "I")]


@pytest.fixture(scope="module")
def killpowers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future[list[str]]]:
    """Both drivers' ``-k`` for every KILLPOWER case, all at once (each waits NUT's 1 s timeout per command)."""
    runs = {
        f"{side}-{number}": partial(run_killpower, command, options)
        for number, (options, _) in enumerate(KILLPOWER.values())
        for side, command in (("nut", NUT), ("ours", OURS))
    }
    return side_by_side(tmp_path_factory.mktemp("killpower"), runs)


@pytest.mark.parametrize("case", KILLPOWER)
def test_killpower_sends_what_nut_sends(case: str, killpowers: dict[str, Future[list[str]]]) -> None:
    number = list(KILLPOWER).index(case)
    theirs, ours = killpowers[f"nut-{number}"].result(), killpowers[f"ours-{number}"].result()
    assert theirs == ours == KILLPOWER[case][1]


# What upsd would pass on (socket lines), in order; SET changes the delays the shutdown commands use.
SOCKET_LINES = [
    "INSTCMD beeper.toggle",
    "INSTCMD load.off",
    "INSTCMD load.on",
    "INSTCMD shutdown.return",
    "INSTCMD shutdown.stayoff",
    "INSTCMD shutdown.stop",
    "INSTCMD test.battery.start",
    "INSTCMD test.battery.start 150",
    "INSTCMD test.battery.start 30",  # out of range: nothing on the wire
    "INSTCMD test.battery.start.deep",
    "INSTCMD test.battery.start.quick",
    "INSTCMD test.battery.stop",
    "INSTCMD load.off.delay 5",  # not a megatec command
    "SET ups.delay.shutdown 45",
    "SET ups.delay.start 299",
    "INSTCMD shutdown.return",
    "SET ups.delay.shutdown 5",  # out of range: the delay stays
    "SET ups.delay.start 0",
    "INSTCMD shutdown.return",
    "INSTCMD shutdown.stayoff",
]


# Where SOCKET_LINES is cut in two for two runs side by side (the lines before it change no driver state).
FIRST_TEST_LINE = SOCKET_LINES.index("INSTCMD test.battery.start")


def run_socket_lines(
    command: list[str], requests: list[str], line: PtyLine, workdir: Path
) -> tuple[list[str], list[str]]:
    """Run a driver in the foreground and send it ``requests`` (socket lines) with tracking ids: the result codes
    it gave, and what reached the unit (status queries left out)."""
    (workdir / "ups.conf").write_text(f"[qx]\n  driver = nutdrv_qx\n  port = {line.port}\n")
    env = {"NUT_CONFPATH": str(workdir), "NUT_STATEPATH": str(workdir), "PATH": "/usr/bin:/bin"}
    driver = subprocess.Popen([*command, "-a", "qx", "-F"], env=env, stderr=subprocess.DEVNULL)
    socket_path = workdir / "nutdrv_qx-qx"
    codes = []
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            deadline = time.monotonic() + 20
            while conn.connect_ex(str(socket_path)) != 0:
                assert time.monotonic() < deadline and driver.poll() is None, "the driver made no socket"
                time.sleep(0.05)
            line.ups.received.clear()
            conn.settimeout(10)
            replies = conn.makefile("rb")
            for number, request in enumerate(requests):
                conn.sendall(f"{request} TRACKING id{number}\n".encode())
                while not (reply := replies.readline().decode()).startswith(f"TRACKING id{number} "):
                    assert reply, "the driver closed its socket"
                codes.append(reply.split()[2])
    finally:
        driver.terminate()
        driver.wait(timeout=10)
    return codes, [request for request in line.ups.received if request != "Q1"]


def joined_halves(runs: dict[str, Future[tuple[list[str], list[str]]]], side: str) -> tuple[list[str], list[str]]:
    """One side's result codes and wire strings from its two runs, in SOCKET_LINES order."""
    (first_codes, first_sent), (codes, sent) = runs[f"{side}-0"].result(), runs[f"{side}-1"].result()
    return first_codes + codes, first_sent + sent


def test_commands_and_setvars_do_what_nuts_do(tmp_path: Path) -> None:
    halves = (SOCKET_LINES[:FIRST_TEST_LINE], SOCKET_LINES[FIRST_TEST_LINE:])
    runs = side_by_side(
        tmp_path,
        {
            f"{side}-{half}": partial(run_socket_lines, command, requests)
            for side, command in (("nut", NUT), ("ours", OURS))
            for half, requests in enumerate(halves)
        },
    )
    (their_codes, theirs), (our_codes, ours) = (joined_halves(runs, side) for side in ("nut", "ours"))
    assert theirs == [
        *("Q", "S00R0000", "C", "S.5R0003", "S.5R0000", "C", "T10", "T02", "TL", "T", "CT"),
        *("S.7R0004", "S.7", "S.7R0000"),  # after the SETs
    ]
    assert ours == theirs
    # NUT 2.8.0 answers an out-of-range SET with "unknown" (1; its own TODO says it should not): we say "invalid" (2)
    out_of_range_set = SOCKET_LINES.index("SET ups.delay.shutdown 5")
    assert (their_codes[out_of_range_set], our_codes[out_of_range_set]) == ("1", "2")
    their_codes[out_of_range_set] = our_codes[out_of_range_set]
    assert our_codes == their_codes
    assert our_codes.count("0") == len(SOCKET_LINES) - 3


def upsc_status(port: int) -> str:
    """What Debian's upsc says of qx's ups.status (its error text when there is none)."""
    result = subprocess.run(
        ["/bin/upsc", f"qx@127.0.0.1:{port}", "ups.status"], capture_output=True, text=True, timeout=10
    )
    return (result.stdout or result.stderr).strip()


def wait_for_status(port: int, want: str, timeout: float) -> float:
    """Seconds until upsc shows ``want`` (a status or an error text); fails after ``timeout``."""
    start = time.monotonic()
    seen = ""
    while time.monotonic() - start < timeout:
        seen = upsc_status(port)
        if want in seen:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"upsc never showed {want!r} in {timeout} s (last: {seen!r})")


@contextlib.contextmanager
def served(line: PtyLine, workdir: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Our driver (pollinterval 1) on the line under Debian's upsd 2.8.0; yields upsd's port and the driver."""
    (workdir / "ups.conf").write_text(f"[qx]\n  driver = nutdrv_qx\n  port = {line.port}\n  pollinterval = 1\n")
    port = free_port()
    (workdir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nMAXAGE 5\n")
    (workdir / "upsd.users").write_text("")
    env = {"NUT_CONFPATH": str(workdir), "NUT_STATEPATH": str(workdir), "PATH": "/usr/bin:/bin"}
    driver = subprocess.Popen([*OURS, "-a", "qx"], env=env, stderr=subprocess.PIPE, text=True)
    with (workdir / "upsd.log").open("wb") as log:
        upsd = subprocess.Popen([UPSD, "-F", "-u", "root"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield port, driver
    finally:
        for proc in (upsd, driver):
            proc.terminate()
        upsd.wait(timeout=10)
        driver.communicate(timeout=10)


FAULTS = ["unplugged", "silent", "garbled", "echoing"]


def lose_data_and_recover(fault: str, line: PtyLine, workdir: Path) -> tuple[float, float, str]:
    """On battery, then ``fault``, then the unit answers again: seconds until upsc said "Data stale", seconds
    until it showed the data again, and our driver's log."""
    with served(line, workdir) as (port, driver):
        wait_for_status(port, "OL", timeout=20)
        line.ups.q1 = "(000.0 000.0 229.0 031 00.0 20.9 31.5 10000001"
        wait_for_status(port, "OB", timeout=5)
        if fault == "unplugged":
            line.unplug()
        elif fault == "silent":
            line.ups.silent = True
        else:
            line.ups.q1 = "(000.0 000.0 229.0 031 00.0 20.9" if fault == "garbled" else None  # None: echo Q1
        stale = wait_for_status(port, "Data stale", timeout=15)
        if fault == "unplugged":
            line.plug()
        line.ups.silent = False
        line.ups.q1 = "(000.0 000.0 229.0 031 00.0 20.7 31.5 11000001"
        recovered = wait_for_status(port, "OB LB", timeout=15)
        driver.terminate()
        return stale, recovered, driver.communicate(timeout=10)[1]


@pytest.fixture(scope="module")
def lost_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future[tuple[float, float, str]]]:
    """Every fault's run, all at once (each waits out our driver's timeouts and polls)."""
    runs = {fault: partial(lose_data_and_recover, fault) for fault in FAULTS}
    return side_by_side(tmp_path_factory.mktemp("lost-data"), runs)


@pytest.mark.skipif(not HAVE_NUT, reason="Debian's upsd is not installed")
@pytest.mark.parametrize("fault", FAULTS)
def test_lost_data_goes_stale_under_nuts_upsd_and_recovers(
    fault: str, lost_data: dict[str, Future[tuple[float, float, str]]]
) -> None:
    stale, recovered, stderr = lost_data[fault].result()
    assert stale < 12  # three tries of a second, then stale at once
    assert recovered < 8  # reopened and asked every poll (1 s)
    assert stderr.count("data marked stale") == 1, stderr
