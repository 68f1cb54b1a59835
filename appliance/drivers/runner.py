"""The driver runtime (NUT's drivers/main.c): ``appliance driver [DRIVER] -a UPS`` and friends.

Command line, as NUT's drivers take it::

    -a UPS          use the [UPS] section of ups.conf (in $NUT_CONFPATH, else /etc/nut)
    -s UPS          configure from the command line only (-x port=... is then required)
    -x KEY[=VALUE]  a driver option or flag (after -a it overrides ups.conf)
    -i SECONDS      poll interval            -D  more debugging (repeatable)      -q  less logging
    -F / -B         foreground (the default) / background (accepted; we stay in the foreground)
    -u USER         run as USER (when started as root)        -g GROUP  accepted
    -k              killpower: run the driver's shutdown and exit (0 on success)
    -d COUNT        print the data after COUNT updates and exit     -L  list the driver's options
    -c exit|reload  signal the running instance through its pid file (NUT 2.8.1+)   -V  version   -h help

``DRIVER`` names the driver; with -a it defaults to the section's ``driver`` and must match it (NUT's binaries
know their own name). Environment: NUT_CONFPATH, NUT_STATEPATH (socket ``<driver>-<ups>``), NUT_ALTPIDPATH
(pid file ``<driver>-<ups>.pid``, else the state path).

What main.c does and we do too: ``override.*`` (fixed for good) and ``default.*`` (until the driver says
otherwise) from ups.conf; driver.name / driver.version / driver.version.internal / driver.parameter.* /
driver.flag.* / device.type; device.mfr/model/serial copied from ups.* once the device is identified; a poll
every pollinterval. We add recovery: a lost device is reported once, the data marked stale and the device
reopened with a growing delay (retrydelay doubling to a minute) without the process ever exiting. At start the
device is tried ``maxretry`` times, ``retrydelay`` apart, before giving up (what upsdrvctl does for NUT).

Deliberate differences: the pid file is written in the foreground too (NUT writes it only when backgrounding,
and ``upsdrvctl stop``/``-c`` need it); without ``-u`` a root driver stays root (NUT drops to its build user);
driver.version is this appliance's version, not NUT's.
"""

from __future__ import annotations

import asyncio
import contextlib
import getopt
import logging
import os
import pwd
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance import __version__, sdnotify
from appliance.drivers import DRIVERS, driver_class
from appliance.drivers.base import DeviceError, Driver, DriverConfig, DriverState
from appliance.drivers.dstate_server import DriverSocketServer
from appliance.nutconf.diagnostics import ConfigError
from appliance.nutconf.paths import config_dir, state_dir
from appliance.nutconf.ups_conf import UpsConf, load_ups_conf

logger = logging.getLogger(__name__)

# ups.conf keys main.c handles itself (or that belong to upsdrvctl/upsd); everything else is the driver's.
MAIN_KEYS = frozenset(
    [
        "driver",
        "port",
        "user",
        "group",
        "synchronous",
        "sdorder",
        "desc",
        "debug_min",
        "pollinterval",
        "sddelay",
        "maxstartdelay",
        "maxretry",
        "retrydelay",
        "chroot",
    ]
)
MAIN_FLAGS = frozenset(["nolock", "ignorelb"])
MAX_BACKOFF = 60.0
SHORT_OPTIONS = "a:s:kFBDd:hx:Lqr:u:g:Vi:c:"


class UsageError(Exception):
    """A command line or configuration the driver cannot start with; the message says why."""


@dataclass
class Invocation:
    """The parsed command line."""

    driver: str | None = None
    ups: str | None = None
    from_config: bool = False
    extra: list[tuple[str, str | bool]] = field(default_factory=list)
    pollinterval: int | None = None
    debug: int = 0
    quiet: int = 0
    user: str | None = None
    killpower: bool = False
    dump_after: int | None = None
    signal_command: str | None = None
    action: str | None = None  # "help" | "version" | "list"


@dataclass
class DriverSettings:
    """Everything main.c derives from ups.conf and the command line, ready to run a driver."""

    driver: str
    ups: str
    port: str
    options: dict[str, str | bool] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    main_flags: list[str] = field(default_factory=list)
    pollinterval: int = 2
    maxretry: int = 1
    retrydelay: float = 5.0
    synchronous: str = "auto"
    user: str | None = None
    debug_min: int = 0
    config_dir: Path = Path("/etc/nut")
    state_dir: Path = Path("/run/nut")
    pid_dir: Path = Path("/run/nut")

    @property
    def socket_path(self) -> Path:
        """The driver socket: ``<statepath>/<driver>-<ups>``."""
        return self.state_dir / f"{self.driver}-{self.ups}"

    @property
    def pid_path(self) -> Path:
        """The pid file: ``<altpidpath>/<driver>-<ups>.pid``."""
        return self.pid_dir / f"{self.driver}-{self.ups}.pid"


