"""Push wake-ups for the monitor: listen to the local driver's socket and poll upsd the moment the status moves.

NUT's upsmon learns of a power failure on its next poll (POLLFREQ, 5 s by default). On the appliance the driver
runs on the same host, and a driver socket (``<driver>-<ups>`` in the state directory) pushes every change to
every client connected to it. :class:`DriverWatch` is such a client: each ``SETINFO ups.status``, ``DATASTALE``
or ``DATAOK`` it reads wakes the monitor, which then polls upsd at once — upsd stays the one source of truth
(it adds FSD, and decides staleness), the socket only says *when* to ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from appliance.protocol.driver_socket import LineCodec, ProtocolError

log = logging.getLogger(__name__)

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
RETRY_DELAY = 2.0


def find_driver_socket(state_dir: Path, ups: str) -> Path | None:
    """The socket ``<driver>-<ups>`` of ``ups`` in ``state_dir``, if exactly one driver serves it."""
    candidates = [p for p in state_dir.glob(f"*-{ups}") if p.is_socket()]
    return candidates[0] if len(candidates) == 1 else None


class DriverWatch:
    """Reads one driver socket and calls ``wake(status)`` on every status change (status None: data went stale).

    Reconnects every RETRY_DELAY seconds while the socket is missing or the driver restarts; never raises.
    """

    def __init__(self, state_dir: Path, ups: str, wake: Callable[[str | None], None]) -> None:
        self.state_dir = state_dir
        self.ups = ups
        self.wake = wake
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            path = find_driver_socket(self.state_dir, self.ups)
            if path is not None:
                try:
                    await self._watch(path)
                except OSError as exc:
                    log.debug("driver socket %s: %s", path, exc)
            await asyncio.sleep(RETRY_DELAY)

    async def _watch(self, path: Path) -> None:
        reader, writer = await asyncio.open_unix_connection(str(path))
        log.info("watching driver socket %s for status changes", path)
        codec = LineCodec()
        try:
            while data := await reader.read(65536):
                for message in codec.receive(data):
                    if isinstance(message, ProtocolError) or not message:
                        continue
                    if message[0] == "SETINFO" and len(message) >= 3 and message[1] == "ups.status":
                        self.wake(message[2])
                    elif message[0] in ("DATASTALE", "DATAOK"):
                        self.wake(None)
        finally:
            writer.close()
