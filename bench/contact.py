"""Benchmark: a modem-line edge to ``ups.status`` visible through upsd — our genericups against NUT's, same run.

One simulated serial port (umockdev, see tests/integration/genericups_umockdev.py) carries a type 1 cable
(APC 940-0095A/C: on battery when RNG is asserted). Both stacks watch the same lines at the same time:

- NUT: Debian's genericups 2.8.0 (reads the lines every pollinterval, 2 s by default) and Debian's upsd;
- ours: ``appliance run`` (our genericups, event-driven, and our upsd).

Each sample flips RNG (t0: the harness changed the line) and a client per upsd asks ``GET VAR ups ups.status``
in a tight loop until it sees the new status (t1). Note: umockdev cannot simulate TIOCMIWAIT, so here our driver
falls back to reading the lines every 10 ms; on a real port the wait returns at the edge. ``debounce`` is
``--debounce`` ms (default 0, to measure the path itself; the driver's default is 30).

    .venv/bin/python bench/contact.py [--samples 20] [--debounce 0]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.nut_reference import free_port, upsd_serves  # noqa: E402

HARNESS = ROOT / "tests" / "integration" / "genericups_umockdev.py"
TTY = "ttyS10"
RNG = 0x080
USERS = '[admin]\n  password = "secret"\n  actions = SET\n'


def write_config(confdir: Path, port: int, debounce: int | None) -> None:
    """ups.conf for one genericups UPS on the fake tty, upsd.conf on ``port``."""
    confdir.mkdir(parents=True)
    extra = f"  debounce = {debounce}\n" if debounce is not None else ""
    (confdir / "ups.conf").write_text(f"[ups]\n  driver = genericups\n  port = /dev/{TTY}\n  upstype = 1\n{extra}")
    (confdir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    (confdir / "upsd.users").write_text(USERS)
    for name in ("ups.conf", "upsd.conf", "upsd.users"):
        (confdir / name).chmod(0o600)


class StatusWatcher:
    """Asks one upsd for ups.status as fast as it answers; :meth:`wait_for` returns when a value is seen."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = self.sock.makefile("rb")

    def status(self) -> str:
        """One GET VAR round trip."""
        self.sock.sendall(b"GET VAR ups ups.status\n")
        return self.reader.readline().decode().split('"')[1]

    def wait_for(self, status: str, timeout: float = 10.0) -> float:
        """Wall-clock time at which ``status`` was first seen."""
        deadline = time.monotonic() + timeout
        while self.status() != status:
            if time.monotonic() > deadline:
                raise TimeoutError(f"upsd never showed {status!r}")
        return time.time()


def see(watcher: StatusWatcher, status: str, results: dict[str, float], name: str) -> None:
    """Thread body: record in ``results[name]`` when ``watcher`` shows ``status``."""
    results[name] = watcher.wait_for(status)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    """Run the benchmark and print p50/p99 for both stacks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--debounce", type=int, default=0)
    args = parser.parse_args()
    harness = subprocess.Popen(
        ["umockdev-wrapper", "/usr/bin/python3", str(HARNESS), "serve", TTY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert harness.stdin is not None and harness.stdout is not None
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        umockdev = {"UMOCKDEV_DIR": harness.stdout.readline().strip(), "LD_PRELOAD": "libumockdev-preload.so.0"}
        nut_dir, our_dir = Path(tmp) / "nut", Path(tmp) / "ours"
        nut_port, our_port = free_port(), free_port()
        write_config(nut_dir, nut_port, None)
        write_config(our_dir, our_port, args.debounce)
        nut_env = {**os.environ, "NUT_CONFPATH": str(nut_dir), "NUT_STATEPATH": str(nut_dir)}
        our_env = {**os.environ, "NUT_CONFPATH": str(our_dir), "NUT_STATEPATH": str(our_dir), **umockdev}
        try:
            log = (Path(tmp) / "bench.log").open("wb")
            spawn = lambda argv, env: processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log))  # noqa: E731
            spawn(["/lib/nut/genericups", "-a", "ups", "-u", "root", "-F"], {**nut_env, **umockdev})
            spawn(["/lib/nut/upsd", "-u", "root", "-F"], nut_env)
            spawn([sys.executable, "-m", "appliance", "run"], our_env)
            deadline = time.monotonic() + 30
            while not (upsd_serves(nut_port, ["ups"]) and upsd_serves(our_port, ["ups"])):
                if time.monotonic() > deadline:
                    raise RuntimeError((Path(tmp) / "bench.log").read_text())
                time.sleep(0.1)
            watchers = {"NUT genericups + upsd": StatusWatcher(nut_port), "ours": StatusWatcher(our_port)}
            delays: dict[str, list[float]] = {name: [] for name in watchers}
            for sample in range(args.samples):
                on_battery = sample % 2 == 0
                harness.stdin.write(f"{RNG if on_battery else 0}\n")
                harness.stdin.flush()
                changed = float(harness.stdout.readline())
                expected = "OB" if on_battery else "OL"
                results: dict[str, float] = {}
                threads = [
                    threading.Thread(target=see, args=(watcher, expected, results, name))
                    for name, watcher in watchers.items()
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                for name, seen in results.items():
                    delays[name].append((seen - changed) * 1000)
                time.sleep(random.uniform(0.0, 0.5))  # NUT's poll phase differs per sample
        finally:
            for proc in processes:
                proc.terminate()
                proc.wait(10)
            harness.stdin.close()
            harness.wait(10)
    print(f"edge on RNG -> ups.status through upsd, {args.samples} samples, debounce {args.debounce} ms")
    for name, values in delays.items():
        print(
            f"  {name:24} p50 {statistics.median(values):8.1f} ms   p99 {percentile(values, 0.99):8.1f} ms"
            f"   max {max(values):8.1f} ms"
        )
    ratio = statistics.median(delays["NUT genericups + upsd"]) / max(statistics.median(delays["ours"]), 1e-3)
    print(f"  ours is {ratio:.0f}x faster at p50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