# -- command line ---------------------------------------------------------------------------------


def _positive(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"invalid {what}: {text!r} (a whole number above 0)")
    return value


def parse_args(argv: list[str]) -> Invocation:
    """NUT's driver options (``[DRIVER] -a UPS ...``) into an :class:`Invocation`; raises UsageError."""
    args = list(argv)
    invocation = Invocation()
    if args and not args[0].startswith("-"):
        invocation.driver = args.pop(0)
    try:
        options, rest = getopt.getopt(args, SHORT_OPTIONS)
    except getopt.GetoptError as err:
        raise UsageError(f"{err}. Try -h for help.") from None
    if rest:
        raise UsageError("too many non-option arguments. Try -h for help.")
    for flag, value in options:
        if flag in ("-a", "-s"):
            invocation.ups, invocation.from_config = value, flag == "-a"
        elif flag == "-x":
            key, sep, val = value.partition("=")
            invocation.extra.append((key, val if sep else True))
        elif flag == "-i":
            invocation.pollinterval = _positive(value, "pollinterval")
        elif flag == "-d":
            invocation.dump_after = _positive(value, "dump count")
        elif flag == "-D":
            invocation.debug += 1
        elif flag == "-q":
            invocation.quiet += 1
        elif flag == "-u":
            invocation.user = value
        elif flag == "-k":
            invocation.killpower = True
        elif flag == "-c":
            if value not in ("exit", "reload"):
                raise UsageError(f"unknown -c command {value!r}: use 'exit' or 'reload'")
            invocation.signal_command = value
        elif flag == "-r":
            raise UsageError("-r (chroot) is not supported")
        elif flag in ("-h", "-V", "-L"):
            invocation.action = {"-h": "help", "-V": "version", "-L": "list"}[flag]
        # -F, -B and -g are accepted: we always stay in the foreground and never change the group.
    return invocation


# -- configuration --------------------------------------------------------------------------------


def _apply(settings: DriverSettings, key: str, value: str | bool, cls: type[Driver], where: str) -> None:
    """One ups.conf key or -x option, sorted as main.c does (main's own, override/default, the driver's)."""
    lower = key.lower()
    if lower.startswith("override.") and isinstance(value, str):
        settings.overrides[key[len("override.") :]] = value
    elif lower.startswith("default.") and isinstance(value, str):
        settings.defaults[key[len("default.") :]] = value
    elif lower in MAIN_FLAGS and value is True:
        settings.main_flags.append(lower)
    elif lower in MAIN_KEYS and isinstance(value, str):
        if lower == "port":
            settings.port = value
        elif lower == "pollinterval":
            settings.pollinterval = _positive(value, f"pollinterval in {where}")
        elif lower == "user":
            settings.user = settings.user or value
        elif lower == "synchronous":
            settings.synchronous = {"yes": "yes", "auto": "auto"}.get(value, "no")
        elif lower == "debug_min" and value.isdigit():
            settings.debug_min = int(value)
    else:
        _apply_driver_option(settings, key, value, cls, where)


def _apply_driver_option(settings: DriverSettings, key: str, value: str | bool, cls: type[Driver], where: str) -> None:
    specs = {spec.name.lower(): spec for spec in cls.options}
    spec = specs.get(key.lower())
    kind = "flag" if value is True else "variable name"
    if spec is None or spec.takes_value != isinstance(value, str):
        known = ", ".join(sorted(specs)) or "none"
        raise UsageError(f"{where}: '{key}' is not a valid {kind} for driver {cls.name} (its options: {known})")
    if isinstance(value, str) and spec.check is not None:
        problem = spec.check(value)
        if problem:
            raise UsageError(f"{where}: {key}: {problem}")
    settings.options[spec.name] = value


def _driver_for(name: str | None) -> type[Driver]:
    cls = driver_class(name) if name else None
    if cls is None:
        raise UsageError(f"no Python driver named {name!r} (we have: {', '.join(sorted(DRIVERS))})")
    return cls


