"""upsd sheds a client that sends no complete request for the idle timeout (NUT: one minute)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.nutconf.upsd_conf import Listen
from appliance.server.listener import ServerConfig, UpsdServer


def test_idle_client_is_shed_and_an_active_one_is_kept(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        config = ServerConfig([Listen("127.0.0.1", 0)], [], {}, tmp_path, idle_timeout=0.4)
        server = await UpsdServer.start(config)
        port = server.bound[0][1]
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        idle_writer.write(b"VER")  # never completes a line
        active_reader, active_writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(6):
            active_writer.write(b"NETVER\n")
            assert await active_reader.readline() == b"1.3\n"
            await asyncio.sleep(0.15)
        await asyncio.sleep(0.1)
        idle_gone = await asyncio.wait_for(idle_reader.read(), 2)
        active_writer.write(b"NETVER\n")
        still_served = await active_reader.readline()
        await server.close()
        return idle_gone, still_served

    idle_gone, still_served = asyncio.run(scenario())
    assert idle_gone == b""
    assert still_served == b"1.3\n"
