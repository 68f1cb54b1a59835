"""upsd's reply cache never serves an outdated answer: values, FSD, staleness and driver loss all show at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.nutconf.upsd_conf import Listen
from appliance.nutconf.upsd_users import parse_upsd_users
from appliance.server.listener import ServerConfig, UpsDefinition, UpsdServer


def test_cached_get_var_follows_every_change(tmp_path: Path) -> None:
    async def scenario() -> list[bytes]:
        driver_writers: list[asyncio.StreamWriter] = []

        async def driver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(b'SETINFO ups.status "OL"\nSETINFO battery.charge "100"\nDATAOK\nDUMPDONE\n')
            driver_writers.append(writer)
            while await reader.readline():
                pass

        drv = await asyncio.start_unix_server(driver, str(tmp_path / "dummy-ups-ups"))
        users, _ = parse_upsd_users("[admin]\n password = pw\n actions = FSD\n")
        config = ServerConfig([Listen("127.0.0.1", 0)], [UpsDefinition("ups", "dummy-ups")], users, tmp_path)
        server = await UpsdServer.start(config)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound[0][1])

        async def ask(line: bytes) -> bytes:
            writer.write(line)
            return await reader.readline()

        seen = []
        while await ask(b"GET VAR ups battery.charge\n") != b'VAR ups battery.charge "100"\n':
            await asyncio.sleep(0.05)
        seen.append(await ask(b"GET VAR ups battery.charge\n"))  # served from the cache now
        driver_writers[0].write(b'SETINFO battery.charge "42"\n')
        await asyncio.sleep(0.2)
        seen.append(await ask(b"GET VAR ups battery.charge\n"))
        seen.append(await ask(b"GET VAR ups ups.status\n"))
        seen.append(await ask(b"GET VAR ups ups.status\n"))
        for line in (b"USERNAME admin\n", b"PASSWORD pw\n", b"FSD ups\n"):
            await ask(line)
        seen.append(await ask(b"GET VAR ups ups.status\n"))
        driver_writers[0].write(b"DATASTALE\n")
        await asyncio.sleep(0.2)
        seen.append(await ask(b"GET VAR ups ups.status\n"))
        driver_writers[0].close()
        await asyncio.sleep(0.3)
        seen.append(await ask(b"GET VAR ups ups.status\n"))
        writer.close()
        await server.close()
        drv.close()
        return seen

    assert asyncio.run(scenario()) == [
        b'VAR ups battery.charge "100"\n',
        b'VAR ups battery.charge "42"\n',
        b'VAR ups ups.status "OL"\n',
        b'VAR ups ups.status "OL"\n',
        b'VAR ups ups.status "FSD OL"\n',
        b"ERR DATA-STALE\n",
        b"ERR DRIVER-NOT-CONNECTED\n",
    ]
