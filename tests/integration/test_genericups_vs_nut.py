"""Debian's genericups 2.8.0 and ours on the same simulated modem lines (umockdev), for every UPS type 0-23.

The harness (``genericups_umockdev.py``) needs the system python with python3-gi and umockdev; see its docstring.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

NUT_DRIVER = Path("/lib/nut/genericups")
SYSTEM_PYTHON = Path("/usr/bin/python3")
HARNESS = Path(__file__).with_name("genericups_umockdev.py")
NO_SHUTDOWN_TYPES = {8, 16, 17, 18}
BREAK_TYPES = {11, 13, 15, 20}


def _has_umockdev_gi() -> bool:
    probe = "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev"
    return SYSTEM_PYTHON.exists() and subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not (NUT_DRIVER.exists() and shutil.which("umockdev-wrapper") and shutil.which("strace") and _has_umockdev_gi()),
    reason="needs Debian's nut-server genericups, umockdev, gir1.2-umockdev-1.0, python3-gi and strace",
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("genericups")
    ours = [sys.executable, "-m", "appliance", "driver", "genericups"]
    argv = ["umockdev-wrapper", str(SYSTEM_PYTHON), str(HARNESS), str(NUT_DRIVER), *ours]
    argv += ["--", str(tmp), ",".join(str(t) for t in range(24))]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2])
    assert run.returncode == 0, run.stderr[-3000:]
    data: dict[str, Any] = json.loads(run.stdout)
    return data


@pytest.mark.parametrize("upstype", range(24))
def test_status_agrees_for_every_line_combination(results: dict[str, Any], upstype: int) -> None:
    run = results["status"][upstype]
    assert run["type"] == upstype
    assert all(row["nut"] for row in run["status"]), "NUT's driver reported no status"
    assert [row["ours"] for row in run["status"]] == [row["nut"] for row in run["status"]]
    assert run["cable_power"]["ours"] == run["cable_power"]["nut"]


@pytest.mark.parametrize("upstype", range(24))
def test_killpower_sets_the_same_lines(results: dict[str, Any], upstype: int) -> None:
    run = results["killpower"][upstype]
    assert run["ours"] == run["nut"]
    assert (run["nut"]["rc"] != 0) == (upstype in NO_SHUTDOWN_TYPES)
    assert bool(run["nut"]["breaks"]) == (upstype in BREAK_TYPES)
