"""``appliance monitor`` against Debian's real upsd + dummy-ups: a power failure as primary, FSD as secondary,
and a wrong password that is reported while the monitor keeps running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nut_reference import DDL, HAVE_NUT, NutReference, start_nut_dummies

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's nut-server is not installed")

ROOT = Path(__file__).resolve().parents[2]
DUMP = DDL / "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"
USERS = {
    "admin": {"password": "secret", "actions": "SET", "instcmds": "ALL"},
    "boss": {"password": "b", "upsmon": "primary"},
    "mon": {"password": "m", "upsmon": "secondary"},
    "mon2": {"password": "m2", "upsmon": "secondary"},
}


def set_status(nut: NutReference, status: str) -> None:
    subprocess.run(
        ["upsrw", "-s", f"ups.status={status}", "-u", "admin", "-p", "secret", nut.address()],
        check=True,
        capture_output=True,
        timeout=20,
    )


def start_monitor(
    tmp_path: Path, monitor_line: str, *, extra: str = "", statepath: Path | None = None, pollfreq: int = 1
) -> tuple[subprocess.Popen[str], Path, Path, Path]:
    """Run ``appliance monitor`` on a upsmon.conf of ``monitor_line`` plus ``extra`` lines; return the process and
    the paths of its SHUTDOWNCMD marker, its notify log and its POWERDOWNFLAG."""
    confdir = tmp_path / "monitor"
    confdir.mkdir(exist_ok=True)
    marker, notes, flag = confdir / "shutdown-ran", confdir / "notify.log", confdir / "killpower"
    script = confdir / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$NOTIFYTYPE $1" >> {notes}\n')
    script.chmod(0o755)
    (confdir / "upsmon.conf").write_text(
        f"{monitor_line}\n"
        f'SHUTDOWNCMD "touch {marker}"\n'
        f"NOTIFYCMD {script}\n"
        "NOTIFYFLAG ONBATT SYSLOG+EXEC\nNOTIFYFLAG LOWBATT SYSLOG+EXEC\nNOTIFYFLAG FSD SYSLOG+EXEC\n"
        "NOTIFYFLAG SHUTDOWN SYSLOG+EXEC\nNOTIFYFLAG COMMBAD SYSLOG+EXEC\n"
        f"POLLFREQ {pollfreq}\nPOLLFREQALERT {pollfreq}\nHOSTSYNC 3\nFINALDELAY 0\nPOWERDOWNFLAG {flag}\n{extra}"
    )
    env = {
        **os.environ,
        "NUT_CONFPATH": str(confdir),
        "NUT_STATEPATH": str(statepath or confdir),
        "NUT_ALTPIDPATH": str(confdir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "monitor"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return proc, marker, notes, flag


@pytest.fixture(scope="module")
def nut_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NutReference]]:
    """A fresh Debian upsd + dummy-ups (DUMP, USERS) for each test of the module that asks for ``nut``, all
    started at once (NUT's own start takes two seconds)."""
    tests = [item for item in request.session.items if item.module is request.module]
    wanted = sum("nut" in item.fixturenames for item in tests)  # type: ignore[attr-defined]
    references = start_nut_dummies(tmp_path_factory.mktemp("nut"), [DUMP] * wanted, USERS)
    yield references
    for reference in references:
        reference.stop()


@pytest.fixture
def nut(nut_pool: list[NutReference]) -> Iterator[NutReference]:
    """This test's own Debian upsd + dummy-ups, already serving; stopped after the test."""
    with nut_pool.pop() as reference:
        yield reference


def logged_in(nut: NutReference, count: int = 1) -> bool:
    """At least ``count`` clients logged in to the UPS (what ``upsc -c`` lists)."""
    listing = subprocess.run(["upsc", "-c", nut.address()], capture_output=True, text=True).stdout
    return len(listing.split()) >= count


def kill_if_running(proc: subprocess.Popen[str]) -> None:
    """End a monitor the test did not see exit."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_primary_power_failure_sets_fsd_writes_the_flag_and_shuts_down(nut: NutReference, tmp_path: Path) -> None:
    proc, marker, notes, flag = start_monitor(tmp_path, f"MONITOR {nut.address()} 1 boss b primary")
    try:
        wait_for(lambda: logged_in(nut))
        set_status(nut, "OB DISCHRG")
        wait_for(lambda: notes.exists() and "ONBATT" in notes.read_text())
        set_status(nut, "OB DISCHRG LB")
        assert proc.wait(timeout=30) == 0
        assert marker.exists() and flag.read_text() == "upsmon-shutdown-file"
        status = subprocess.run(["upsc", nut.address(), "ups.status"], capture_output=True, text=True).stdout
        assert status.startswith("FSD")
        wait_for(lambda: "SHUTDOWN" in notes.read_text())
        text = notes.read_text()
        assert "ONBATT UPS ups@127.0.0.1" in text and "LOWBATT" in text
        assert text.index("ONBATT") < text.index("LOWBATT") < text.index("SHUTDOWN")
    finally:
        kill_if_running(proc)


def test_secondary_shuts_down_when_the_primary_sets_fsd(nut: NutReference, tmp_path: Path) -> None:
    proc, marker, notes, flag = start_monitor(tmp_path, f"MONITOR {nut.address()} 1 mon m secondary")
    try:
        wait_for(lambda: logged_in(nut))
        with socket.create_connection((nut.host, nut.port)) as sock:
            sock.sendall(b"USERNAME boss\nPASSWORD b\nLOGIN ups\nFSD ups\n")
            reader = sock.makefile("rb")
            assert [reader.readline() for _ in range(4)][-1] == b"OK FSD-SET\n"
        assert proc.wait(timeout=30) == 0
        assert marker.exists()
        assert not flag.exists()  # only a primary writes POWERDOWNFLAG
        wait_for(lambda: notes.exists() and "SHUTDOWN" in notes.read_text())
        assert "FSD" in notes.read_text()
    finally:
        kill_if_running(proc)


def test_wrong_password_is_reported_and_the_monitor_keeps_running(nut: NutReference, tmp_path: Path) -> None:
    proc, marker, _, _ = start_monitor(tmp_path, f"MONITOR {nut.address()} 1 mon wrong secondary")
    try:
        time.sleep(3)
        assert proc.poll() is None and not marker.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert "Access denied" in out or "ACCESS-DENIED" in out or "Password" in out, out
    assert out.count("Poll UPS") == 1  # said once, not every poll
    assert "Traceback" not in out