def _load_conf(confdir: Path) -> UpsConf:
    try:
        return load_ups_conf(confdir / "ups.conf")
    except ConfigError as err:
        raise UsageError(str(err)) from None


def resolve_settings(invocation: Invocation) -> tuple[DriverSettings, type[Driver]]:
    """Combine ups.conf (for -a) and the command line into :class:`DriverSettings`; raises UsageError."""
    if not invocation.ups:
        raise UsageError("specifying '-a id' or '-s id' is mandatory. Try -h for help.")
    confdir = config_dir()
    conf: UpsConf | None = None
    driver_name = invocation.driver
    if invocation.from_config:
        conf = _load_conf(confdir)
        section = conf.ups.get(invocation.ups)
        if section is None:
            raise UsageError(f"Section {invocation.ups} not found in {conf.path}")
        if driver_name and driver_name != section.driver:
            raise UsageError(f"UPS [{invocation.ups}] is for driver {section.driver}, but I'm {driver_name}!")
        driver_name = section.driver
    elif not driver_name:
        raise UsageError("with -s, name the driver first: appliance driver DRIVER -s UPS -x port=...")
    cls = _driver_for(driver_name)
    statepath = None if os.environ.get("NUT_STATEPATH") else (conf.statepath if conf else None)
    states = state_dir(statepath)
    settings = DriverSettings(
        driver=cls.name,
        ups=invocation.ups,
        port="",
        config_dir=confdir,
        state_dir=states,
        pid_dir=Path(os.environ.get("NUT_ALTPIDPATH") or states),
        user=invocation.user,
    )
    if conf is not None:
        settings.pollinterval = conf.pollinterval
        settings.maxretry = max(1, conf.maxretry)
        settings.retrydelay = float(conf.retrydelay)
        settings.user = settings.user or conf.user
        synchronous = conf.globals.get("synchronous")
        if isinstance(synchronous, str):
            _apply(settings, "synchronous", synchronous, cls, conf.path)
        for key, value in conf.ups[invocation.ups].options.items():
            _apply(settings, key, value, cls, f"{conf.path} [{invocation.ups}]")
    for key, value in invocation.extra:
        _apply(settings, key, value, cls, "-x")
    if invocation.pollinterval is not None:
        settings.pollinterval = invocation.pollinterval
    if not settings.port and not invocation.killpower:
        raise UsageError("you must specify a port name in ups.conf or in '-x port=...' argument.")
    return settings, cls


# -- the running driver ---------------------------------------------------------------------------


