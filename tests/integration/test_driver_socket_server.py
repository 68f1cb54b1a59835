"""The driver end of the driver socket over a real Unix socket: dump, broadcast, commands, garbage, slow readers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from appliance.drivers.dstate_server import ComplaintLimiter, DriverSocketServer
from appliance.protocol.driver_socket import STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN, LineCodec
from appliance.state import DeviceState

TIMEOUT = 5.0


class Hooks:
    """A CommandHandler recording its calls."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self.calls: list[tuple[str, str, str | None]] = []

    async def instcmd(self, name: str, param: str | None) -> int:
        self.calls.append(("instcmd", name, param))
        if name == "boom":
            raise RuntimeError("driver bug")
        return STAT_HANDLED if name == "load.off" else STAT_UNKNOWN

    async def setvar(self, name: str, value: str) -> int:
        self.calls.append(("setvar", name, value))
        if name not in self.state:
            return STAT_INVALID
        self.state.set_info(name, value)
        return STAT_HANDLED


def sample_state() -> DeviceState:
    state = DeviceState()
    state.set_info("ups.status", "OL")
    state.set_info("ups.mfr", 'Odd "name" #1')
    state.set_flags("ups.mfr", ["RW", "STRING"])
    state.set_aux("ups.mfr", 32)
    state.add_command("load.off")
    state.set_data_ok(True)
    return state


