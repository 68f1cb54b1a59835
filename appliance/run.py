"""``appliance run``: every driver of ups.conf (supervised child processes) and upsd, in the foreground.

    appliance run [--config-dir DIR] [--listen ADDR] [--port PORT] [-D]

With ``--config-dir`` (or ``$NUT_CONFPATH``) it serves that NUT configuration. Without either it runs the
embedded default: a simulated UPS called ``ups`` (dummy-ups replaying the bundled ``default.seq``: on line,
on battery, low battery, back on line) served on 127.0.0.1:3493, with the Synology-style read-only user
``monuser``/``secret`` and an ``admin`` user whose fresh random password is printed at start.

Drivers run as children (ours through ``appliance driver``, any other through NUT's C driver of that name)
and are restarted with backoff if they die; upsd runs in this process. SIGTERM or SIGINT stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path

from appliance import eventloop, sdnotify
from appliance.drivers.dummy_ups import DEFAULT_SEQUENCE
from appliance.drivers.upsdrvctl import Control, driver_argv
from appliance.extras import start_extras
from appliance.nutconf.diagnostics import ConfigError
from appliance.nutconf.paths import state_dir
from appliance.nutconf.ups_conf import load_ups_conf
from appliance.server.daemon import StartupError, load_config
from appliance.server.listener import UpsdServer
from appliance.supervisor import Child, ChildSpec

log = logging.getLogger(__name__)

DEFAULT_UPS = "ups"
DEFAULT_READONLY = ("monuser", "secret")


def write_embedded_default(directory: Path, listen: str, port: int) -> tuple[str, str]:
    """Write the embedded default config into ``directory``; return the admin user and its password."""
    password = secrets.token_urlsafe(12)
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "ups.conf": (
            f'[{DEFAULT_UPS}]\n  driver = dummy-ups\n  port = "{DEFAULT_SEQUENCE}"\n  mode = dummy-loop\n'
            '  desc = "Simulated UPS (appliance default)"\n'
        ),
        "upsd.conf": f"LISTEN {listen} {port}\n",
        "upsd.users": (
            f"[{DEFAULT_READONLY[0]}]\n  password = {DEFAULT_READONLY[1]}\n  upsmon secondary\n"
            f"[admin]\n  password = {password}\n  actions = SET FSD\n  instcmds = ALL\n  upsmon primary\n"
        ),
    }
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o600)
    return "admin", password


async def run(confdir: Path, statepath: Path) -> int:
    """Start the drivers and upsd; return when a stop signal arrives."""
    os.environ["NUT_CONFPATH"] = str(confdir)
    os.environ["NUT_STATEPATH"] = str(statepath)
    ups_conf = load_ups_conf(confdir / "ups.conf")
    config = load_config(confdir)
    children = []
    for section in ups_conf.ups.values():
        argv = driver_argv(section, Control("start"), "-F")
        if argv is None:
            log.error("UPS [%s]: no driver named %s (neither ours nor NUT's)", section.name, section.driver)
            continue
        child = Child(ChildSpec(f"{section.driver}-{section.name}", argv))
        child.start()
        children.append(child)
    server = await UpsdServer.start(config)
    extras = await start_extras(confdir, server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(server, confdir))
    addresses = ", ".join(f"{address} port {port}" for address, port in server.bound)
    print(f"appliance: serving {len(ups_conf.ups)} UPS on {addresses}", flush=True)
    watchdog = sdnotify.ready(f"serving {len(ups_conf.ups)} UPS")
    await stop.wait()
    log.info("stopping")
    await sdnotify.stopping(watchdog)
    for extra in extras:
        await extra.close()
    await server.close()
    await asyncio.gather(*(child.stop() for child in children))
    return 0


def _reload(server: UpsdServer, confdir: Path) -> None:
    try:
        server.reload(load_config(confdir))
    except (ConfigError, StartupError) as exc:
        log.error("reload refused, keeping the running configuration:\n%s", exc)


def main(argv: list[str]) -> int:
    """Parse the command line and run; see the module docstring."""
    parser = argparse.ArgumentParser(prog="appliance run", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", help="NUT config directory (default: $NUT_CONFPATH, else the embedded default)")
    parser.add_argument("--listen", default="127.0.0.1", help="address for the embedded default (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3493, help="port for the embedded default (3493)")
    parser.add_argument("-D", action="count", default=0, help="debug output (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.D else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    explicit = args.config_dir or os.environ.get("NUT_CONFPATH")
    with tempfile.TemporaryDirectory(prefix="appliance-") as scratch:
        if explicit:
            confdir, statepath = Path(explicit), state_dir()
        else:
            confdir = statepath = Path(scratch)
            user, password = write_embedded_default(confdir, args.listen, args.port)
            print(
                f"appliance: embedded default: simulated UPS '{DEFAULT_UPS}' on {args.listen}:{args.port}\n"
                f"appliance: read-only user {DEFAULT_READONLY[0]} / {DEFAULT_READONLY[1]}; "
                f"admin user {user} / {password}\n"
                f"appliance: try: upsc {DEFAULT_UPS}@{args.listen}:{args.port}",
                flush=True,
            )
        try:
            return eventloop.run(run(confdir, statepath))
        except (ConfigError, StartupError) as exc:
            print(exc, file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"appliance: {exc}", file=sys.stderr)
            return 1
