"""``appliance upsd``: the NUT network server, with NUT upsd's command line and start-up rules.

Flags as NUT 2.8.0's upsd: -F (foreground, the default here), -FF (foreground with a pid file), -B (accepted;
we stay in the foreground and leave daemonizing to systemd), -D (more debug, repeatable), -u USER (drop to
USER when root), -c reload|stop (signal the running upsd through its pid file), -4 / -6 (IPv4 or IPv6 only for
the default listeners), -h, -V. Environment: NUT_CONFPATH, NUT_STATEPATH, NUT_ALTPIDPATH.

upsd refuses to start without ups.conf, or with no UPS in it unless upsd.conf says ALLOW_NO_DEVICE; a config
error is printed with file and line and exits 1. SIGHUP reloads the config; SIGTERM/SIGINT stop cleanly.
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
from pathlib import Path

from appliance import __version__, eventloop, sdnotify
from appliance.extras import start_extras
from appliance.nutconf.diagnostics import ConfigError
from appliance.nutconf.paths import config_dir, state_dir
from appliance.nutconf.ups_conf import load_ups_conf
from appliance.nutconf.upsd_conf import load_upsd_conf, parse_upsd_conf
from appliance.nutconf.upsd_users import load_upsd_users
from appliance.server.commands import VER_LINE, Descriptions
from appliance.server.listener import ServerConfig, UpsDefinition, UpsdServer

log = logging.getLogger(__name__)

USAGE = """usage: appliance upsd [OPTIONS]

  -c <command>  send <command> via signal to background process
                commands: reload, stop
  -D            raise debugging level (repeatable)
  -F            stay in the foreground (the default)
  -FF           stay in the foreground and write a pid file
  -B            accepted for compatibility (use systemd to background)
  -h            display this help
  -u <user>     switch to <user> (if started as root)
  -V            display the version of this software
  -4            IPv4 only
  -6            IPv6 only
"""


class StartupError(Exception):
    """A reason not to start, already worded for the user."""


def load_config(confdir: Path | None = None, family: str | None = None) -> ServerConfig:
    """Read ups.conf, upsd.conf and upsd.users into a :class:`ServerConfig`; raise ConfigError/StartupError."""
    directory = confdir or config_dir()
    upsd_path = directory / "upsd.conf"
    upsd = load_upsd_conf(upsd_path) if upsd_path.exists() else parse_upsd_conf("", str(upsd_path))[0]
    ups_path = directory / "ups.conf"
    if not ups_path.exists():
        if not upsd.allow_no_device:
            raise StartupError(f"{ups_path} does not exist: no UPS to serve (set ALLOW_NO_DEVICE in upsd.conf)")
        ups = []
    else:
        ups = [
            UpsDefinition(section.name, section.driver, section.desc)
            for section in load_ups_conf(ups_path).ups.values()
        ]
    if not ups and not upsd.allow_no_device:
        raise StartupError(f"Fatal error: at least one UPS must be defined in {ups_path}")
    users_path = directory / "upsd.users"
    users = load_upsd_users(users_path) if users_path.exists() else {}
    return ServerConfig(
        listen=upsd.effective_listen(family),
        ups=ups,
        users=users,
        statepath=state_dir(upsd.statepath),
        maxage=upsd.maxage,
        trackingdelay=upsd.trackingdelay,
        maxconn=upsd.maxconn,
        certfile=upsd.certfile,
        descriptions=Descriptions(),
    )


def pid_file() -> Path:
    """Where upsd's pid is written: $NUT_ALTPIDPATH, else the state directory."""
    base = os.environ.get("NUT_ALTPIDPATH")
    return Path(base) / "upsd.pid" if base else state_dir() / "upsd.pid"


def signal_running(command: str) -> int:
    """``-c reload|stop``: signal the upsd named by the pid file."""
    signals = {"reload": signal.SIGHUP, "stop": signal.SIGTERM}
    if command not in signals:
        print(f"Error: unknown -c command '{command}' (use reload or stop)", file=sys.stderr)
        return 1
    path = pid_file()
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signals[command])
    except (OSError, ValueError) as exc:
        print(f"Error: can't signal upsd through {path}: {exc}", file=sys.stderr)
        return 1
    return 0


def drop_privileges(user: str | None) -> None:
    """Switch to ``user`` when running as root (NUT's -u)."""
    if user is None or os.geteuid() != 0 or user == "root":
        return
    entry = pwd.getpwnam(user)
    os.setgroups(os.getgrouplist(user, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


async def run_server(confdir: Path | None, family: str | None, write_pid: bool) -> int:
    """Run until SIGTERM/SIGINT; reload on SIGHUP."""
    server = await UpsdServer.start(load_config(confdir, family))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def reload() -> None:
        try:
            config = load_config(confdir, family)
        except (ConfigError, StartupError) as exc:
            log.error("reload refused, keeping the running configuration:\n%s", exc)
            return
        server.reload(config)

    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    pid_path = pid_file() if write_pid else None
    if pid_path is not None:
        with contextlib.suppress(OSError):
            pid_path.write_text(f"{os.getpid()}\n")
    extras = await start_extras(confdir or config_dir(), server)
    watchdog = sdnotify.ready(f"serving {len(server.model.ups)} UPS")
    try:
        await stop.wait()
    finally:
        log.info("Signal received, exiting")
        await sdnotify.stopping(watchdog)
        for extra in extras:
            await extra.close()
        await server.close()
        if pid_path is not None:
            with contextlib.suppress(OSError):
                pid_path.unlink()
    return 0


def main(argv: list[str]) -> int:
    """Parse NUT upsd's flags and run; see the module docstring."""
    try:
        opts, rest = getopt.getopt(argv, "c:DFBhu:V46r:")
    except getopt.GetoptError as exc:
        print(f"Error: {exc}\n\n{USAGE}", file=sys.stderr)
        return 1
    debug, foreground, family, user = 0, 0, None, None
    for flag, value in opts:
        if flag == "-h":
            print(USAGE)
            return 0
        if flag == "-V":
            print(f"{VER_LINE} (appliance {__version__})")
            return 0
        if flag == "-c":
            return signal_running(value)
        if flag == "-D":
            debug += 1
        elif flag == "-F":
            foreground += 1
        elif flag in ("-4", "-6"):
            family = flag[1]
        elif flag == "-u":
            user = value
        elif flag == "-r":
            print("Error: chroot (-r) is not supported; use systemd's RootDirectory=", file=sys.stderr)
            return 1
    if rest:
        print(f"Error: unexpected argument '{rest[0]}'\n\n{USAGE}", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        drop_privileges(user)
        return eventloop.run(run_server(None, family, write_pid=foreground != 1))
    except (ConfigError, StartupError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except (KeyError, PermissionError) as exc:
        print(f"Error: can't switch to user {user}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Fatal error: {exc}", file=sys.stderr)
        return 1
