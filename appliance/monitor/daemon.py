"""``appliance monitor``: NUT's upsmon — primary or secondary per MONITOR line, a client of any upsd.

    appliance monitor [-D] [-F] [-B] [-K] [-c fsd|stop|reload] [-u USER] [--dry-run]

Each MONITOR line gets its own connection: USERNAME, PASSWORD, LOGIN (and PRIMARY for a primary), then
``GET VAR <ups> ups.status`` every POLLFREQ seconds (POLLFREQALERT while on battery). Results feed the pure
:class:`~appliance.monitor.policy.Policy`; its decisions go to the :class:`~appliance.monitor.executor.Executor`.

On shutdown a primary sets FSD on its UPSes, waits until the secondaries have logged out (NUMLOGINS down to its
own login) or HOSTSYNC has passed, writes POWERDOWNFLAG, then runs SHUTDOWNCMD; a secondary runs SHUTDOWNCMD.
``-K`` exits 0 when POWERDOWNFLAG is present (for the host's shutdown scripts), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from appliance import eventloop, sdnotify
from appliance.appconf import AppConf, load_appconf
from appliance.clients.nut_client import AsyncNutClient, NutError
from appliance.monitor.executor import Executor, powerdown_flag_present
from appliance.monitor.hosts import describe_plan, shut_down_hosts
from appliance.monitor.policy import Decision, Notice, Policy
from appliance.monitor.push import LOCAL_HOSTS, DriverWatch
from appliance.nutconf.diagnostics import ConfigError
from appliance.nutconf.paths import config_dir, state_dir
from appliance.nutconf.upsmon_conf import Monitor, UpsmonConf, UpsschedConf, load_upsmon_conf, load_upssched_conf

log = logging.getLogger(__name__)

PUSH_CATCH_UP = 0.5  # seconds to wait for upsd to report a status the driver has already pushed


class UpsLink:
    """One MONITOR line's connection to its upsd, reconnecting on the next poll after a failure."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.client: AsyncNutClient | None = None
        self._reported: str | None = None

    async def _connect(self) -> AsyncNutClient:
        m = self.monitor
        client = await AsyncNutClient.connect(m.host, m.port)
        try:
            await client.username(m.user)
            await client.password(m.password)
            await client.login(m.ups)
            if m.is_primary:
                try:
                    await client.primary(m.ups)
                except NutError:  # servers before NUT 2.8.0 only know MASTER
                    await client.request("MASTER", m.ups)
        except NutError:
            await client.close()
            raise
        log.info("Logged into UPS %s", m.system)
        return client

    async def poll(self) -> str | None:
        """ups.status, or None when the server cannot be reached or refuses (the reason is logged once)."""
        try:
            if self.client is None:
                self.client = await self._connect()
            status = await self.client.get_var(self.monitor.ups, "ups.status")
        except (NutError, OSError) as exc:
            self._report(f"Poll UPS [{self.monitor.system}] failed - {exc}")
            await self.drop()
            return None
        self._reported = None
        return str(status)

    def _report(self, message: str) -> None:
        if message != self._reported:
            log.error("%s", message)
            self._reported = message

    async def drop(self) -> None:
        """Close the connection (the next poll reconnects)."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None

    async def set_fsd(self) -> bool:
        """Raise FSD on the UPS (primary only)."""
        try:
            if self.client is None:
                self.client = await self._connect()
            await self.client.fsd(self.monitor.ups)
        except (NutError, OSError) as exc:
            log.error("Can't set FSD on UPS [%s]: %s", self.monitor.system, exc)
            return False
        log.warning("Set FSD on UPS [%s]", self.monitor.system)
        return True

    async def secondaries_gone(self) -> bool:
        """True when only this monitor is still logged into the UPS."""
        try:
            if self.client is None:
                self.client = await self._connect()
            return int(await self.client.get_numlogins(self.monitor.ups)) <= 1
        except (NutError, OSError, ValueError):
            return True  # nothing more to wait for if the server is gone


class UpsMonitor:
    """The running monitor: links, policy, executor, the poll loop and the push wake-ups."""

    def __init__(
        self,
        conf: UpsmonConf,
        executor: Executor,
        *,
        push_state_dir: Path | None = None,
        appconf: AppConf | None = None,
    ) -> None:
        self.conf = conf
        self.executor = executor
        self.appconf = appconf or AppConf("")
        self.links = {m.system: UpsLink(m) for m in conf.monitors}
        self.loop = asyncio.get_running_loop()
        self.policy = Policy(conf, self.loop.time())
        self.stop = asyncio.Event()
        self.forced = False
        self.reload_requested = False
        self._woken = asyncio.Event()
        self._expected: dict[str, str] = {}  # system -> status its driver pushed, until upsd reports it
        self.watches = [
            DriverWatch(push_state_dir, m.ups, lambda status, system=m.system: self.wake(system, status))
            for m in conf.monitors
            if push_state_dir is not None and m.host in LOCAL_HOSTS
        ]

    def wake(self, system: str, status: str | None = None) -> None:
        """Poll now (a driver pushed ``status`` for ``system``, or a signal asked for attention)."""
        if status is not None:
            self._expected[system] = status
        self._woken.set()

    async def run(self) -> int:
        """Poll until stopped or until the host has been shut down; return the exit status.

        With stay_up, a finished shutdown of the others leaves the monitor running: the policy does not trigger
        twice, and notices keep coming.
        """
        for watch in self.watches:
            watch.start()
        try:
            while not self.stop.is_set():
                if self.reload_requested:
                    self.reload_requested = False
                    await self.reload()
                if await self._poll_all():
                    return 0
                await self._sleep()
            return 0
        finally:
            for watch in self.watches:
                await watch.close()
            for link in self.links.values():
                await link.drop()
            if self.executor.scheduler is not None:
                self.executor.scheduler.close()

    async def _poll_all(self) -> bool:
        """Poll every UPS once and act; True when the host has been shut down."""
        for system, link in self.links.items():
            status = await link.poll()
            # upsd may not have read the driver's push yet: ask again briefly until it reports the pushed status
            expected = self._expected.pop(system, None)
            deadline = self.loop.time() + PUSH_CATCH_UP
            while status is not None and expected is not None and status != expected and self.loop.time() < deadline:
                await asyncio.sleep(0.01)
                status = await link.poll()
            if await self._act(self.policy.observe(system, status, self.loop.time())):
                return not self.appconf.stay_up
        return await self._act(self.policy.tick(self.loop.time())) and not self.appconf.stay_up

    async def _sleep(self) -> None:
        """Wait POLLFREQ (POLLFREQALERT on battery), or less if woken or stopped."""
        on_battery = any("OB" in t.flags for t in self.policy.ups.values())
        delay = self.conf.pollfreqalert if on_battery else self.conf.pollfreq
        stop, woken = self.loop.create_task(self.stop.wait()), self.loop.create_task(self._woken.wait())
        await asyncio.wait([stop, woken], timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        woken.cancel()
        self._woken.clear()

    async def reload(self) -> None:
        """SIGHUP: read upsmon.conf again; keep the running configuration if the new one has errors."""
        try:
            conf = load_upsmon_conf(self.conf.path)
        except ConfigError as exc:
            log.error("reload: keeping the running configuration: %s", exc)
            return
        for system in set(self.links) - {m.system for m in conf.monitors}:
            await self.links.pop(system).drop()
        for monitor in conf.monitors:
            link = self.links.get(monitor.system)
            if link is None or link.monitor != monitor:
                if link is not None:
                    await link.drop()
                self.links[monitor.system] = UpsLink(monitor)
        self.conf = self.executor.conf = conf
        self.policy.reconfigure(conf)
        log.info("reloaded %s: %d UPS monitored", conf.path, len(conf.monitors))

    async def _act(self, decision: Decision) -> bool:
        for notice in decision.notices:
            if notice.kind != "SHUTDOWN":
                self.executor.notify(notice)
        for system in decision.set_fsd:
            await self.links[system].set_fsd()
        if decision.shutdown or self.forced:
            self.forced = False
            await self.shutdown()
            return True
        return False

    async def shutdown(self) -> None:
        """NUT's forceshutdown: FSD and HOSTSYNC wait on a primary, POWERDOWNFLAG, SHUTDOWN notice, SHUTDOWNCMD."""
        primaries = [link for link in self.links.values() if link.monitor.is_primary]
        if primaries:
            for link in primaries:
                await link.set_fsd()
            deadline = self.loop.time() + self.conf.hostsync
            while self.loop.time() < deadline:
                if all([await link.secondaries_gone() for link in primaries]):
                    break
                await asyncio.sleep(0.25)
            else:
                log.warning("Timeout waiting for secondaries to log out (HOSTSYNC %ds)", self.conf.hostsync)
            if self.appconf.hosts:
                results = await shut_down_hosts(self.appconf.hosts, dry_run=self.executor.dry_run)
                failed = [r.name for r in results if not r.ok]
                if failed:
                    log.error("hosts not confirmed down: %s (going on: the UPS power is cut in the end)", failed)
            if self.appconf.stay_up:
                await self._stay_up()
                return
            self.executor.write_powerdown_flag()
        self.executor.notify(Notice("SHUTDOWN", ""))
        for link in self.links.values():
            await link.drop()
        await self.executor.shutdown()

    async def _stay_up(self) -> None:
        """appliance.toml's stay_up: the others are down; keep this host up (and cut the UPS power if asked)."""
        log.warning("every other host has been ordered down; staying up (stay_up in %s)", self.appconf.path)
        if self.appconf.killpower:
            await self.executor.killpower()


