"""Harness for test_genericups_vs_nut.py: simulated modem lines under umockdev, NUT's genericups and ours side by side.

Runs with the SYSTEM python (it needs python3-gi and umockdev's typelib) under ``umockdev-wrapper``::

    umockdev-wrapper /usr/bin/python3 genericups_umockdev.py NUT_DRIVER OUR_DRIVER... -- TMPDIR TYPES
    umockdev-wrapper /usr/bin/python3 genericups_umockdev.py serve ttyS10      (for bench/contact.py)

For every UPS type, one fake tty ``/dev/ttyS<10+type>`` whose TIOCMGET/TIOCMSET/TIOCMBIS/TIOCMBIC are answered
here from one shared line state. Status: our driver runs for the whole type (event-driven) while the lines go
through all 16 combinations of CTS/DCD/RNG/DSR; for each combination NUT's driver reads them once (``-d 1``)
and ours must show the same ups.status on its socket; both must raise the same cable power lines. Shutdown:
each driver runs ``-k`` under strace from all lines low; their exit codes, the DTR/RTS left set and any BREAK
(TCSBRKP) must agree. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # noqa: E402

TIOCMGET, TIOCMBIS, TIOCMBIC, TIOCMSET = 0x5415, 0x5416, 0x5417, 0x5418
OUTPUTS = 0x002 | 0x004  # DTR, RTS
INPUTS = (0x020, 0x040, 0x080, 0x100)  # CTS, DCD, RNG, DSR


class ModemLines(UMockdev.IoctlBase):
    """The modem-control lines of one fake tty: inputs set by the harness, outputs by the drivers."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs = 0
        self.outputs = 0

    def do_handle_ioctl(self, client: UMockdev.IoctlClient) -> bool:
        request = client.get_request()
        if request == TIOCMGET:
            client.get_arg().resolve(0, 4).update(0, struct.pack("I", self.inputs | self.outputs))
        elif request in (TIOCMBIS, TIOCMBIC, TIOCMSET):
            value = struct.unpack("I", bytes(client.get_arg().resolve(0, 4).retrieve()))[0] & OUTPUTS
            if request == TIOCMBIS:
                self.outputs |= value
            elif request == TIOCMBIC:
                self.outputs &= ~value
            else:
                self.outputs = value
        else:
            return False  # termios and the rest: the backing pty answers (TIOCMIWAIT fails: ours then polls)
        client.complete(0, 0)
        return True


def socket_status(path: Path) -> str | None:
    """ups.status from a driver socket's DUMPALL, or None when the socket does not answer."""
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(2)
            conn.connect(str(path))
            conn.sendall(b"DUMPALL\n")
            data = b""
            while b"DUMPDONE" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode().splitlines():
        words = shlex.split(line)
        if words[:2] == ["SETINFO", "ups.status"]:
            return words[2]
    return None


def nut_status(nut: str, device: str, upstype: int, env: dict[str, str]) -> str | None:
    """One read by NUT's genericups (-d 1)."""
    argv = [nut, "-s", f"t{upstype}", "-x", f"port={device}", "-x", f"upstype={upstype}", "-d", "1", "-u", "root"]
    output = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20).stdout
    for line in output.splitlines():
        if line.startswith("ups.status: "):
            return line.split(": ", 1)[1]
    return None


def compare_status(nut: str, ours: list[str], tmp: Path, upstype: int, lines: ModemLines, env: dict[str, str]) -> dict:
    """Walk the 16 input combinations; NUT's reading against what our running driver shows."""
    device = f"/dev/ttyS{10 + upstype}"
    state = tmp / f"ours{upstype}"
    state.mkdir()
    lines.outputs = 0
    argv = [*ours, "-s", f"t{upstype}", "-x", f"port={device}", "-x", f"upstype={upstype}", "-x", "debounce=0"]
    log = (tmp / f"ours{upstype}.log").open("w")
    driver = subprocess.Popen(argv, env={**env, "NUT_STATEPATH": str(state)}, stdout=log, stderr=log)
    sock = state / f"genericups-t{upstype}"
    rows = []
    try:
        deadline = time.monotonic() + 20
        while socket_status(sock) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        cable_power = {"ours": lines.outputs}
        lines.outputs = 0
        nut_status(nut, device, upstype, env)
        cable_power["nut"], lines.outputs = lines.outputs, cable_power["ours"]
        for combination in range(16):
            lines.inputs = sum(bit for n, bit in enumerate(INPUTS) if combination >> n & 1)
            expected = nut_status(nut, device, upstype, env)
            seen = None
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                seen = socket_status(sock)
                if seen == expected:
                    break
                time.sleep(0.01)
            rows.append({"inputs": lines.inputs, "nut": expected, "ours": seen})
    finally:
        driver.terminate()
        driver.wait(10)
        log.close()
    return {"type": upstype, "status": rows, "cable_power": cable_power}


