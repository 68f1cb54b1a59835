"""The killpower hook (systemd/system-shutdown/appliance-killpower), run as systemd runs it at the end of a
shutdown: it cuts the UPS power only after a power-fail shutdown, i.e. when POWERDOWNFLAG was written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "systemd/system-shutdown/appliance-killpower"


def run_hook(confdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "NUT_CONFPATH": str(confdir),
        "NUT_STATEPATH": str(confdir),
        "NUT_ALTPIDPATH": str(confdir),
    }
    # systemd passes the kind of shutdown as $1
    return subprocess.run([str(HOOK), "poweroff"], env=env, capture_output=True, text=True, timeout=60)


def make_config(confdir: Path) -> Path:
    flag = confdir / "killpower"
    (confdir / "ups.dev").write_text("ups.status: OB LB\nups.delay.shutdown: 20\n")
    (confdir / "ups.conf").write_text("[ups]\n  driver = dummy-ups\n  port = ups.dev\n")
    (confdir / "upsmon.conf").write_text(
        f"MONITOR ups@localhost 1 boss b primary\nSHUTDOWNCMD /bin/true\nPOWERDOWNFLAG {flag}\n"
    )
    return flag


def test_no_flag_means_an_ordinary_shutdown_and_the_ups_is_left_alone(tmp_path: Path) -> None:
    make_config(tmp_path)
    result = run_hook(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cut the power" not in result.stderr and "shutdown" not in result.stderr.lower()


def test_flag_written_by_the_monitor_sends_killpower_through_the_driver(tmp_path: Path) -> None:
    flag = make_config(tmp_path)
    flag.write_text("upsmon-shutdown-file")  # what the monitor's executor writes (NUT's magic text)
    result = run_hook(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "POWERDOWNFLAG is set" in result.stderr
    assert "simulated shutdown of ups" in result.stderr  # dummy-ups's killpower ran


def test_a_flag_without_the_magic_text_is_not_trusted(tmp_path: Path) -> None:
    flag = make_config(tmp_path)
    flag.write_text("something else")
    result = run_hook(tmp_path)
    assert result.returncode == 0 and "simulated shutdown" not in result.stderr