def pid_file() -> Path:
    """upsmon's pid file: $NUT_ALTPIDPATH, else the state directory."""
    base = os.environ.get("NUT_ALTPIDPATH")
    return (Path(base) if base else state_dir()) / "upsmon.pid"


def sched_conf_for(conf: UpsmonConf, directory: Path) -> UpsschedConf | None:
    """upssched.conf when NOTIFYCMD is NUT's upssched and the file is beside upsmon.conf (raises ConfigError)."""
    command = (conf.notifycmd or "").split()
    if not command or Path(command[0]).name != "upssched" or not (directory / "upssched.conf").exists():
        return None
    return load_upssched_conf(directory / "upssched.conf")


async def run_monitor(
    conf: UpsmonConf, dry_run: bool, sched: UpsschedConf | None = None, appconf: AppConf | None = None
) -> int:
    """Run the monitor with signal handling: SIGUSR1 = forced shutdown (NUT's `upsmon -c fsd`), SIGHUP = reload."""
    executor = Executor(conf, dry_run=dry_run, sched=sched)
    monitor = UpsMonitor(conf, executor, push_state_dir=state_dir(), appconf=appconf)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, monitor.stop.set)
    loop.add_signal_handler(signal.SIGINT, monitor.stop.set)

    def force() -> None:
        log.warning("Forced shutdown requested (-c fsd)")
        monitor.forced = True
        monitor.wake("")

    def reload() -> None:
        monitor.reload_requested = True
        monitor.wake("")

    loop.add_signal_handler(signal.SIGHUP, reload)

    loop.add_signal_handler(signal.SIGUSR1, force)
    watchdog = sdnotify.ready(f"monitoring {len(conf.monitors)} UPS")
    try:
        return await monitor.run()
    finally:
        await sdnotify.stopping(watchdog)


