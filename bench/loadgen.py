"""A NUT-protocol load generator: closed-loop clients on asyncio, one request in flight per connection.

Used by bench/upsd.py to drive our upsd and Debian's upsd with the very same code in the same run.
A request is done when its reply is complete: one line for GET, up to ``END LIST`` for LIST.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    """Throughput and latency of one load run."""

    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds (q in 0..100)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))
        return ordered[index] * 1000

    @property
    def p50(self) -> float:
        """Median latency, ms."""
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        """99th percentile latency, ms."""
        return self.percentile(99)


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
    return LoadResult(sum(counts), time.perf_counter() - start, latencies)


async def hold_idle(host: str, port: int, count: int) -> list[asyncio.StreamWriter]:
    """Open ``count`` idle connections (each proven alive by one VER) and return their writers."""
    writers = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"VER\n")
        await reader.readline()
        writers.append(writer)
    return writers