def killpower(argv: list[str], lines: ModemLines, tmp: Path, name: str, env: dict[str, str]) -> dict:
    """Run ``-k`` under strace from all lines low: exit code, DTR/RTS left, BREAKs sent."""
    lines.inputs = lines.outputs = 0
    trace = tmp / f"{name}.strace"
    strace = ["strace", "-f", "-qq", "-e", "trace=ioctl", "-e", "signal=none", "-o", str(trace)]
    result = subprocess.run([*strace, *argv], env=env, capture_output=True, text=True, timeout=60)
    breaks = [
        line.split("TCSBRKP, ", 1)[1].split(")")[0] for line in trace.read_text().splitlines() if "TCSBRKP" in line
    ]
    return {"rc": result.returncode, "outputs": lines.outputs, "breaks": breaks}


def compare_killpower(nut: str, ours: list[str], tmp: Path, upstype: int, lines: ModemLines, env: dict) -> dict:
    """NUT's -k and ours on the same fake tty."""
    common = ["-s", f"t{upstype}", "-x", f"port=/dev/ttyS{10 + upstype}", "-x", f"upstype={upstype}", "-k"]
    return {
        "type": upstype,
        "nut": killpower([nut, *common, "-u", "root"], lines, tmp, f"nut-k{upstype}", env),
        "ours": killpower([*ours, *common], lines, tmp, f"ours-k{upstype}", env),
    }


def serve(name: str) -> int:
    """``serve ttySNN``: one fake tty for a benchmark; prints UMOCKDEV_DIR, then takes ``INPUTS`` lines on stdin.

    Each line sets the input bits and is answered with the wall-clock time they changed.
    """
    testbed = UMockdev.Testbed.new()
    testbed.add_from_string(f"P: /devices/{name}\nN: {name}\nE: DEVNAME=/dev/{name}\nE: SUBSYSTEM=tty\nA: dev=4:99\n")
    lines = ModemLines()
    testbed.attach_ioctl(f"/dev/{name}", lines)
    print(testbed.get_root_dir(), flush=True)
    done = threading.Event()

    def commands() -> None:
        for line in sys.stdin:
            lines.inputs = int(line)
            print(f"{time.time():.6f}", flush=True)
        done.set()

    threading.Thread(target=commands, daemon=True).start()
    context = GLib.MainContext.default()
    while not done.is_set():
        context.iteration(False) or time.sleep(0.0002)
    return 0


def main(argv: list[str]) -> int:
    """See the module docstring."""
    if argv[0] == "serve":
        return serve(argv[1])
    split = argv.index("--")
    nut, ours = argv[0], argv[1:split]
    tmp, types = Path(argv[split + 1]), [int(t) for t in argv[split + 2].split(",")]
    testbed = UMockdev.Testbed.new()
    handlers = {}
    for upstype in types:
        name = f"ttyS{10 + upstype}"
        testbed.add_from_string(
            f"P: /devices/{name}\nN: {name}\nE: DEVNAME=/dev/{name}\nE: SUBSYSTEM=tty\nA: dev=4:{74 + upstype}\n"
        )
        handlers[upstype] = ModemLines()
        testbed.attach_ioctl(f"/dev/{name}", handlers[upstype])
    env = {**os.environ, "UMOCKDEV_DIR": testbed.get_root_dir(), "NUT_STATEPATH": str(tmp)}
    results: dict[str, list] = {}
    done = threading.Event()

    def scenario() -> None:
        try:
            with ThreadPoolExecutor(4) as pool:
                runs = [pool.submit(compare_status, nut, ours, tmp, t, handlers[t], env) for t in types]
                results["status"] = [run.result() for run in runs]
                # each type's lines are its own: the types' -k runs go side by side too
                runs = [pool.submit(compare_killpower, nut, ours, tmp, t, handlers[t], env) for t in types]
                results["killpower"] = [run.result() for run in runs]
        finally:
            done.set()

    worker = threading.Thread(target=scenario)
    worker.start()
    context = GLib.MainContext.default()
    while not done.is_set():
        context.iteration(False) or time.sleep(0.0005)
    worker.join()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
