"""Benchmark: our upsd against Debian's NUT 2.8.0 upsd, same dump, same driver, same load generator, one run.

Both servers read the very same Debian dummy-ups driver socket (a driver serves several clients), so the data
is identical. Measures GET VAR at 1/10/100 connections and LIST VAR at 1/10 (requests/s, p50/p99 latency),
then RSS idle and with 1000 idle connections, and prints ratios (ours / NUT; for latency and memory lower is
better).

    .venv/bin/python bench/upsd.py [--seconds 3] [--dump APC/...dev]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import LoadResult, build_native, hold_idle, run_load, run_native  # noqa: E402
from tests.nut_reference import DDL, free_port, start_nut_dummy  # noqa: E402

DEFAULT_DUMP = "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"
IDLE_CONNECTIONS = 1000
ROUNDS = 3


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_ours(statepath: Path, confdir: Path, port: int) -> subprocess.Popen[bytes]:
    """Start our upsd on ``port``, reading the driver sockets in ``statepath``."""
    confdir.mkdir(parents=True, exist_ok=True)
    (confdir / "ups.conf").write_text((statepath / "ups.conf").read_text())
    (confdir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nMAXCONN {IDLE_CONNECTIONS + 100}\n")
    (confdir / "upsd.users").write_text("")
    env = {**os.environ, "NUT_CONFPATH": str(confdir), "NUT_STATEPATH": str(statepath)}
    log = (confdir / "ours.log").open("wb")
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/appliance"), "upsd", "-F"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


async def wait_serving(port: int, timeout: float = 15.0) -> None:
    """Return once the server answers GET VAR with real data."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET VAR ups ups.status\n")
            line = await reader.readline()
            writer.close()
            if line.startswith(b"VAR") and b"WAIT" not in line:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"server on port {port} not serving after {timeout}s")


class ConstantReply(asyncio.Protocol):
    """The floor: answer every read with one fixed line."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b'VAR ups battery.charge "100"\n')  # type: ignore[attr-defined]


def start_floor(port: int) -> int:
    """Fork a process serving :class:`ConstantReply` on ``port``; return its pid."""
    pid = os.fork()
    if pid == 0:
        from appliance import eventloop

        async def serve() -> None:
            await asyncio.get_running_loop().create_server(ConstantReply, "127.0.0.1", port)
            await asyncio.Event().wait()

        eventloop.run(serve())
        os._exit(0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return pid
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("floor server did not start")


def pin_cores(*server_pids: int) -> None:
    """Load generator on the first core, servers on the last, so neither steals the other's CPU."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return
    os.sched_setaffinity(0, {cores[0]})
    for pid in server_pids:
        os.sched_setaffinity(pid, {cores[-1]})
    print(f"load generator on core {cores[0]}, servers on core {cores[-1]}")


def row(label: str, nut: LoadResult, ours: LoadResult) -> str:
    """One table row with ratios."""
    return (
        f"{label:<22} {nut.rate:>9.0f} {ours.rate:>9.0f} {ours.rate / nut.rate:>6.2f}x | "
        f"{nut.p50:>7.2f} {ours.p50:>7.2f} {nut.p50 / ours.p50:>6.1f}x | "
        f"{nut.p99:>7.2f} {ours.p99:>7.2f} {nut.p99 / ours.p99:>6.1f}x"
    )


