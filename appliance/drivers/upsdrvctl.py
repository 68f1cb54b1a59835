"""``appliance upsdrvctl``: start, stop or shut down the drivers of ups.conf (NUT 2.8.0 drivers/upsdrvctl.c).

    appliance upsdrvctl [-t] [-u USER] [-D] [-d] start|stop|shutdown [UPS]

- ``start`` launches each driver in the background (``-a UPS``) and waits until its socket appears, at most
  ``maxstartdelay`` seconds (global or per section). A driver we have in Python runs as ``appliance driver``
  (which itself retries the device ``maxretry`` times); any other one falls back to NUT's C driver of that name
  in ``$NUT_DRIVERPATH`` or /lib/nut, which is retried ``maxretry`` times, ``retrydelay`` apart, as NUT does.
- ``stop`` sends SIGTERM to each driver through its pid file and waits for it to go.
- ``shutdown`` runs each driver with ``-k`` in ``sdorder`` order (sdorder -1: never), waiting for each.
- ``-t`` prints what would be done; ``-u`` is passed to the drivers; ``-d`` passes our -D count on.

The exit status is 1 when any driver failed, as NUT's.
"""

from __future__ import annotations

import getopt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.drivers import driver_class
from appliance.drivers.runner import read_pid, signal_instance
from appliance.nutconf.diagnostics import ConfigError
from appliance.nutconf.paths import config_dir, state_dir
from appliance.nutconf.ups_conf import UpsConf, UpsSection, load_ups_conf

USAGE = "usage: appliance upsdrvctl [-t] [-u USER] [-D] [-d] start|stop|shutdown [UPS]"
STOP_WAIT = 10.0
NUT_DRIVER_PATH = "/lib/nut"


@dataclass
class Control:
    """The parsed command line."""

    command: str
    ups: str | None = None
    testing: bool = False
    user: str | None = None
    debug: int = 0
    pass_debug: bool = False


def parse_args(argv: list[str]) -> Control:
    """The command line into a :class:`Control`; raises ValueError with a message for people."""
    try:
        options, rest = getopt.getopt(argv, "htu:r:DdFB")
    except getopt.GetoptError as err:
        raise ValueError(f"{err}\n{USAGE}") from None
    if not rest or rest[0] not in ("start", "stop", "shutdown") or len(rest) > 2:
        raise ValueError(USAGE)
    control = Control(rest[0], rest[1] if len(rest) == 2 else None)
    for flag, value in options:
        if flag == "-h":
            raise ValueError(USAGE)
        if flag == "-t":
            control.testing = True
        elif flag == "-u":
            control.user = value
        elif flag == "-D":
            control.debug += 1
        elif flag == "-d":
            control.pass_debug = True
    return control


def driver_argv(section: UpsSection, control: Control, *extra: str) -> list[str] | None:
    """How to run this UPS's driver: ours if we have it, else NUT's C driver; None when neither exists."""
    flags = [*extra, "-a", section.name]
    if control.user:
        flags += ["-u", control.user]
    if control.pass_debug:
        flags += ["-D"] * control.debug
    if driver_class(section.driver) is not None:
        return [sys.executable, "-m", "appliance", "driver", section.driver, *flags]
    binary = Path(os.environ.get("NUT_DRIVERPATH") or NUT_DRIVER_PATH) / section.driver
    if os.access(binary, os.X_OK):
        return [str(binary), *flags]
    return None


class Controller:
    """Carries out one upsdrvctl command over the sections of ups.conf."""

    def __init__(self, conf: UpsConf, control: Control) -> None:
        self.conf = conf
        self.control = control
        statepath = None if os.environ.get("NUT_STATEPATH") else conf.statepath
        self.states = state_dir(statepath)
        self.pids = Path(os.environ.get("NUT_ALTPIDPATH") or self.states)
        self.failures = 0

    def sections(self) -> list[UpsSection]:
        """The UPSes to act on: the one named, or all in file order."""
        if self.control.ups is None:
            return list(self.conf.ups.values())
        section = self.conf.ups.get(self.control.ups)
        if section is None:
            raise ValueError(f"UPS {self.control.ups} not found in {self.conf.path}")
        return [section]

    def fail(self, message: str) -> None:
        """Report one failed driver."""
        print(message, file=sys.stderr)
        self.failures += 1

    def planned(self, section: UpsSection, what: str, *extra: str) -> list[str] | None:
        """The driver command to run, or None when there is none (a failure) or we only print it (-t)."""
        argv = driver_argv(section, self.control, *extra)
        if argv is None:
            self.fail(f"Can't {what} {section.name}: no driver named {section.driver}")
            return None
        if self.control.testing:
            print(f"exec: {' '.join(argv)}")
            return None
        return argv

    def start(self, section: UpsSection) -> None:
        """Launch one driver and wait for its socket."""
        argv = self.planned(section, "start")
        if argv is None:
            return
        python = argv[0] == sys.executable
        attempts = 1 if python else max(1, self.conf.maxretry)
        for attempt in range(attempts):
            if self._launch(section, argv):
                return
            if attempt + 1 < attempts:
                time.sleep(self.conf.retrydelay)
        self.fail(f"Driver failed to start (exit status=1): {section.name} ({section.driver})")

    def _launch(self, section: UpsSection, argv: list[str]) -> bool:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
        socket_path = self.states / f"{section.driver}-{section.name}"
        limit = section.maxstartdelay if section.maxstartdelay is not None else self.conf.maxstartdelay
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if socket_path.exists():
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
        proc.terminate()
        print(f"Startup timer elapsed, continuing... ({section.name})", file=sys.stderr)
        return False

    def stop(self, section: UpsSection) -> None:
        """Signal one driver to exit through its pid file and wait for it."""
        pid_file = self.pids / f"{section.driver}-{section.name}.pid"
        if self.control.testing:
            print(f"kill -TERM $(cat {pid_file})")
            return
        pid = read_pid(pid_file)
        if pid is None or not signal_instance(pid_file, signal.SIGTERM):
            self.fail(f"Can't stop {section.name}: no running driver found through {pid_file}")
            return
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.05)
        self.fail(f"Driver {section.name} did not stop within {STOP_WAIT:.0f} s")

    def shutdown(self) -> None:
        """Run every driver's killpower (-k), lowest sdorder first; sdorder -1 is skipped."""
        ordered = sorted((s for s in self.sections() if (s.sdorder or 0) >= 0), key=lambda s: s.sdorder or 0)
        for section in ordered:
            argv = self.planned(section, "shut down", "-k")
            if argv is None:
                continue
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, check=False)
            if result.returncode != 0:
                self.fail(f"Driver failed to shut down {section.name} (exit status={result.returncode})")


def main(argv: list[str]) -> int:
    """``appliance upsdrvctl``: see the module docstring."""
    try:
        control = parse_args(argv)
        conf = load_ups_conf(config_dir() / "ups.conf")
        controller = Controller(conf, control)
        if control.command == "shutdown":
            controller.shutdown()
        else:
            for section in controller.sections():
                getattr(controller, control.command)(section)
    except (ValueError, ConfigError) as err:
        print(err, file=sys.stderr)
        return 1
    return 1 if controller.failures else 0
