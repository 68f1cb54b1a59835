"""``appliance monitor`` beside Debian's upsd and dummy-ups: upssched timers from the user's upssched.conf, push
wake-ups from the local driver socket, and SIGHUP reloads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration import test_monitor_vs_nut_upsd
from tests.integration.test_monitor_vs_nut_upsd import ROOT, logged_in, set_status, start_monitor, wait_for
from tests.nut_reference import HAVE_NUT, NutReference

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's nut-server is not installed")
# A fresh Debian upsd + dummy-ups per test, all started at once.
nut_pool, nut = test_monitor_vs_nut_upsd.nut_pool, test_monitor_vs_nut_upsd.nut


def write_upssched(confdir: Path, rules: str) -> Path:
    """An upssched.conf as NUT documents it, with a CMDSCRIPT that logs its argument and environment."""
    log = confdir / "sched.log"
    script = confdir / "upssched-cmd"
    script.write_text(f'#!/bin/sh\necho "$1 $NOTIFYTYPE $UPSNAME" >> {log}\n')
    script.chmod(0o755)
    (confdir / "upssched.conf").write_text(
        f"CMDSCRIPT {script}\nPIPEFN {confdir}/upssched.pipe\nLOCKFN {confdir}/upssched.lock\n{rules}"
    )
    return log


SCHED_FLAGS = "NOTIFYCMD /usr/sbin/upssched\nNOTIFYFLAG ONLINE SYSLOG+EXEC\n"


def start_sched_monitor(tmp_path: Path, nut: NutReference, rules: str) -> tuple[subprocess.Popen[str], Path]:
    confdir = tmp_path / "monitor"
    confdir.mkdir()
    log = write_upssched(confdir, rules)
    proc, *_ = start_monitor(tmp_path, f"MONITOR {nut.address()} 1 mon m secondary", extra=SCHED_FLAGS)
    return proc, log


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert "Traceback" not in out, out
    return out


def test_upssched_timer_runs_cmdscript_after_its_delay(nut: NutReference, tmp_path: Path) -> None:
    rules = "AT ONBATT * START-TIMER onbatt 2\nAT ONLINE * CANCEL-TIMER onbatt online-early\n"
    rules += f"AT ONBATT {nut.address()} EXECUTE onbatt-now\nAT ONBATT otherups EXECUTE never\n"
    proc, log = start_sched_monitor(tmp_path, nut, rules)
    try:
        wait_for(lambda: logged_in(nut))
        started = time.monotonic()
        set_status(nut, "OB DISCHRG")
        wait_for(lambda: log.exists() and "onbatt " in log.read_text(), timeout=15)
        elapsed = time.monotonic() - started
        lines = log.read_text().splitlines()
        assert lines[0] == f"onbatt-now ONBATT {nut.address()}"  # EXECUTE runs at once, with upsmon's env
        assert lines[1] == f"onbatt ONBATT {nut.address()}"  # the timer, after its 2 s
        assert elapsed >= 2.0
        assert "never" not in log.read_text()
    finally:
        stop(proc)


def test_upssched_timer_cancelled_by_online_never_fires(nut: NutReference, tmp_path: Path) -> None:
    rules = "AT ONBATT * START-TIMER onbatt 3\nAT ONLINE * CANCEL-TIMER onbatt\n"
    rules += "AT ONLINE * CANCEL-TIMER onbatt nothing-to-cancel\n"
    proc, log = start_sched_monitor(tmp_path, nut, rules)
    try:
        wait_for(lambda: logged_in(nut))
        set_status(nut, "OB DISCHRG")
        time.sleep(1.5)
        set_status(nut, "OL")
        # the first CANCEL-TIMER stopped the timer, so the second finds none and runs its command
        wait_for(lambda: log.exists() and "nothing-to-cancel" in log.read_text())
        time.sleep(3)  # past the timer's deadline
        assert log.read_text().splitlines() == [f"nothing-to-cancel ONLINE {nut.address()}"]
    finally:
        stop(proc)


def test_status_change_is_seen_at_once_through_the_driver_socket(nut: NutReference, tmp_path: Path) -> None:
    """POLLFREQ 30, but the local driver socket wakes the monitor: ONBATT within a second, not 30."""
    proc, _, notes, _ = start_monitor(
        tmp_path, f"MONITOR {nut.address()} 1 mon m secondary", statepath=nut.workdir, pollfreq=30
    )
    try:
        wait_for(lambda: logged_in(nut))
        time.sleep(0.5)  # past the first poll, so only a push can explain a quick notice
        for status, notice in (("OB DISCHRG", "ONBATT"), ("OB DISCHRG LB", "LOWBATT")):
            started = time.monotonic()
            set_status(nut, status)
            wait_for(lambda notice=notice: notes.exists() and notice in notes.read_text(), timeout=10)
            assert time.monotonic() - started < 2.0
    finally:
        stop(proc)


def test_reload_adds_a_monitor_and_a_broken_file_keeps_the_running_config(nut: NutReference, tmp_path: Path) -> None:
    proc, *_ = start_monitor(tmp_path, f"MONITOR {nut.address()} 1 mon m secondary")
    confdir = tmp_path / "monitor"
    reload = [sys.executable, "-m", "appliance", "monitor", "-c", "reload"]
    env = {**os.environ, "NUT_CONFPATH": str(confdir), "NUT_ALTPIDPATH": str(confdir)}
    try:
        wait_for(lambda: logged_in(nut, 1))
        conf = confdir / "upsmon.conf"
        conf.write_text(conf.read_text() + f"MONITOR ups@localhost:{nut.port} 0 mon2 m2 secondary\n")
        assert subprocess.run(reload, env=env, cwd=ROOT).returncode == 0
        wait_for(lambda: logged_in(nut, 2))
        conf.write_text(conf.read_text() + "MONITOR nonsense\n")
        assert subprocess.run(reload, env=env, cwd=ROOT).returncode == 0
        time.sleep(2)
        assert proc.poll() is None and logged_in(nut, 2)
    finally:
        out = stop(proc)
    assert "reloaded" in out and "keeping the running configuration" in out


def test_dry_run_logs_the_whole_plan_and_does_nothing(nut: NutReference, tmp_path: Path) -> None:
    confdir = tmp_path / "monitor"
    confdir.mkdir()
    host_marker = tmp_path / "host-ran"
    (confdir / "appliance.toml").write_text(
        '[shutdown]\ndry_run = true\n[[shutdown.host]]\nname = "nas"\naddress = "127.0.0.1"\nkey = "/k"\n'
        f'command = "touch {host_marker}"\n'
    )
    proc, marker, _, flag = start_monitor(tmp_path, f"MONITOR {nut.address()} 1 boss b primary")
    try:
        wait_for(lambda: logged_in(nut))
        set_status(nut, "OB DISCHRG LB")
        assert proc.wait(timeout=30) == 0
    finally:
        out = stop(proc)
    assert "plan: tier 0: nas: ssh root@127.0.0.1:22 'touch" in out
    assert "dry run: would shut down tier 0: nas" in out and "dry run: would run SHUTDOWNCMD" in out
    assert not marker.exists() and not host_marker.exists() and not flag.exists()


def test_unknown_ups_is_reported_once_and_the_monitor_keeps_running(nut: NutReference, tmp_path: Path) -> None:
    proc, marker, _, _ = start_monitor(tmp_path, f"MONITOR nosuchups@127.0.0.1:{nut.port} 1 mon m secondary")
    time.sleep(3)
    assert proc.poll() is None and not marker.exists()
    out = stop(proc)
    assert out.count("Unknown UPS") == 1, out


def test_stay_up_orders_the_others_down_keeps_running_and_cuts_the_power(nut: NutReference, tmp_path: Path) -> None:
    confdir = tmp_path / "monitor"
    confdir.mkdir()
    (confdir / "appliance.toml").write_text("[shutdown]\nstay_up = true\nkillpower = true\n")
    (confdir / "ups.dev").write_text("ups.status: OL\n")  # what the killpower goes through: our dummy-ups
    (confdir / "ups.conf").write_text("[ups]\n  driver = dummy-ups\n  port = ups.dev\n")
    proc, marker, _, flag = start_monitor(tmp_path, f"MONITOR {nut.address()} 1 boss b primary")
    try:
        wait_for(lambda: logged_in(nut))
        set_status(nut, "OB DISCHRG LB")
        wait_for(lambda: "FSD" in subprocess.run(["upsc", nut.address(), "ups.status"], capture_output=True,
                                                 text=True).stdout)  # fmt: skip
        time.sleep(3)
        assert proc.poll() is None  # still monitoring
        assert not marker.exists() and not flag.exists()  # no SHUTDOWNCMD, no POWERDOWNFLAG
    finally:
        out = stop(proc)
    assert "staying up" in out and "simulated shutdown of ups" in out, out
    assert out.count("Telling the UPS to cut its power") == 1


def test_malformed_files_stop_the_monitor_with_every_error_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "upsmon.conf").write_text("MONITOR ups@host 1 mon m primari\nPOLLFREQ often\n")
    (tmp_path / "appliance.toml").write_text("[shutdown]\ndry_run = maybe\n")
    env = {**os.environ, "NUT_CONFPATH": str(tmp_path), "NUT_ALTPIDPATH": str(tmp_path)}

    def monitor() -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "appliance", "monitor"]
        return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)

    result = monitor()
    assert result.returncode == 1
    assert f"{tmp_path / 'upsmon.conf'}:1" in result.stderr and f"{tmp_path / 'upsmon.conf'}:2" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "upsmon.conf").write_text("MONITOR ups@host 1 mon m primary\n")
    result = monitor()
    assert result.returncode == 1 and "appliance.toml:2" in result.stderr and "Traceback" not in result.stderr
