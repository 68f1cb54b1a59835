"""Child-process supervision for ``appliance run``: start, restart with backoff, stop in order.

A driver that crashes is restarted (1 s, doubling to 30 s, reset after a minute of good running), so a
flaky device or a bug in one driver never takes the server or the other UPSes down. Stopping sends SIGTERM
and, after a grace period, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0


SERVICE_MANAGER_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@dataclass
class ChildSpec:
    """What to run: a display name, the argv, and extra environment."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)


class Child:
    """One supervised child process, restarted whenever it exits until :meth:`stop` is called."""

    def __init__(self, spec: ChildSpec, *, grace: float = 5.0) -> None:
        self.spec = spec
        self.grace = grace
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    @property
    def pid(self) -> int | None:
        """The running child's pid, if any."""
        return self.process.pid if self.process and self.process.returncode is None else None

    def start(self) -> None:
        """Begin supervising (returns at once)."""
        self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.spec.name}")

    async def wait_started(self) -> None:
        """Return once the first process has been spawned."""
        await self._started.wait()

    async def _supervise(self) -> None:
        delay = BACKOFF_FIRST
        env = {**os.environ, **self.spec.env}
        for name in SERVICE_MANAGER_ENV:  # systemd's messages are the supervisor's to send, not its children's
            env.pop(name, None)
        while not self._stopping:
            began = time.monotonic()
            try:
                self.process = await asyncio.create_subprocess_exec(*self.spec.argv, env=env)
            except OSError as exc:
                log.error("%s: cannot start %s: %s", self.spec.name, self.spec.argv[0], exc)
                self._started.set()
                code = None
            else:
                self._started.set()
                code = await self.process.wait()
            if self._stopping:
                return
            if time.monotonic() - began > HEALTHY_AFTER:
                delay = BACKOFF_FIRST
            log.warning("%s exited (status %s); restarting in %.0f s", self.spec.name, code, delay)
            self.restarts += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def stop(self) -> None:
        """Stop supervising and end the process: SIGTERM, then SIGKILL after the grace period."""
        self._stopping = True
        proc = self.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.grace)
            except TimeoutError:
                log.warning("%s did not stop in %.0f s; killing it", self.spec.name, self.grace)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
