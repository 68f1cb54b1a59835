"""Prometheus ``/metrics`` for the UPSes upsd serves, in nut_exporter's naming, read live from upsd's replica.

- every numeric variable as a gauge ``network_ups_tools_<var with _>{ups="..."}`` (``battery.charge`` ->
  ``network_ups_tools_battery_charge``);
- the status flags as ``network_ups_tools_ups_status{ups="...",flag="OL"}`` 0/1 (one series per NUT flag);
- ``network_ups_tools_data_stale{ups}``, ``network_ups_tools_logins{ups}`` (upsmon logins) and
  ``network_ups_tools_clients`` (open NUT connections).

Served by a small asyncio HTTP listener in upsd's own loop, so a scrape reads a consistent replica without threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from appliance.appconf import MetricsConf
from appliance.server.listener import UpsdServer

log = logging.getLogger(__name__)

PREFIX = "network_ups_tools_"
STATUS_FLAGS = ("OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF", "OVER", "TRIM", "BOOST", "FSD")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


class UpsdCollector(Collector):
    """Reads the server's model at each scrape."""

    def __init__(self, server: UpsdServer) -> None:
        self.server = server

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Every family, one sample per UPS."""
        families: dict[str, GaugeMetricFamily] = {}

        def family(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            if name not in families:
                families[name] = GaugeMetricFamily(PREFIX + name, doc, labels=labels)
            return families[name]

        for entry in self.server.model.ups.values():
            link = entry.link
            family("data_stale", "1 when upsd would answer DATA-STALE", ["ups"]).add_metric(
                [entry.name], float(link.is_stale)
            )
            family("logins", "upsmon clients logged into the UPS", ["ups"]).add_metric([entry.name], entry.numlogins)
            status = set((link.state.get("ups.status") or "").split()) | ({"FSD"} if entry.fsd else set())
            flags = family("ups_status", "ups.status flags (1 when set)", ["ups", "flag"])
            for flag in STATUS_FLAGS:
                flags.add_metric([entry.name, flag], float(flag in status))
            for var in link.state.variables():
                if _NUMBER.match(var.value.strip()):
                    name = re.sub(r"[^a-zA-Z0-9_]", "_", var.name)
                    family(name, f"NUT variable {var.name}", ["ups"]).add_metric([entry.name], float(var.value))
        family("clients", "open NUT protocol connections", []).add_metric([], len(self.server.model.sessions))
        yield from families.values()


class MetricsServer:
    """``GET /metrics`` on the configured address; anything else is a 404."""

    def __init__(self, registry: CollectorRegistry, server: asyncio.Server) -> None:
        self.registry = registry
        self._server = server

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.sockets[0].getsockname()[1])

    @classmethod
    async def start(cls, conf: MetricsConf, upsd: UpsdServer) -> MetricsServer:
        """Listen; raise OSError if the address cannot be bound."""
        registry = CollectorRegistry()
        registry.register(UpsdCollector(upsd))
        holder: list[MetricsServer] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await holder[0]._handle(reader, writer)

        server = await asyncio.start_server(handle, conf.listen, conf.port)
        holder.append(cls(registry, server))
        log.info("metrics on http://%s:%d/metrics", conf.listen, holder[0].port)
        return holder[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)).strip():
                pass  # headers
            words = request.decode("latin-1").split()
            if len(words) >= 2 and words[0] == "GET" and words[1].split("?")[0] == "/metrics":
                status, body, kind = "200 OK", generate_latest(self.registry), "text/plain; version=0.0.4"
            else:
                status, body, kind = "404 Not Found", b"try /metrics\n", "text/plain"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        """Stop listening."""
        self._server.close()
        await self._server.wait_closed()
