"""upsd's reply cache never serves an outdated answer: values, FSD, staleness and driver loss all show at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from appliance.nutconf.upsd_conf import Listen
from appliance.nutconf.upsd_users import parse_upsd_users
from appliance.server.listener import ServerConfig, UpsDefinition, UpsdServer

Ask = Callable[[bytes, bool], Awaitable[bytes]]
CHARGE = b"GET VAR ups battery.charge\n"
CHARGE_100 = b'VAR ups battery.charge "100"\n'


@asynccontextmanager
async def served(tmp_path: Path, maxage: int = 15) -> AsyncIterator[tuple[Ask, list[asyncio.StreamWriter]]]:
    """Our upsd on a driver socket that dumps OL / 100 % and then only listens (it never answers PING).

    Yields ``ask(line[, reply]) -> first reply line`` (once the cache holds the charge) and the driver's writers.
    """
    driver_writers: list[asyncio.StreamWriter] = []

    async def driver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b'SETINFO ups.status "OL"\nSETINFO battery.charge "100"\nDATAOK\nDUMPDONE\n')
        driver_writers.append(writer)
        while await reader.readline():
            pass

    drv = await asyncio.start_unix_server(driver, str(tmp_path / "dummy-ups-ups"))
    users, _ = parse_upsd_users("[admin]\n password = pw\n actions = FSD\n")
    config = ServerConfig([Listen("127.0.0.1", 0)], [UpsDefinition("ups", "dummy-ups")], users, tmp_path, maxage)
    server = await UpsdServer.start(config)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound[0][1])

    async def ask(line: bytes, reply: bool = True) -> bytes:
        writer.write(line)
        return await reader.readline() if reply else b""

    try:
        while await ask(CHARGE) != CHARGE_100:
            await asyncio.sleep(0.05)
        assert server.model.reply_cache
        yield ask, driver_writers
    finally:
        writer.close()
        await server.close()
        drv.close()


def test_cached_get_var_follows_every_change(tmp_path: Path) -> None:
    async def scenario() -> list[bytes]:
        async with served(tmp_path) as (ask, driver_writers):
            seen = [await ask(CHARGE)]  # served from the cache now
            driver_writers[0].write(b'SETINFO battery.charge "42"\n')
            await asyncio.sleep(0.2)
            seen.append(await ask(CHARGE))
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
            return seen

    assert asyncio.run(scenario()) == [
        CHARGE_100,
        b'VAR ups battery.charge "42"\n',
        b'VAR ups ups.status "OL"\n',
        b'VAR ups ups.status "OL"\n',
        b'VAR ups ups.status "FSD OL"\n',
        b"ERR DATA-STALE\n",
        b"ERR DRIVER-NOT-CONNECTED\n",
    ]


def test_cached_get_var_turns_stale_when_the_driver_falls_silent(tmp_path: Path) -> None:
    """Silence past MAXAGE comes with no change event: a cached reply must still give way to ERR DATA-STALE."""

    async def scenario() -> list[bytes]:
        async with served(tmp_path, maxage=1) as (ask, _writers):
            seen = [await ask(CHARGE)]  # served from the cache
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while (answer := await ask(CHARGE)) != b"ERR DATA-STALE\n" and loop.time() < deadline:
                await asyncio.sleep(0.05)
            return [*seen, answer]

    assert asyncio.run(scenario()) == [CHARGE_100, b"ERR DATA-STALE\n"]


def test_a_cached_request_does_not_jump_a_partial_line(tmp_path: Path) -> None:
    """Bytes that match a cached request but end a line the client had begun are that longer line, not a hit."""

    async def scenario() -> tuple[bytes, bytes]:
        async with served(tmp_path) as (ask, _writers):
            await ask(b"GET VAR ups ", False)
            await asyncio.sleep(0.1)  # its own read: the codec now holds a partial line
            split = await ask(CHARGE)
            return split, await ask(b"GET VAR ups " + CHARGE)

    split, whole = asyncio.run(scenario())
    assert split == whole and split.startswith(b"ERR ")