class Backoff:
    """Reconnect delays: ``first``, then doubling, capped at ``cap`` (pure)."""

    def __init__(self, first: float, cap: float = MAX_BACKOFF) -> None:
        self.first = max(0.01, first)
        self.cap = max(cap, self.first)
        self._next = self.first

    def next(self) -> float:
        """The delay before the next attempt."""
        delay, self._next = self._next, min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Start again from ``first`` (after a success)."""
        self._next = self.first


class DriverRunner:
    """Runs one driver: publishes main.c's variables, serves the socket, polls, recovers; see the module doc."""

    def __init__(self, settings: DriverSettings, cls: type[Driver], clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.state = DriverState()
        config = DriverConfig(
            ups=settings.ups,
            port=settings.port,
            options=dict(settings.options),
            pollinterval=float(settings.pollinterval),
            config_dir=settings.config_dir,
        )
        self.driver = cls(config, self.state) if clock is None else cls(config, self.state, clock)
        self.server: DriverSocketServer | None = None
        self._stop = asyncio.Event()
        # A driver that NUT reconnects from every update (its USB drivers) keeps that pace instead of backing off.
        every_poll = float(settings.pollinterval)
        self._backoff = Backoff(every_poll, every_poll) if cls.reconnect_every_poll else Backoff(settings.retrydelay)
        self._failing = False
        self.stop_signal: int | None = None

    def stop(self, signum: int | None = None) -> None:
        """Ask the poll loop to finish (SIGTERM/SIGINT do this)."""
        self.stop_signal = signum
        self._stop.set()

    def publish_settings(self) -> None:
        """What main.c publishes from the configuration, before the driver runs."""
        state, settings = self.state, self.settings
        for name, value in settings.overrides.items():
            state.override(name, value)
        for name, value in settings.defaults.items():
            state.set_info(name, value)
        state.set_info("device.type", "ups")
        if settings.port:
            state.set_info("driver.parameter.port", settings.port)
        for name in settings.main_flags:
            state.set_info(f"driver.flag.{name}", "enabled")
        for name, value in settings.options.items():
            if value is True:
                state.set_info(f"driver.flag.{name}", "enabled")
            else:
                state.set_info(f"driver.parameter.{name}", str(value))

    def publish_identity(self) -> None:
        """driver.name / version, and device.* copied from ups.* once the device is known (main.c order)."""
        state = self.state
        state.set_info("driver.version", __version__)
        state.set_info("driver.version.internal", self.driver.version)
        state.set_info("driver.name", self.settings.driver)
        state.set_info("driver.parameter.pollinterval", str(self.settings.pollinterval))
        state.set_info("driver.parameter.synchronous", self.settings.synchronous)
        for part in ("mfr", "model", "serial"):
            value = state.get(f"ups.{part}")
            if value is not None:
                state.set_info(f"device.{part}", value)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))

    async def _connect(self) -> None:
        """close + open + initinfo; DeviceError (or any driver failure, as DeviceError) when it does not work."""
        try:
            await self.driver.close()
            await self.driver.open()
            await self.driver.initinfo()
        except DeviceError:
            raise
        except Exception as err:
            logger.exception("driver %s failed while opening the device", self.settings.driver)
            raise DeviceError(f"driver failure: {err}") from err

    async def start_device(self) -> bool:
        """Open the device, trying ``maxretry`` times ``retrydelay`` apart; False when it never came up."""
        for attempt in range(1, self.settings.maxretry + 1):
            try:
                await self._connect()
                return True
            except DeviceError as err:
                logger.error("%s (attempt %d of %d)", err, attempt, self.settings.maxretry)
            if attempt < self.settings.maxretry:
                await self._sleep(self.settings.retrydelay)
                if self._stop.is_set():
                    break
        return False

    async def poll_once(self) -> float | None:
        """One update: data OK on success; on failure report once and mark the data stale. Returns the hint."""
        try:
            hint = await self.driver.update()
        except Exception as err:
            self._lost(err)
            return None
        self.state.set_data_ok(True)
        if self._failing:
            logger.warning("%s: communication with the device restored", self.settings.ups)
            self._failing = False
            self._backoff.reset()
        return hint

    def _lost(self, err: Exception) -> None:
        if not self._failing:
            if isinstance(err, DeviceError):
                logger.warning("%s: %s; data marked stale, reconnecting", self.settings.ups, err)
            else:
                logger.exception("%s: driver failure; data marked stale, reconnecting", self.settings.ups)
        self._failing = True
        self.state.set_data_ok(False)

    async def run_loop(self) -> None:
        """Poll every pollinterval (or sooner when the driver asks) until stopped; reconnect when lost."""
        while not self._stop.is_set():
            if self._failing:
                await self._sleep(self._backoff.next())
                if self._stop.is_set():
                    break
                try:
                    await self._connect()
                except DeviceError as err:
                    logger.debug("reconnect failed: %s", err)
                    continue
            hint = await self.poll_once()
            if self._failing:
                continue
            delay = float(self.settings.pollinterval)
            await self._sleep(delay if hint is None else min(delay, hint))

    async def run(self) -> int:
        """The whole driver life: start, serve, poll, clean up on stop. Returns the exit status."""
        self.publish_settings()
        if not await self.start_device():
            return 1
        await self.poll_once()
        self.publish_identity()
        self.server = DriverSocketServer(self.state, self.settings.socket_path, self.driver)
        try:
            await self.server.start()
        except OSError as err:
            logger.error("unable to create listener socket %s: %s", self.settings.socket_path, err.strerror or err)
            await self.driver.close()
            return 1
        logger.info("%s: serving %s", self.settings.ups, self.settings.socket_path)
        watchdog = sdnotify.ready(f"serving {self.settings.ups}")
        try:
            await self.run_loop()
        finally:
            await sdnotify.stopping(watchdog)
            await self.server.close()
            await self.driver.close()
        if self.stop_signal is not None:
            logger.info("Signal %d: exiting", self.stop_signal)
        return 0

    async def dump(self, updates: int) -> str:
        """``-d``: run ``updates`` updates and return the data as upsc would print it (no socket)."""
        self.publish_settings()
        if not await self.start_device():
            raise DeviceError("device not available")
        for _ in range(updates):
            await self.poll_once()
        self.publish_identity()
        await self.driver.close()
        return "".join(f"{var.name}: {var.value}\n" for var in self.state.variables())

    async def killpower(self) -> int:
        """``-k``: open the device and run the driver's shutdown; 0 on success."""
        if not await self.start_device():
            return 1
        try:
            logger.info("Initiating UPS shutdown")
            await self.driver.shutdown()
        except DeviceError as err:
            logger.error("shutdown failed: %s", err)
            return 1
        finally:
            await self.driver.close()
        return 0


