"""The systemd side: every unit in systemd/ passes ``systemd-analyze verify``, and the daemons speak the notify
protocol (READY=1 once serving, WATCHDOG=1 while running, STOPPING=1 on the way out)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_upsd_real_clients import DUMP, USERS
from tests.nut_reference import free_port

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd/system"
INSTALLED = "/opt/appliance/bin/appliance"  # where the image installs the venv


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_every_unit_verifies_cleanly(tmp_path: Path) -> None:
    units = []
    for unit in sorted(UNITS.iterdir()):
        # the host has no /opt/appliance: point ExecStart at this checkout's venv, change nothing else
        text = unit.read_text().replace(INSTALLED, str(Path(sys.executable).parent / "appliance"))
        name = unit.name.replace("@.", "@ups.")  # a template is verified as one of its instances
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr
    assert len(units) == len(list(UNITS.iterdir())) >= 4


def notifications(sock: socket.socket, until: str, timeout: float = 20.0) -> list[str]:
    """Datagrams received until one contains ``until``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(until in message for message in seen):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            raise AssertionError(f"no {until!r} from the daemon; got {seen}") from None
    return seen


def test_upsd_says_ready_once_serving_pings_the_watchdog_and_says_stopping(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "ups.dev").write_bytes(DUMP.read_bytes())
    (tmp_path / "ups.conf").write_text(f"[ups]\n  driver = dummy-ups\n  port = {tmp_path / 'ups.dev'}\n")
    (tmp_path / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    (tmp_path / "upsd.users").write_text(USERS)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        paths = {name: str(tmp_path) for name in ("NUT_CONFPATH", "NUT_STATEPATH", "NUT_ALTPIDPATH")}
        env = {**os.environ, **paths, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
        proc = subprocess.Popen([sys.executable, "-m", "appliance", "run"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            ready = notifications(sock, "READY=1")
            # READY comes only once upsd answers (its driver may still be starting: NUT's own answer then)
            answer = subprocess.run(["upsc", f"ups@127.0.0.1:{port}", "ups.status"], capture_output=True, text=True)
            assert answer.returncode == 0 or "Driver not connected" in answer.stderr, answer.stderr
            assert "STATUS=serving 1 UPS" in ready[-1]
            pings = notifications(sock, "WATCHDOG=1")
            pings += notifications(sock, "WATCHDOG=1")
            time.sleep(0.5)  # the driver child is up by now: had it been told the socket, it would have said READY
            pings += notifications(sock, "WATCHDOG=1")
            # only the main process speaks: the driver child says "READY=1\nSTATUS=serving ups" under its own unit
            assert all(p == "WATCHDOG=1" for p in pings) and not any("serving ups" in m for m in ready), ready + pings
            proc.send_signal(signal.SIGTERM)
            notifications(sock, "STOPPING=1")
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
