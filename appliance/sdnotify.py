"""systemd's notify protocol, without a library: READY=1 once serving, WATCHDOG=1 while the event loop runs.

Units use ``Type=notify`` and ``WatchdogSec=``: systemd starts dependent units only after READY=1, and restarts
a daemon whose loop stops turning (no WATCHDOG=1 within WatchdogSec). Outside systemd (no ``$NOTIFY_SOCKET``)
everything here does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``READY=1``) to the service manager; False when not under systemd or it failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode(), address)
        return True
    except OSError as exc:
        log.warning("cannot notify systemd (%s): %s", state.split("=")[0], exc)
        return False


def watchdog_interval() -> float | None:
    """How often to ping: half of ``WatchdogSec`` (None when no watchdog is asked of this process)."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2e6, 0.05)
    except ValueError:
        return None


async def _keep_alive(interval: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def ready(status: str | None = None) -> asyncio.Task[None] | None:
    """Say READY=1 (with a STATUS= line) and start the watchdog pings; return their task, if any."""
    notify("READY=1" + (f"\nSTATUS={status}" if status else ""))
    interval = watchdog_interval()
    if interval is None:
        return None
    return asyncio.get_running_loop().create_task(_keep_alive(interval))


async def stopping(task: asyncio.Task[None] | None) -> None:
    """Say STOPPING=1 and stop the pings."""
    notify("STOPPING=1")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