# -- process plumbing -----------------------------------------------------------------------------


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None when missing or unreadable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def signal_instance(path: Path, signum: int) -> bool:
    """Send ``signum`` to the process named by pid file ``path``; False when there is none."""
    pid = read_pid(path)
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, signum)
    except OSError:
        return False
    return True


async def _replace_duplicate(pid_path: Path) -> None:
    """NUT: a driver already running for this UPS (pid file alive) is told to exit, and we wait for it."""
    if not signal_instance(pid_path, signal.SIGTERM):
        return
    logger.warning("Duplicate driver instance detected (PID file %s exists)! Terminating other driver!", pid_path)
    pid = read_pid(pid_path)
    for _ in range(100):
        await asyncio.sleep(0.05)
        try:
            os.kill(pid or 0, 0)
        except OSError:
            return


def become_user(user: str | None) -> None:
    """Drop root privileges to ``user`` (NUT's -u); nothing to do when not root."""
    if user is None or os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UsageError(f"user {user!r} not found") from None
    if entry.pw_uid == 0:
        return
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


async def _serve(settings: DriverSettings, cls: type[Driver]) -> int:
    runner = DriverRunner(settings, cls)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(signum, runner.stop, signum)
    loop.add_signal_handler(signal.SIGHUP, logger.info, "SIGHUP: reload is not supported; restart to apply changes")
    await _replace_duplicate(settings.pid_path)
    try:
        settings.pid_path.write_text(f"{os.getpid()}\n")
    except OSError as err:
        logger.warning("can't write pid file %s: %s", settings.pid_path, err.strerror or err)
    try:
        return await runner.run()
    finally:
        if read_pid(settings.pid_path) == os.getpid():
            settings.pid_path.unlink(missing_ok=True)


def _help(cls: type[Driver] | None) -> str:
    lines = [
        "usage: appliance driver [DRIVER] (-a UPS | -s UPS) [OPTIONS]",
        (__doc__ or "").split("::\n\n")[1].split("\n\n")[0],
    ]
    if cls is not None and cls.options:
        lines.append(f"Options of {cls.name} for -x or ups.conf:")
        for spec in cls.options:
            usage = f"-x {spec.name}=<value>" if spec.takes_value else f"-x {spec.name}"
            lines.append(f"  {usage:30} {spec.help}")
    return "\n".join(lines)


def _configure_logging(debug: int, quiet: int) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(name)s: %(message)s", stream=sys.stderr)


def main(argv: list[str]) -> int:
    """``appliance driver``: run one UPS driver with NUT's driver command line."""
    try:
        invocation = parse_args(argv)
    except UsageError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    _configure_logging(invocation.debug, invocation.quiet)
    try:
        return _run(invocation)
    except UsageError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1


def _run(invocation: Invocation) -> int:
    cls = driver_class(invocation.driver) if invocation.driver else None
    if invocation.action is not None:
        if invocation.action == "version" or cls is not None or invocation.action == "help":
            print(f"Network UPS Tools (appliance {__version__}) - {cls.description if cls else 'drivers'}")
        if invocation.action == "help":
            print(_help(cls))
        elif invocation.action == "list":
            for spec in _driver_for(invocation.driver).options:
                print(f'{"VALUE" if spec.takes_value else "FLAG"} {spec.name} "{spec.help}"')
        return 0
    if invocation.signal_command is not None:
        invocation.killpower = True  # no port needed just to find the pid file
        settings, _ = resolve_settings(invocation)
        signum = signal.SIGTERM if invocation.signal_command == "exit" else signal.SIGHUP
        if not signal_instance(settings.pid_path, signum):
            print(f"Error: no running driver found through {settings.pid_path}", file=sys.stderr)
            return 1
        return 0
    settings, cls = resolve_settings(invocation)
    if settings.debug_min > invocation.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    become_user(settings.user)
    if invocation.killpower:
        return asyncio.run(DriverRunner(settings, cls).killpower())
    if invocation.dump_after is not None:
        try:
            print(asyncio.run(DriverRunner(settings, cls).dump(invocation.dump_after)), end="")
        except DeviceError:
            return 1
        return 0
    return asyncio.run(_serve(settings, cls))
