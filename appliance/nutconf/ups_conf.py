"""ups.conf: global driver settings and one section per UPS, as NUT 2.8.0 reads them.

Facts from NUT's common/upsconf.c, drivers/main.c and drivers/upsdrvctl.c: keys are case-sensitive and
lower-case; ``key = value`` takes the first word after ``=``; a bare word is a flag; ``override.<var>`` and
``default.<var>`` set variables; everything else in a section belongs to the driver, whose schema (if the
driver is ours) says what it accepts. NUT ignores what it does not understand; we report it, with a hint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.nutconf.diagnostics import ConfigError, Diagnostic, did_you_mean
from appliance.nutconf.schema import check_integer, driver_schema
from appliance.nutconf.sections import Entry, Header, load_checked, read_sections

Check = Callable[[str], str | None]


def _choice(*allowed: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in allowed else f"'{value}' is not one of {', '.join(allowed)}"

    return check


# Global settings (before the first section) and their value checks; None = any text.
GLOBALS: dict[str, Check | None] = {
    "chroot": None,
    "driverpath": None,
    "user": None,
    "group": None,
    "statepath": None,
    "pollinterval": check_integer(1),
    "maxretry": check_integer(1),
    "retrydelay": check_integer(0),
    "maxstartdelay": check_integer(0),
    "nowait": None,
    "synchronous": _choice("yes", "no", "auto"),
    "debug_min": check_integer(0),
}
GLOBAL_FLAGS = {"nowait"}

# Per-UPS settings that NUT's main.c, upsdrvctl and upsd handle themselves (not the driver's own options).
GENERIC: dict[str, Check | None] = {
    "driver": None,
    "port": None,
    "desc": None,
    "sdorder": check_integer(),
    "maxstartdelay": check_integer(0),
    "user": None,
    "group": None,
    "synchronous": _choice("yes", "no", "auto"),
    "debug_min": check_integer(0),
    "pollinterval": check_integer(1),
    "sddelay": None,
}
GENERIC_FLAGS = {"nolock", "ignorelb"}
OBSOLETE = {"sddelay": "obsolete since NUT 2.0 and ignored"}

_VAR_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PREFIXES = ("override.", "default.")


@dataclass
class UpsSection:
    """One ``[name]`` section of ups.conf."""

    name: str
    driver: str
    port: str
    line: int
    desc: str | None = None
    sdorder: int | None = None
    maxstartdelay: int | None = None
    options: dict[str, str | bool] = field(default_factory=dict)

    def _prefixed(self, prefix: str) -> dict[str, str]:
        return {k[len(prefix) :]: str(v) for k, v in self.options.items() if k.startswith(prefix)}

    def overrides(self) -> dict[str, str]:
        """``override.<var> = value`` settings: values the driver must publish whatever the device says."""
        return self._prefixed("override.")

    def defaults(self) -> dict[str, str]:
        """``default.<var> = value`` settings: values used until the device reports its own."""
        return self._prefixed("default.")

    def driver_options(self) -> dict[str, str | bool]:
        """The options meant for the driver itself (no generic settings, no override./default.)."""
        return {
            k: v
            for k, v in self.options.items()
            if k not in GENERIC and k not in GENERIC_FLAGS and not k.startswith(_PREFIXES)
        }


@dataclass
class UpsConf:
    """The whole of ups.conf."""

    path: str
    pollinterval: int = 2
    maxretry: int = 1
    retrydelay: int = 5
    maxstartdelay: int = 75
    user: str | None = None
    statepath: str | None = None
    globals: dict[str, str | bool] = field(default_factory=dict)
    ups: dict[str, UpsSection] = field(default_factory=dict)


class _Parser:
    def __init__(self, path: str) -> None:
        self.path = path
        self.conf = UpsConf(path)
        self.diagnostics: list[Diagnostic] = []
        self.section: UpsSection | None = None
        self.key_lines: dict[str, int] = {}

    def error(self, line: int, key: str | None, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(self.path, line, key, message, hint))

    def warn(self, line: int, key: str | None, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(self.path, line, key, message, hint, "warning"))

    def run(self, text: str) -> None:
        for item in read_sections(text, self.path, self.diagnostics):
            if isinstance(item, Header):
                self.start_section(item)
            elif self.section is None:
                self.global_entry(item)
            else:
                self.section_entry(item)
        self.finish_section()

    # -- shared value handling -------------------------------------------------------------------
    def entry_value(self, entry: Entry, flags: set[str], checks: dict[str, Check | None]) -> str | bool | None:
        """The value of an entry (True for a flag), or None after reporting why it is unusable."""
        if not entry.has_equals:
            if entry.values:
                self.error(entry.line, entry.key, "expected 'key = value'", f"write '{entry.key} = {entry.values[0]}'")
                return None
            if entry.key in flags or entry.key not in checks:
                return True
            self.error(entry.line, entry.key, "needs a value", f"write '{entry.key} = <value>'")
            return None
        if not entry.values:
            self.error(entry.line, entry.key, "missing value after '='")
            return None
        if len(entry.values) > 1:
            self.warn(entry.line, entry.key, "only the first word is used; quote values that contain spaces")
        value = entry.values[0]
        check = checks.get(entry.key)
        problem = check(value) if check else None
        if problem:
            self.error(entry.line, entry.key, problem)
            return None
        return value

    # -- globals -------------------------------------------------------------------------------
    def global_entry(self, entry: Entry) -> None:
        key = entry.key
        if key not in GLOBALS:
            hint = did_you_mean(key, GLOBALS) or "global settings come before the first [ups] section"
            self.error(entry.line, key, "unknown global setting", hint)
            return
        value = self.entry_value(entry, GLOBAL_FLAGS, GLOBALS)
        if value is None:
            return
        self.conf.globals[key] = value
        if isinstance(value, str):
            if key in ("pollinterval", "maxretry", "retrydelay", "maxstartdelay"):
                setattr(self.conf, key, int(value))
            elif key in ("user", "statepath"):
                setattr(self.conf, key, value)

    # -- sections ------------------------------------------------------------------------------
    def start_section(self, header: Header) -> None:
        self.finish_section()
        name = header.name
        if not name or any(c.isspace() or c in "@:/" for c in name):
            self.error(header.line, f"[{name}]", "a UPS name may not be empty or contain spaces, '@', ':' or '/'")
        if name in self.conf.ups:
            first = self.conf.ups[name].line
            self.error(header.line, f"[{name}]", f"duplicate UPS name (first defined on line {first})")
            self.section = UpsSection(name, "", "", header.line)  # parsed for its errors, then dropped
            return
        self.section = UpsSection(name, "", "", header.line)
        self.conf.ups[name] = self.section

    def section_entry(self, entry: Entry) -> None:
        assert self.section is not None
        key = entry.key
        known = key in GENERIC or key in GENERIC_FLAGS or key.startswith(_PREFIXES)
        value = self.entry_value(entry, GENERIC_FLAGS, GENERIC if known else {})
        if value is None:
            return
        if key in OBSOLETE:
            self.warn(entry.line, key, OBSOLETE[key])
        if key.startswith(_PREFIXES) and not _VAR_NAME.match(key.split(".", 1)[1] or "!"):
            self.error(entry.line, key, "not a valid variable name after the prefix")
            return
        if key in self.section.options:
            self.warn(entry.line, key, "set twice in this section; the last value wins")
        self.section.options[key] = value
        if isinstance(value, str):
            if key in ("driver", "port", "desc"):
                setattr(self.section, key, value)
            elif key in ("sdorder", "maxstartdelay"):
                setattr(self.section, key, int(value))
        self.key_lines[key] = entry.line

    def finish_section(self) -> None:
        section = self.section
        if section is None:
            return
        lines, self.key_lines = self.key_lines, {}
        self.section = None
        label = f"[{section.name}]"
        for required in ("driver", "port"):
            if not getattr(section, required):
                self.error(section.line, label, f"no '{required}' in this section", f"add '{required} = ...'")
        if section.driver:
            self.check_driver_options(section, lines)

    def check_driver_options(self, section: UpsSection, lines: dict[str, int]) -> None:
        schema = driver_schema(section.driver)
        if schema is None:
            if not _nut_driver_exists(section.driver):
                self.warn(
                    lines.get("driver", section.line),
                    "driver",
                    f"'{section.driver}' is neither one of our drivers nor a NUT driver installed on this machine",
                )
            return
        for key, value in section.driver_options().items():
            line = lines.get(key, section.line)
            spec = schema.get(key)
            if spec is None:
                hint = did_you_mean(key, [*schema, *GENERIC, *GENERIC_FLAGS]) or (
                    f"{section.driver} accepts: {', '.join(sorted(schema)) or 'no options of its own'}"
                )
                self.error(line, key, f"not an option of driver {section.driver}", hint)
            elif spec.takes_value and value is True:
                self.error(line, key, "needs a value", f"write '{key} = <value>'")
            elif not spec.takes_value and value is not True:
                self.error(line, key, "is a flag and takes no value", f"write just '{key}'")
            elif spec.check and isinstance(value, str) and (problem := spec.check(value)):
                self.error(line, key, problem)


NUT_DRIVER_DIRS = ("/lib/nut", "/usr/lib/nut", "/usr/libexec/nut")


def _nut_driver_exists(driver: str) -> bool:
    return any(os.access(os.path.join(d, driver), os.X_OK) for d in NUT_DRIVER_DIRS)


def parse_ups_conf(text: str, path: str = "ups.conf") -> tuple[UpsConf, list[Diagnostic]]:
    """Parse ups.conf text; never raises: problems come back as diagnostics."""
    parser = _Parser(path)
    parser.run(text)
    return parser.conf, parser.diagnostics


def load_ups_conf(path: str | os.PathLike[str]) -> UpsConf:
    """Read and parse ups.conf; raise :class:`ConfigError` listing every error."""
    return load_checked(parse_ups_conf, path)


__all__ = ["ConfigError", "UpsConf", "UpsSection", "load_ups_conf", "parse_ups_conf"]
