"""upsd's end of the driver socket against Debian's real dummy-ups 2.8.0, plus NUT's staleness rules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from appliance.clients.nut_client import NutClient
from appliance.server.driver_link import DriverLink
from tests.nut_reference import DDL, DUMMY_UPS, HAVE_NUT, _spawn, start_nut_dummy

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's nut-server is not installed")

DUMP = DDL / "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_replica_matches_what_debian_upsd_serves_and_survives_a_driver_restart(tmp_path: Path) -> None:
    with start_nut_dummy(tmp_path, DUMP) as nut:
        with NutClient.connect(nut.host, nut.port) as client:
            expected = client.list_var("ups")
            commands = client.list_cmd("ups")
        events: list[tuple[str, ...]] = []

        async def scenario() -> None:
            link = DriverLink("ups", nut.workdir / "dummy-ups-ups", maxage=15)
            link.subscribe(lambda ups, message: events.append(message))
            link.start()
            await wait_for(lambda: link.dump_done)
            assert not link.is_stale
            assert {v.name: v.value for v in link.state.variables()} == expected
            assert link.state.commands() == sorted(commands)
            # TRACKING round trip through Debian's driver
            assert link.set_var("ups.delay.shutdown", "45", tracking_id="t-1")
            await wait_for(lambda: link.tracking.get("t-1") not in (None, "PENDING"))
            assert link.tracking["t-1"] == "SUCCESS"
            await wait_for(lambda: link.state.get("ups.delay.shutdown") == "45")
            # the driver goes away: stale at once; it comes back: a fresh dump
            nut.stop_driver()
            await wait_for(lambda: not link.connected)
            assert link.is_stale
            nut.drivers.clear()
            nut.drivers.append(_spawn([DUMMY_UPS, "-a", "ups", "-u", "root", "-F"], nut.env, tmp_path / "again.log"))
            await wait_for(lambda: link.dump_done and not link.is_stale, timeout=15)
            assert link.state.get("ups.mfr") == expected["ups.mfr"]
            await link.close()

        asyncio.run(scenario())
        assert ("CONNECTED",) in events and ("DISCONNECTED",) in events
        assert events.count(("DUMPDONE",)) == 2


def test_silent_driver_is_pinged_then_stale(tmp_path: Path) -> None:
    """A driver that dumps and then says nothing: PING after MAXAGE/3, stale after MAXAGE (sstate.c)."""
    received: list[bytes] = []
    now = [0.0]

    async def scenario() -> None:
        async def driver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(b'SETINFO ups.status "OL"\nDATAOK\nDUMPDONE\n')
            await writer.drain()
            while line := await reader.readline():
                received.append(line)

        path = tmp_path / "drv-ups"
        server = await asyncio.start_unix_server(driver, str(path))
        link = DriverLink("ups", path, maxage=0.6, clock=lambda: now[0])
        link.start()
        await wait_for(lambda: link.dump_done)
        assert not link.is_stale
        now[0] = 0.1
        await asyncio.sleep(0.3)
        assert received == []  # heard recently: no ping yet
        now[0] = 0.3
        await wait_for(lambda: received == [b"PING\n"])
        assert not link.is_stale
        now[0] = 0.7
        assert link.is_stale
        await link.close()
        server.close()

    asyncio.run(scenario())
