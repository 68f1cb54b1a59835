"""``appliance upsdrvctl`` over a real ups.conf: start, stop, shutdown, testing mode, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def nutdir(tmp_path: Path) -> Path:
    (tmp_path / "a.dev").write_text("ups.status: OL\n")
    (tmp_path / "b.seq").write_text("ups.status: OB\nTIMER 60\n")
    (tmp_path / "ups.conf").write_text(
        "maxstartdelay = 20\n"
        "[first]\n  driver = dummy-ups\n  port = a.dev\n  sdorder = 1\n"
        "[second]\n  driver = dummy-ups\n  port = b.seq\n  sdorder = 0\n"
        "[never]\n  driver = dummy-ups\n  port = a.dev\n  sdorder = -1\n"
    )
    return tmp_path


def upsdrvctl(nutdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run it with output in files: started drivers keep upsdrvctl's stderr (their log), so no pipes."""
    env = {**os.environ, "NUT_CONFPATH": str(nutdir), "NUT_STATEPATH": str(nutdir), "NUT_ALTPIDPATH": str(nutdir)}
    out, err = nutdir / "upsdrvctl.out", nutdir / "upsdrvctl.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        status = subprocess.run(
            [sys.executable, "-m", "appliance", "upsdrvctl", *args], env=env, stdout=stdout, stderr=stderr, timeout=60
        ).returncode
    return subprocess.CompletedProcess(args, status, out.read_text(), err.read_text())


def test_start_then_stop_every_driver(nutdir: Path) -> None:
    try:
        result = upsdrvctl(nutdir, "start")
        assert result.returncode == 0, result.stderr
        for ups in ("first", "second", "never"):
            assert (nutdir / f"dummy-ups-{ups}").exists()
            assert (nutdir / f"dummy-ups-{ups}.pid").exists()
    finally:
        result = upsdrvctl(nutdir, "stop")
    assert result.returncode == 0, result.stderr
    for ups in ("first", "second", "never"):
        assert not (nutdir / f"dummy-ups-{ups}").exists()
        assert not (nutdir / f"dummy-ups-{ups}.pid").exists()


def test_one_named_ups_and_testing_mode(nutdir: Path) -> None:
    result = upsdrvctl(nutdir, "-t", "-u", "nut", "start", "second")
    assert result.returncode == 0
    assert result.stdout.strip().endswith("appliance driver dummy-ups -a second -u nut")
    assert not (nutdir / "dummy-ups-second").exists()


def test_shutdown_follows_sdorder_and_skips_minus_one(nutdir: Path) -> None:
    result = upsdrvctl(nutdir, "-t", "shutdown")
    assert [line.split()[-3:] for line in result.stdout.splitlines()] == [["-k", "-a", "second"], ["-k", "-a", "first"]]
    assert upsdrvctl(nutdir, "shutdown").returncode == 0


def test_errors_are_reported_with_status_1(nutdir: Path) -> None:
    assert "not found" in upsdrvctl(nutdir, "start", "nosuch").stderr
    assert upsdrvctl(nutdir, "stop", "first").returncode == 1  # not running
    assert "usage" in upsdrvctl(nutdir, "restart").stderr
    (nutdir / "ups.conf").write_text("[x]\n  driver = no-such-driver\n  port = auto\n")
    result = upsdrvctl(nutdir, "start")
    assert (result.returncode, "no driver named no-such-driver" in result.stderr) == (1, True)
