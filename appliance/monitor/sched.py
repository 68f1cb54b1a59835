"""upssched's timers inside the monitor: ``AT notifytype ups START-TIMER|CANCEL-TIMER|EXECUTE`` from upssched.conf.

NUT runs ``upssched`` as upsmon's NOTIFYCMD; it forks a daemon that holds the timers and talks to later calls
through a FIFO and a lock file. Here the monitor holds the timers itself when its NOTIFYCMD names upssched and
the config directory has an upssched.conf — the user's files unchanged, no FIFO, no second daemon, and a timer
cannot outlive or miss the monitor that started it.

Semantics of NUT 2.8.0's clients/upssched.c: rules are tried in file order and every match acts; a UPS name
matches exactly or as ``*``; the notify type case-insensitively. An expiring timer and ``EXECUTE cmd`` run
``CMDSCRIPT <name>`` through the shell; ``CANCEL-TIMER name cmd`` runs ``CMDSCRIPT <cmd>`` when no timer of that
name was running. Deliberate difference: NUT queues a second timer when START-TIMER names one already running
(both fire); here the running timer is kept and the repeat is logged, so a timer fires once per name.

:class:`Timers` is pure (the clock comes in as an argument); :class:`Scheduler` runs it on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.nutconf.upsmon_conf import UpsschedConf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedCommand:
    """One run of CMDSCRIPT: its argument, and the notice that led to it (for NOTIFYTYPE and UPSNAME)."""

    argument: str
    notify_type: str
    ups: str


@dataclass
class Timers:
    """The running timers of one upssched.conf: notices and the clock in, CMDSCRIPT runs out."""

    conf: UpsschedConf
    running: dict[str, tuple[float, SchedCommand]] = field(default_factory=dict)

    def notice(self, notify_type: str, ups: str, now: float) -> list[SchedCommand]:
        """Apply every AT rule matching ``notify_type`` on ``ups``; return the commands to run at once."""
        commands = []
        for rule in self.conf.rules:
            if not rule.matches(notify_type.upper(), ups):
                continue
            name = rule.args[0]
            if rule.action == "START-TIMER":
                if name in self.running:
                    log.info("timer %s already running: keeping it", name)
                    continue
                log.info("New timer: %s (%s seconds)", name, rule.args[1])
                self.running[name] = (now + int(rule.args[1]), SchedCommand(name, notify_type, ups))
            elif rule.action == "CANCEL-TIMER":
                if self.running.pop(name, None) is not None:
                    log.info("Cancelling timer: %s", name)
                elif len(rule.args) > 1:
                    commands.append(SchedCommand(rule.args[1], notify_type, ups))
            else:  # EXECUTE
                commands.append(SchedCommand(name, notify_type, ups))
        return commands

    def expire(self, now: float) -> list[SchedCommand]:
        """Remove and return the timers that are due at ``now``, earliest first."""
        due = sorted((deadline, name) for name, (deadline, _) in self.running.items() if deadline <= now)
        return [self.running.pop(name)[1] for _, name in due]

    def next_deadline(self) -> float | None:
        """When the next timer is due, or None when none is running."""
        return min((deadline for deadline, _ in self.running.values()), default=None)


class Scheduler:
    """:class:`Timers` on the running event loop; ``run`` is how a CMDSCRIPT command is carried out."""

    def __init__(self, conf: UpsschedConf, run: Callable[[list[str], dict[str, str]], None]) -> None:
        self.timers = Timers(conf)
        self.cmdscript = conf.cmdscript or ""
        self._run = run
        self._loop = asyncio.get_running_loop()
        self._wakeup: asyncio.TimerHandle | None = None

    def notice(self, notify_type: str, ups: str) -> None:
        """A notice with the EXEC flag: act on it now and re-arm the wake-up for the next timer."""
        self._execute(self.timers.notice(notify_type, ups, self._loop.time()))
        self._arm()

    def _arm(self) -> None:
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        deadline = self.timers.next_deadline()
        if deadline is not None:
            self._wakeup = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._wakeup = None
        self._execute(self.timers.expire(self._loop.time()))
        self._arm()

    def _execute(self, commands: list[SchedCommand]) -> None:
        for command in commands:
            log.info("Executing command: %s %s", self.cmdscript, command.argument)
            # NUT's system("CMDSCRIPT arg"): the shell splits the argument as NUT's does. It comes from
            # upssched.conf alone (root's file), never from the UPS or the network.
            self._run(
                ["/bin/sh", "-c", f"{self.cmdscript} {command.argument}"],
                {"NOTIFYTYPE": command.notify_type, "UPSNAME": command.ups},
            )

    def close(self) -> None:
        """Drop every pending timer (the monitor is stopping)."""
        if self._wakeup is not None:
            self._wakeup.cancel()
        self.timers.running.clear()
