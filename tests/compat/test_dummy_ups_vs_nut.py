"""Our dummy-ups against Debian's NUT 2.8.0: same dump, same upsd, same upsc output.

One Debian ``/lib/nut/upsd`` serves two UPSes from one ups.conf: ``ref`` is fed by Debian's ``/lib/nut/dummy-ups``
and ``ours`` by ``appliance driver``, both reading the same dump. Debian's ``upsc`` must print exactly the same
lines for both, except the intended differences:

- ``driver.version``: NUT's version for theirs, this appliance's for ours;
- the Exide NetUPS dump: NUT's whole-file lexer lets an unbalanced quote swallow 14 lines; we lose none.

Then upsrw/upscmd with ``-w`` (TRACKING) through Debian's upsd reach our driver, and garbage on our socket
does not stop it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.drivers.dev_file import Assignment, decode, parse_dev_file
from tests.nut_reference import ADMIN, DDL, DEFAULT_USERS, HAVE_NUT, UPSD, free_port, upsd_serves

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's NUT binaries are not installed")

DUMMY_UPS = "/lib/nut/dummy-ups"
TIMEOUT = 15.0
INTENDED = ("driver.version:",)
SAMPLE = [
    "APC/APC__AP7724__snmp-ups__2.7.4.1__01.dev",
    "APC/APC__Back-UPS_BK650M2-CH__usbhid-ups__2.8.0__01.dev",
    "Cyber_Power_Systems/Cyber_Power_Systems__CP1500PFCLCD__usbhid-ups__2.7.4__01.dev",
    "Digitus/Digitus__DN-170041__blazer_usb__2.7.4__01.dev",
    "Eaton/Eaton__Powerware_9130__bcmxcp__2.7.1__01.dev",
    "Fideltronik_INIGO/Fideltronik_INIGO__Viper_1200__nutdrv_qx__2.7.3.1__01.dev",
    "Mustek/Mustek__Powermust_1000VA_USB__megatec__2.2.0__01.dev",
    "Plexus/Plexus__500VA__megatec_usb__2.2.1__01.dev",
    "Powerware/Powerware__PW5110__bcmxcp_usb__2.6.3__02.dev",
    "Powercom/Powercom__Imperial_IMP-525AP__usbhid-ups__2.6.5__01.dev",
    "Tripp_Lite/Tripp_Lite__OMNISMART500__tripplite_usb__2.4.3__02.dev",
    "PiSupply/PiSupply__PiJuice_HAT__pijuice__2.8.0__03.dev",
]


def annotated_dump(directory: Path) -> Path:
    dump = directory / "annotated.dev"
    dump.write_text(
        'ups.status: OL\nups.delay.shutdown: 20\n#RW:ups.delay.shutdown:RANGE:"0" "600"\n#CMD:shutdown.return\n'
    )
    return dump


@dataclass
class Pairs:
    """Debian's upsd serving ``ref<n>`` (Debian dummy-ups) and ``ours<n>`` (our dummy-ups) for each dump n."""

    workdir: Path
    port: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def upsc(self, ups: str) -> list[str]:
        result = subprocess.run(["/bin/upsc", self.address(ups)], capture_output=True, text=True, timeout=TIMEOUT)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    def tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)

    def address(self, ups: str) -> str:
        return f"{ups}@127.0.0.1:{self.port}"

    def log(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.workdir.glob("*.log"))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def _wait(check: Callable[[], bool], what: str, pairs: Pairs) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not ready\n{pairs.log()}")


def start_pairs(workdir: Path, dumps: list[Path]) -> Pairs:
    """Write the config, start both drivers for every dump, then upsd; return once upsd serves them all."""
    sections = []
    for n, dump in enumerate(dumps):
        data = workdir / f"device{n}.dev"
        data.write_bytes(dump.read_bytes())
        sections += [f'[{side}{n}]\n  driver = dummy-ups\n  port = "{data}"\n' for side in ("ref", "ours")]
    pairs = Pairs(workdir, free_port())
    (workdir / "ups.conf").write_text("".join(sections))
    (workdir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {pairs.port}\n")
    users = "".join(
        f"[{name}]\n" + "".join(f'  {key} = "{value}"\n' for key, value in values.items())
        for name, values in DEFAULT_USERS.items()
    )
    (workdir / "upsd.users").write_text(users)
    for name in ("ups.conf", "upsd.conf", "upsd.users"):
        (workdir / name).chmod(0o600)
    env = {**os.environ, "NUT_CONFPATH": str(workdir), "NUT_STATEPATH": str(workdir), "NUT_ALTPIDPATH": str(workdir)}

    def spawn(argv: list[str], log: str) -> None:
        with (workdir / log).open("wb") as out:
            pairs.procs.append(subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT))

    names = [f"{side}{n}" for n in range(len(dumps)) for side in ("ref", "ours")]
    try:
        for n in range(len(dumps)):
            spawn([DUMMY_UPS, "-a", f"ref{n}", "-u", "root", "-F"], f"nut-dummy-ups-{n}.log")
            spawn([sys.executable, "-m", "appliance", "driver", "-a", f"ours{n}", "-u", "root"], f"ours-{n}.log")
        for ups in names:
            _wait((workdir / f"dummy-ups-{ups}").exists, f"driver {ups}", pairs)
        spawn([UPSD, "-u", "root", "-F"], "upsd.log")
        for ups in names:
            _wait(lambda ups=ups: upsd_serves(pairs.port, [ups]), f"upsd serving {ups}", pairs)
    except BaseException:
        pairs.stop()
        raise
    return pairs


