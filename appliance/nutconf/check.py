"""``appliance check-config``: validate every NUT file in the config directory and report every problem.

Exit status 0 when nothing is wrong (warnings are printed but do not fail), 1 on any error. Problems go to
stderr as ``path:line: key: message (hint)``; a one-line summary per file goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from appliance.appconf import parse_appconf
from appliance.nutconf.diagnostics import Diagnostic
from appliance.nutconf.paths import config_dir
from appliance.nutconf.ups_conf import parse_ups_conf
from appliance.nutconf.upsd_conf import parse_upsd_conf
from appliance.nutconf.upsd_users import parse_upsd_users
from appliance.nutconf.upsmon_conf import parse_upsmon_conf, parse_upssched_conf

Parser = Callable[[str, str], tuple[object, list[Diagnostic]]]

# file name -> (parser, required)
FILES: dict[str, tuple[Parser, bool]] = {
    "ups.conf": (parse_ups_conf, True),
    "upsd.conf": (parse_upsd_conf, False),
    "upsd.users": (parse_upsd_users, False),
    "upsmon.conf": (parse_upsmon_conf, False),
    "upssched.conf": (parse_upssched_conf, False),
    "appliance.toml": (parse_appconf, False),  # ours: hosts without NUT, MQTT, metrics
}


def check_directory(directory: Path) -> dict[str, list[Diagnostic] | None]:
    """Diagnostics for each NUT file of ``directory`` (None for an optional file that is absent)."""
    results: dict[str, list[Diagnostic] | None] = {}
    for name, (parse, required) in FILES.items():
        path = directory / name
        if not path.exists():
            results[name] = [Diagnostic(str(path), 0, None, "file not found", "create it")] if required else None
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            results[name] = [Diagnostic(str(path), 0, None, f"cannot read: {exc.strerror or exc}")]
            continue
        results[name] = parse(text, str(path))[1]
    return results


def main(argv: list[str]) -> int:
    """Run the check; see the module docstring."""
    parser = argparse.ArgumentParser(prog="appliance check-config", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", help="directory with the NUT files (default: $NUT_CONFPATH or /etc/nut)")
    args = parser.parse_args(argv)
    directory = config_dir(args.config_dir)
    failed = False
    for name, diagnostics in check_directory(directory).items():
        if diagnostics is None:
            continue
        errors = [d for d in diagnostics if d.is_error]
        warnings = len(diagnostics) - len(errors)
        for diagnostic in diagnostics:
            print(diagnostic, file=sys.stderr)
        failed |= bool(errors)
        status = "OK" if not errors else f"{len(errors)} error(s)"
        print(f"{directory / name}: {status}" + (f", {warnings} warning(s)" if warnings else ""))
    return 1 if failed else 0
