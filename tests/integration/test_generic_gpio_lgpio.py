"""lgpio, gpiozero's backend for /dev/gpiochipN, imports in a daemon whose working directory is read-only.

Our units run with ProtectSystem=strict on a read-only root and ``/`` as working directory, where lgpio's own
import fails (it makes its notification FIFO in the working directory). The real lgpio wheel is imported in a
mount namespace where the working directory is a read-only bind mount.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# found, not imported: the import itself would make its FIFO in this process's working directory
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lgpio") is None,
    reason="lgpio publishes wheels for x86-64 and aarch64 up to CPython 3.12 only",
)

PROBE = """
import json, os, sys
from appliance.drivers.generic_gpio import import_lgpio
before = os.getcwd()
import_lgpio()
import lgpio
workdir = os.path.dirname(os.readlink(f"/proc/self/fd/{lgpio._notify_thread._file.fileno()}"))
print(json.dumps({"cwd_kept": os.getcwd() == before, "env_kept": "LG_WD" not in os.environ,
                  "listening": lgpio._notify_thread.is_alive(), "workdir": workdir,
                  "pipes": sorted(os.listdir(workdir))}))
"""


def run_in_read_only_cwd(directory: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python whose working directory is ``directory``, bind-mounted read-only."""
    shell = 'mount --bind -o ro "$0" "$0" && cd "$0" && exec "$1" -c "$2"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", shell, str(directory), sys.executable, code],
        capture_output=True,
        text=True,
        timeout=60,
        env={key: value for key, value in os.environ.items() if key != "LG_WD"},
    )


def test_lgpio_imports_with_a_read_only_working_directory(tmp_path: Path) -> None:
    plain = run_in_read_only_cwd(tmp_path, "import lgpio")
    assert plain.returncode != 0 and ".lgd-nfy" in plain.stderr  # what a unit on our image would hit
    probe = run_in_read_only_cwd(tmp_path, PROBE)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["cwd_kept"] and seen["env_kept"] and seen["listening"]
    assert seen["pipes"] == [".lgd-nfy0"]  # in the private directory, not in the working directory
    assert not Path(seen["workdir"]).exists()  # removed at exit
    assert list(tmp_path.iterdir()) == []