EXIDE = "Exide/Exide__NetUPS_SE_PRC2400a__upscode2__2.0.2__01.dev"
CYBERPOWER = "Cyber_Power_Systems/Cyber_Power_Systems__CP1500PFCLCD__usbhid-ups__2.7.4__01.dev"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pairs]:
    workdir = tmp_path_factory.mktemp("dummy-pairs")
    started = start_pairs(workdir, [DDL / name for name in [*SAMPLE, EXIDE]] + [annotated_dump(workdir)])
    yield started
    started.stop()


def index_of(name: str) -> int:
    return [*SAMPLE, EXIDE].index(name)


ANNOTATED = len(SAMPLE) + 1


def without_intended(lines: list[str], skip: frozenset[str] = frozenset()) -> list[str]:
    return [line for line in lines if not line.startswith(INTENDED) and line.split(":")[0] not in skip]


def empty_in(dump: Path) -> frozenset[str]:
    """Variables the dump lists with an empty value (and the device.* copies main.c makes of them).

    NUT 2.8.0's dummy-ups shows the previous line's value for them (a buffer it does not clear); ours shows
    them empty, as the dumped device reported.
    """
    parsed = parse_dev_file(decode(dump.read_bytes()), str(dump))
    names = {e.name for e in parsed.entries if isinstance(e, Assignment) and not e.value}
    return frozenset(names | {n.replace("ups.", "device.", 1) for n in names if n in ("ups.mfr", "ups.model")})


@pytest.mark.parametrize("name", SAMPLE, ids=[Path(s).stem.split("__")[1] for s in SAMPLE])
def test_upsc_shows_the_same_as_nut_dummy_ups(pairs: Pairs, name: str) -> None:
    n = index_of(name)
    theirs, ours = pairs.upsc(f"ref{n}"), pairs.upsc(f"ours{n}")
    empty = empty_in(DDL / name)
    assert without_intended(ours, empty) == without_intended(theirs, empty), pairs.log()
    assert "driver.version: 2.8.0" in theirs
    for variable in empty - {"device.mfr", "device.model"}:
        assert f"{variable}: " in ours


def test_a_dump_nut_mangles_loses_nothing_here(pairs: Pairs) -> None:
    n = index_of(EXIDE)
    theirs = dict(line.split(": ", 1) for line in pairs.upsc(f"ref{n}"))
    ours = dict(line.split(": ", 1) for line in pairs.upsc(f"ours{n}"))
    assert ours["input.voltage"] == "0117.50"
    assert "input.voltage" not in theirs  # swallowed by the quote NUT's lexer opened on line 7
    assert ours["ups.mfr"] == "Exide"
    assert set(theirs) <= set(ours)
    assert {name for name in theirs if theirs[name] != ours[name]} == {"driver.version", "ups.mfr", "device.mfr"}


def test_upsrw_and_upscmd_with_tracking_reach_our_driver(pairs: Pairs) -> None:
    ours = pairs.address(f"ours{ANNOTATED}")
    user, password = ADMIN
    result = pairs.tool("/bin/upsrw", "-s", "ups.delay.shutdown=60", "-u", user, "-p", password, "-w", ours)
    assert (result.returncode, result.stderr) == (0, "SUCCESS\n"), result.stdout
    assert "ups.delay.shutdown: 60" in pairs.upsc(f"ours{ANNOTATED}")
    result = pairs.tool("/bin/upsrw", "-s", "ups.delay.shutdown=9999", "-u", user, "-p", password, "-w", ours)
    assert result.returncode != 0  # outside the annotated range: the driver says INVALID through TRACKING
    assert "INVALID" in result.stdout + result.stderr
    assert "ups.delay.shutdown: 60" in pairs.upsc(f"ours{ANNOTATED}")
    result = pairs.tool("/bin/upsrw", "-s", "new.variable=hello", "-u", user, "-p", password, "-w", ours)
    assert result.returncode != 0  # upsd refuses a variable the driver did not publish
    for command in ("shutdown.return", "load.off"):
        result = pairs.tool("/bin/upscmd", "-u", user, "-p", password, "-w", ours, command)
        assert (result.returncode, result.stderr) == (0, "SUCCESS\n"), result.stdout
    assert "shutdown.return" in pairs.tool("/bin/upscmd", "-l", ours).stdout
    listing = pairs.tool("/bin/upsrw", ours).stdout
    assert "[ups.delay.shutdown]" in listing


def test_garbage_on_our_socket_does_not_disturb_upsd(pairs: Pairs) -> None:
    n = index_of(SAMPLE[0])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(pairs.workdir / f"dummy-ups-ours{n}"))
        sock.sendall(bytes(range(256)).replace(b'"', b"") + b"\n" + b"Z" * 100_000 + b"\nNONSENSE 1 2 3\n")
        sock.sendall(b"PING\n")
        sock.settimeout(TIMEOUT)
        assert sock.recv(100) == b"PONG\n"
    assert without_intended(pairs.upsc(f"ours{n}")) == without_intended(pairs.upsc(f"ref{n}"))
