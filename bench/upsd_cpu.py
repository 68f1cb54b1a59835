"""Benchmark: server CPU time per GET VAR on one connection — NUT's upsd, ours, and the floor of any Python server.

One blocking client sends GET VAR and waits for each reply; the servers' CPU time (utime+stime from /proc) is
divided by the number of requests. The "floor" is a uvloop Protocol that answers every read with a constant
line and does nothing else: no Python upsd can use less per request. This shows where the single-connection
GET VAR gap to NUT comes from.

    .venv/bin/python bench/upsd_cpu.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.upsd import DEFAULT_DUMP, start_floor, start_ours, wait_serving  # noqa: E402
from tests.nut_reference import DDL, free_port, start_nut_dummy  # noqa: E402

REQUEST = b"GET VAR ups battery.charge\n"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(port: int, pid: int, requests: int) -> tuple[float, float]:
    """Round trip and server CPU per request, in microseconds."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = sock.makefile("rb")
        before, start = cpu_seconds(pid), time.perf_counter()
        for _ in range(requests):
            sock.sendall(REQUEST)
            reader.readline()
        elapsed = time.perf_counter() - start
        return elapsed / requests * 1e6, (cpu_seconds(pid) - before) / requests * 1e6


def main() -> int:
    """Measure and print the three servers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nut = start_nut_dummy(Path(tmp) / "nut", DDL / DEFAULT_DUMP)
        our_port, floor_port = free_port(), free_port()
        ours = start_ours(nut.workdir, Path(tmp) / "ours", our_port)
        floor = start_floor(floor_port)
        try:
            asyncio.run(wait_serving(our_port))
            assert nut.upsd is not None
            rows = [
                ("NUT 2.8.0 upsd", nut.port, nut.upsd.pid),
                ("our upsd", our_port, ours.pid),
                ("Python floor", floor_port, floor),
            ]
            print(f"{'server':<16} {'round trip us':>14} {'server CPU us/req':>18}")
            results = {}
            for name, port, pid in rows:
                results[name] = drive(port, pid, args.requests)
                print(f"{name:<16} {results[name][0]:>14.1f} {results[name][1]:>18.1f}")
            ratio = results["NUT 2.8.0 upsd"][0] / results["our upsd"][0]
            print(f"single-connection GET VAR throughput, ours/NUT: {ratio:.2f}x")
        finally:
            os.kill(floor, 9)
            os.waitpid(floor, 0)
            ours.terminate()
            ours.wait(timeout=10)
            nut.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
