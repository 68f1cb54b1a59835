"""The one executor for every action the monitor takes: notify, POWERDOWNFLAG, SHUTDOWNCMD — with a dry run.

Notifications follow NUT's upsmon: SYSLOG logs the message; WALL sends it to logged-in users (``wall``); EXEC runs
``NOTIFYCMD "message"`` through the shell with ``NOTIFYTYPE`` and ``UPSNAME`` in the environment. Notifiers run in
the background, so a slow one never delays the monitor. In dry-run mode every action is logged, none is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from appliance.monitor.policy import Notice
from appliance.monitor.sched import Scheduler
from appliance.nutconf.upsmon_conf import UpsmonConf, UpsschedConf

log = logging.getLogger(__name__)

POWERDOWN_MAGIC = "upsmon-shutdown-file"  # what NUT writes, and what `upsmon -K` checks for


class Executor:
    """Carries out the policy's decisions for one upsmon.conf."""

    def __init__(self, conf: UpsmonConf, *, dry_run: bool = False, sched: UpsschedConf | None = None) -> None:
        self.conf = conf
        self.dry_run = dry_run
        self._tasks: set[asyncio.Task[None]] = set()
        # NOTIFYCMD upssched with an upssched.conf: its timers run here (see appliance.monitor.sched)
        self.scheduler = Scheduler(sched, self._dry if dry_run else self._background) if sched else None

    def notify(self, notice: Notice) -> None:
        """Send one notice through the channels NOTIFYFLAG gives its type."""
        flags = self.conf.flags(notice.kind)
        if "IGNORE" in flags:
            return
        message = self.conf.message(notice.kind, notice.ups)
        if "SYSLOG" in flags:
            log.warning("%s", message)
        if "EXEC" in flags and self.scheduler is not None:
            self.scheduler.notice(notice.kind, notice.ups)
            flags = flags - {"EXEC"}
        if self.dry_run:
            log.info("dry run: would notify %s (%s) via %s", notice.kind, message, "+".join(sorted(flags)))
            return
        if "WALL" in flags and shutil.which("wall"):
            self._background(["wall", message], {})
        if "EXEC" in flags and self.conf.notifycmd:
            env = {"NOTIFYTYPE": notice.kind, "UPSNAME": notice.ups}
            # NUT runs `NOTIFYCMD "message"` through the shell; passing the message as $1 gives the same single
            # argument without letting quotes or $ in a message reach the shell.
            self._background(["/bin/sh", "-c", f'{self.conf.notifycmd} "$1"', "notify", message], env)

    @staticmethod
    def _dry(argv: list[str], env: dict[str, str]) -> None:
        log.info("dry run: would run %s with %s", argv[-1], env)

    def _background(self, argv: list[str], env: dict[str, str]) -> None:
        async def run() -> None:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, env={**os.environ, **env}, stdin=asyncio.subprocess.DEVNULL
                )
                await proc.wait()
            except OSError as exc:
                log.error("notifier %s failed: %s", argv[0], exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for running notifiers (before the host goes down)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)

    def write_powerdown_flag(self) -> None:
        """Write POWERDOWNFLAG atomically, so the host's shutdown knows to cut the UPS power."""
        path = self.conf.powerdownflag
        if not path:
            return
        if self.dry_run:
            log.info("dry run: would write %s", path)
            return
        target = Path(path)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".powerdown-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(POWERDOWN_MAGIC)
            os.replace(temporary, target)
        except OSError as exc:
            log.error("cannot write POWERDOWNFLAG %s: %s", path, exc)
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    async def shutdown(self) -> int | None:
        """Wait FINALDELAY, then run SHUTDOWNCMD; return its exit status (None in a dry run or without one)."""
        await self.drain()
        await asyncio.sleep(self.conf.finaldelay)
        command = self.conf.shutdowncmd
        if not command:
            log.error("no SHUTDOWNCMD configured: this host cannot shut itself down")
            return None
        if self.dry_run:
            log.info("dry run: would run SHUTDOWNCMD %s", command)
            return None
        log.critical("Executing automatic power-fail shutdown: %s", command)
        proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", command, stdin=asyncio.subprocess.DEVNULL)
        status = await proc.wait()
        if status != 0:
            log.error("SHUTDOWNCMD exited with status %d", status)
        return status

    async def killpower(self) -> int | None:
        """Tell every UPS to cut its power (``appliance upsdrvctl shutdown``), as the killpower hook does."""
        if self.dry_run:
            log.info("dry run: would run appliance upsdrvctl shutdown")
            return None
        log.critical("Telling the UPS to cut its power: appliance upsdrvctl shutdown")
        try:
            proc = await asyncio.create_subprocess_exec(*KILLPOWER, stdin=asyncio.subprocess.DEVNULL)
        except OSError as exc:
            log.error("cannot run upsdrvctl shutdown: %s", exc)
            return None
        status = await proc.wait()
        if status != 0:
            log.error("upsdrvctl shutdown exited with status %d", status)
        return status


# what systemd/system-shutdown/appliance-killpower runs
KILLPOWER = (sys.executable, "-m", "appliance", "upsdrvctl", "shutdown")


def powerdown_flag_present(path: str | None) -> bool:
    """``upsmon -K``: True when POWERDOWNFLAG exists and carries NUT's magic text."""
    if not path:
        return False
    try:
        return Path(path).read_text().startswith(POWERDOWN_MAGIC)
    except OSError:
        return False
