"""A NUT-protocol load generator: closed-loop clients, one request in flight per connection.

Two engines with the same loop: asyncio (:func:`run_load`) and bench/loadgen.c (:func:`run_native`), which
bench/upsd.py prefers because a Python generator saturates its own core before a C server does.

Used by bench/upsd.py to drive our upsd and Debian's upsd with the very same code in the same run.
A request is done when its reply is complete: one line for GET, up to ``END LIST`` for LIST.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LoadResult:
    """Throughput and latency of one load run."""

    requests: int
    seconds: float
    p50: float  # median latency, ms
    p99: float  # 99th percentile latency, ms

    @property
    def rate(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(latencies: list[float], q: float) -> float:
    """Latency percentile in milliseconds (q in 0..100) of latencies in seconds."""
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


async def _read_reply(reader: asyncio.StreamReader, is_list: bool) -> None:
    line = await reader.readline()
    if not line:
        raise ConnectionError("server closed the connection")
    if not is_list or not line.startswith(b"BEGIN"):
        return
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection mid-list")
        if line.startswith(b"END"):
            return


async def _client(host: str, port: int, request: bytes, deadline: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    is_list = request.upper().startswith(b"LIST")
    done = 0
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            await _read_reply(reader, is_list)
            latencies.append(time.perf_counter() - start)
            done += 1
    finally:
        writer.close()
    return done


async def run_load(host: str, port: int, request: str, connections: int, seconds: float) -> LoadResult:
    """Run ``connections`` closed-loop clients sending ``request`` for ``seconds``; return what they measured."""
    latencies: list[float] = []
    payload = request.rstrip("\n").encode() + b"\n"
    start = time.perf_counter()
    deadline = start + seconds
    counts = await asyncio.gather(*(_client(host, port, payload, deadline, latencies) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    return LoadResult(sum(counts), elapsed, percentile(latencies, 50), percentile(latencies, 99))


def build_native(workdir: Path) -> Path | None:
    """Compile bench/loadgen.c into ``workdir``; None when no C compiler is there."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    binary = workdir / "loadgen"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(Path(__file__).with_name("loadgen.c"))], check=True)
    return binary


async def run_native(binary: Path, host: str, port: int, request: str, connections: int, seconds: float) -> LoadResult:
    """The same closed loop as :func:`run_load`, run by the C generator."""
    proc = await asyncio.create_subprocess_exec(
        str(binary), host, str(port), request, str(connections), str(seconds), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed against port {port} (exit {proc.returncode})")
    requests, elapsed, p50, p99 = out.split()
    return LoadResult(int(requests), float(elapsed), float(p50), float(p99))


async def hold_idle(host: str, port: int, count: int) -> list[asyncio.StreamWriter]:
    """Open ``count`` idle connections (each proven alive by one VER) and return their writers."""
    writers = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"VER\n")
        await reader.readline()
        writers.append(writer)
    return writers