class Peer:
    """A client of the socket with a line reader."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.codec = LineCodec()
        self.pending: list[tuple[str, ...]] = []

    @classmethod
    async def connect(cls, path: Path) -> Peer:
        return cls(*await asyncio.open_unix_connection(str(path)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def message(self) -> tuple[str, ...]:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            assert data, "connection closed"
            self.pending += [e for e in self.codec.receive(data) if isinstance(e, tuple)]
        return self.pending.pop(0)

    async def until(self, last: str) -> list[tuple[str, ...]]:
        messages = [await self.message()]
        while messages[-1][0] != last:
            messages.append(await self.message())
        return messages


def run(test: Callable[[DriverSocketServer, Hooks, Path], Awaitable[None]], tmp_path: Path, **kwargs: int) -> None:
    async def main() -> None:
        state = sample_state()
        hooks = Hooks(state)
        path = tmp_path / "dummy-ups-ups"
        server = DriverSocketServer(state, path, hooks, **kwargs)
        await server.start()
        try:
            await test(server, hooks, path)
        finally:
            await server.close()
        assert not path.exists()

    asyncio.run(main())


def test_socket_file_replaces_a_stale_one_with_mode_0660(tmp_path: Path) -> None:
    (tmp_path / "dummy-ups-ups").write_text("stale")

    async def check(server: DriverSocketServer, hooks: Hooks, path: Path) -> None:
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o660

    run(check, tmp_path)


def test_dumpall_is_nut_order_in_one_write(tmp_path: Path) -> None:
    async def check(server: DriverSocketServer, hooks: Hooks, path: Path) -> None:
        peer = await Peer.connect(path)
        await peer.send(b"DUMPALL\n")
        data = await asyncio.wait_for(peer.reader.read(65536), TIMEOUT)
        assert data == (
            b'SETINFO ups.mfr "Odd \\"name\\" \\#1"\nSETAUX ups.mfr 32\nSETFLAGS ups.mfr RW STRING\n'
            b'SETINFO ups.status "OL"\nADDCMD load.off\nDATAOK\nDUMPDONE\n'
        )

    run(check, tmp_path)


def test_changes_are_broadcast_except_to_clients_that_opted_out(tmp_path: Path) -> None:
    async def check(server: DriverSocketServer, hooks: Hooks, path: Path) -> None:
        listener, quiet, zero = [await Peer.connect(path) for _ in range(3)]
        await quiet.send(b"NOBROADCAST\nPING\n")
        await zero.send(b"BROADCAST 0\nPING\n")
        assert await quiet.message() == ("PONG",)
        assert await zero.message() == ("PONG",)
        server.state.set_info("ups.status", "OB LB")
        server.state.set_data_ok(False)
        assert await listener.message() == ("SETINFO", "ups.status", "OB LB")
        assert await listener.message() == ("DATASTALE",)
        await quiet.send(b"PING\n")
        assert await quiet.message() == ("PONG",)  # nothing was broadcast to it before the PONG
        await zero.send(b"BROADCAST\n")
        await zero.send(b"PING\n")
        assert await zero.message() == ("PONG",)
        server.state.set_info("ups.status", "OL")
        assert await zero.message() == ("SETINFO", "ups.status", "OL")

    run(check, tmp_path)


def test_ping_getpid_dumpstatus_and_logout(tmp_path: Path) -> None:
    async def check(server: DriverSocketServer, hooks: Hooks, path: Path) -> None:
        peer = await Peer.connect(path)
        await peer.send(b"ping\nGETPID\nDUMPSTATUS\nDUMPVALUE ups.mfr\nLOGOUT\n")
        assert await peer.message() == ("PONG",)
        assert await peer.message() == ("PID", str(os.getpid()))
        assert await peer.until("DUMPDONE") == [("SETINFO", "ups.status", "OL"), ("DATAOK",), ("DUMPDONE",)]
        dump = await peer.until("DUMPDONE")
        assert dump[:3] == [
            ("SETINFO", "ups.mfr", 'Odd "name" #1'),
            ("SETAUX", "ups.mfr", "32"),
            ("SETFLAGS", "ups.mfr", "RW", "STRING"),
        ]
        assert await peer.message() == ("OK", "Goodbye")
        assert await asyncio.wait_for(peer.reader.read(), TIMEOUT) == b""

    run(check, tmp_path)


def test_instcmd_and_set_reach_the_hooks_and_tracking_comes_back(tmp_path: Path) -> None:
    async def check(server: DriverSocketServer, hooks: Hooks, path: Path) -> None:
        peer = await Peer.connect(path)
        await peer.send(
            b"INSTCMD load.off TRACKING a-1\n"
            b"INSTCMD load.off 5 TRACKING a-2\n"
            b"INSTCMD nope TRACKING a-3\n"
            b"INSTCMD load.off\n"
            b"INSTCMD boom TRACKING a-4\n"
            b'SET ups.mfr "New \\"one\\"" TRACKING a-5\n'
            b'SET no.such "x" TRACKING a-6\n'
            b'SET ups.mfr "x" TRACKING\n'
            b"PING\n"
        )
        assert await peer.message() == ("TRACKING", "a-1", "0")
        assert await peer.message() == ("TRACKING", "a-2", "0")
        assert await peer.message() == ("TRACKING", "a-3", "1")
        assert await peer.message() == ("TRACKING", "a-4", "3")
        assert await peer.message() == ("SETINFO", "ups.mfr", 'New "one"')
        assert await peer.message() == ("TRACKING", "a-5", "0")
        assert await peer.message() == ("TRACKING", "a-6", "2")
        assert await peer.message() == ("PONG",)
        assert hooks.calls == [
            ("instcmd", "load.off", None),
            ("instcmd", "load.off", "5"),
            ("instcmd", "nope", None),
            ("instcmd", "load.off", None),
            ("instcmd", "boom", None),
            ("setvar", "ups.mfr", 'New "one"'),
            ("setvar", "no.such", "x"),
        ]

    run(check, tmp_path)


def test_garbage_overlong_and_binary_lines_are_skipped(tmp_path: Path) -> None:
    async def check(server: DriverSocketServer, hooks: Hooks, path: Path) -> None:
        peer = await Peer.connect(path)
        await peer.send(b'\x00\xff\x01 garbage\nBOGUS VERB\n"#"\nSET\nINSTCMD\n' + b"x" * 100_000 + b"\nPING\n")
        assert await peer.message() == ("PONG",)
        other = await Peer.connect(path)
        await other.send(b"DUMPALL\n")
        assert (await other.until("DUMPDONE"))[-1] == ("DUMPDONE",)

    run(check, tmp_path)


def test_a_client_that_does_not_read_is_dropped_and_others_keep_going(tmp_path: Path) -> None:
    async def check(server: DriverSocketServer, hooks: Hooks, path: Path) -> None:
        slow = await Peer.connect(path)
        fast = await Peer.connect(path)
        await fast.send(b"PING\n")
        assert await fast.message() == ("PONG",)
        received = 0

        async def drain() -> None:
            nonlocal received
            while data := await fast.reader.read(65536):
                received += len(data)

        drainer = asyncio.create_task(drain())
        filler = "x" * 400
        for i in range(20_000):
            server.state.set_info("ups.load", f"{i} {filler}")
            if i % 10 == 0:
                await asyncio.sleep(0)
            if server.clients == 1:
                break
        assert server.clients == 1, "the client that never reads was not dropped"
        server.state.set_info("ups.status", "OB")
        await asyncio.sleep(0.05)
        assert received > 0 and not drainer.done(), "the reading client must stay connected"
        drainer.cancel()
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(slow.reader.read(1 << 20), TIMEOUT):
                pass  # what was queued before the drop, then the end

    run(check, tmp_path, max_pending_output=65536)


def test_complaints_are_rate_limited() -> None:
    now = [0.0]
    limiter = ComplaintLimiter(10.0, clock=lambda: now[0])
    assert limiter.allow() == (True, 0)
    assert limiter.allow() == (False, 0)
    assert limiter.allow() == (False, 0)
    now[0] = 10.0
    assert limiter.allow() == (True, 2)