def signal_running(command: str) -> int:
    """``-c fsd|stop|reload``: signal the running monitor through its pid file."""
    signals = {"fsd": signal.SIGUSR1, "stop": signal.SIGTERM, "reload": signal.SIGHUP}
    if command not in signals:
        print(f"Error: unknown -c command '{command}' (use fsd, stop or reload)", file=sys.stderr)
        return 1
    try:
        os.kill(int(pid_file().read_text().strip()), signals[command])
    except (OSError, ValueError) as exc:
        print(f"Error: can't signal upsmon through {pid_file()}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    """Parse NUT upsmon's flags and run; see the module docstring."""
    parser = argparse.ArgumentParser(prog="appliance monitor", description=__doc__.splitlines()[0])
    parser.add_argument("-c", dest="command", help="send fsd, stop or reload to the running monitor")
    parser.add_argument("-D", action="count", default=0, help="debug output (repeatable)")
    parser.add_argument("-F", action="store_true", help="stay in the foreground (the default)")
    parser.add_argument("-B", action="store_true", help="accepted for compatibility")
    parser.add_argument("-K", action="store_true", help="exit 0 if POWERDOWNFLAG is present, 1 if not")
    parser.add_argument("-u", dest="user", help="accepted for compatibility (run under systemd's User=)")
    parser.add_argument("--dry-run", action="store_true", help="log every action instead of doing it")
    parser.add_argument("--config-dir", help="directory of upsmon.conf (default: $NUT_CONFPATH or /etc/nut)")
    args = parser.parse_args(argv)
    if args.command:
        return signal_running(args.command)
    logging.basicConfig(
        level=logging.DEBUG if args.D else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    directory = config_dir(args.config_dir)
    try:
        conf = load_upsmon_conf(directory / "upsmon.conf")
        sched = sched_conf_for(conf, directory)
        appconf = load_appconf(directory)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.K:
        return 0 if powerdown_flag_present(conf.powerdownflag) else 1
    if not conf.monitors:
        print("Fatal error: no MONITOR lines in upsmon.conf", file=sys.stderr)
        return 1
    with contextlib.suppress(OSError):
        pid_file().write_text(f"{os.getpid()}\n")
    dry_run = args.dry_run or appconf.dry_run
    if dry_run:
        for line in describe_plan(appconf.hosts):
            log.info("plan: %s", line)
    return eventloop.run(run_monitor(conf, dry_run, sched, appconf))
