"""The ``appliance`` command: one entry point whose subcommands live in their own modules.

Each subcommand is ``module:function`` taking the remaining argv and returning an exit status; modules are
imported only when their command runs, so ``appliance upsc`` starts fast and needs no optional package.
"""

from __future__ import annotations

import importlib
import sys

from appliance import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("appliance.run:main", "start every UPS driver in ups.conf and upsd (embedded default without config)"),
    "driver": ("appliance.drivers.runner:main", "run one UPS driver (NUT driver flags: -a UPS, -k, -D ...)"),
    "upsdrvctl": ("appliance.drivers.upsdrvctl:main", "start|stop|shutdown the drivers of ups.conf"),
    "upsd": ("appliance.server.daemon:main", "run the NUT network server (NUT upsd flags)"),
    "monitor": ("appliance.monitor.daemon:main", "upsmon: watch UPSes as primary or secondary, shut down in order"),
    "check-config": ("appliance.nutconf.check:main", "validate the NUT config files, reporting every error"),
    "boot-config": ("appliance.bootconf:main", "install the configuration from the SD card's boot partition"),
    "upsc": ("appliance.clients.upsc:main", "read UPS variables like NUT's upsc"),
    "upsrw": ("appliance.clients.upsrw:main", "list or set writable variables like NUT's upsrw"),
    "upscmd": ("appliance.clients.upscmd:main", "list or run instant commands like NUT's upscmd"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: appliance COMMAND [ARGS...]   (version {__version__})", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``appliance COMMAND ...`` to the command's module."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"appliance {__version__}")
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        print(f"appliance: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = entry[0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(func(args[1:]) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