async def measure(nut_port: int, our_port: int, floor_port: int, seconds: float, native: Path | None) -> list[str]:
    """Run every load case against both servers, alternating, and format the rows.

    ``native`` is the C load generator (used when given); otherwise the asyncio one drives both servers. Each
    GET VAR case also drives the Python floor (:class:`ConstantReply`), the most any Python server can reach.
    """

    async def load(port: int, request: str, conns: int) -> LoadResult:
        if native is not None:
            return await run_native(native, "127.0.0.1", port, request, conns, seconds)
        return await run_load("127.0.0.1", port, request, conns, seconds)

    cases = [
        ("GET VAR", "GET VAR ups battery.charge", 1),
        ("GET VAR", "GET VAR ups battery.charge", 10),
        ("GET VAR", "GET VAR ups battery.charge", 100),
        ("LIST VAR", "LIST VAR ups", 1),
        ("LIST VAR", "LIST VAR ups", 10),
    ]
    lines = [
        f"{'case':<22} {'NUT req/s':>9} {'ours':>9} {'ratio':>7} | "
        f"{'NUT p50':>7} {'ours':>7} {'faster':>7} | {'NUT p99':>7} {'ours':>7} {'faster':>7}   (ms)"
    ]
    for name, request, conns in cases:
        nut_runs, our_runs = [], []
        for _ in range(ROUNDS):  # alternate, so drifting machine load hits both servers alike
            nut_runs.append(await load(nut_port, request, conns))
            our_runs.append(await load(our_port, request, conns))
        nut_median = median_run(nut_runs)
        lines.append(row(f"{name} x{conns}", nut_median, median_run(our_runs)))
        if name == "GET VAR":
            floor = await load(floor_port, request, conns)
            ratio = floor.rate / nut_median.rate
            lines.append(f"{'  no-op Python floor':<22} {'':>9} {floor.rate:>9.0f} {ratio:>6.2f}x")
    return lines


def median_run(runs: list[LoadResult]) -> LoadResult:
    """The run with the median request rate."""
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


async def memory(nut_pid: int, our_pid: int, nut_port: int, our_port: int) -> list[str]:
    """RSS idle and with many idle connections held open on both servers."""
    idle = (rss_mb(nut_pid), rss_mb(our_pid))
    held = await hold_idle("127.0.0.1", nut_port, IDLE_CONNECTIONS)
    held += await hold_idle("127.0.0.1", our_port, IDLE_CONNECTIONS)
    await asyncio.sleep(0.5)
    loaded = (rss_mb(nut_pid), rss_mb(our_pid))
    for writer in held:
        writer.close()
    return [
        f"RSS idle (MiB)            NUT {idle[0]:6.1f}  ours {idle[1]:6.1f}  ratio {idle[1] / idle[0]:.2f}",
        f"RSS {IDLE_CONNECTIONS} idle conns (MiB) NUT {loaded[0]:6.1f}  ours {loaded[1]:6.1f}  "
        f"ratio {loaded[1] / loaded[0]:.2f}",
    ]


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each load run (3 runs per case)")
    parser.add_argument("--dump", default=DEFAULT_DUMP, help="device dump under the shared DDL")
    parser.add_argument("--python-loadgen", action="store_true", help="drive the servers with the asyncio generator")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        nut = start_nut_dummy(Path(tmp) / "nut", DDL / args.dump)
        ours, floor = None, None
        try:
            our_port = free_port()
            ours = start_ours(nut.workdir, Path(tmp) / "ours", our_port)
            asyncio.run(wait_serving(our_port))
            assert nut.upsd is not None
            floor_port = free_port()
            floor = start_floor(floor_port)
            pin_cores(nut.upsd.pid, ours.pid, floor)
            native = None if args.python_loadgen else build_native(Path(tmp))
            print(
                f"dump: {args.dump}; median of {ROUNDS} alternating runs of {args.seconds:.0f} s per case; "
                f"closed-loop clients, one request in flight; load generator: {'C' if native else 'asyncio'}"
            )
            lines = asyncio.run(measure(nut.port, our_port, floor_port, args.seconds, native))
            lines += asyncio.run(memory(nut.upsd.pid, ours.pid, nut.port, our_port))
            print("\n".join(lines))
        finally:
            if floor is not None:
                os.kill(floor, signal.SIGKILL)
                os.waitpid(floor, 0)
            if ours is not None:
                ours.terminate()
                ours.wait(timeout=10)
            nut.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
