"""upsmon.conf and upssched.conf, as NUT reads them (clients/upsmon.c, clients/upssched.c).

Directives are upper-case and case-sensitive (DEBUG_MIN excepted), as in NUT. We accept NUT 2.8.0's directives
and the later ones users already write (OFFDURATION, SHUTDOWNEXIT, the OFF/BYPASS/OVER... notify types);
anything unknown is an error with a hint, where NUT would only log it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.nutconf.diagnostics import Diagnostic, did_you_mean
from appliance.nutconf.sections import lexed_lines, load_checked

# Notify types with NUT's stock messages (%s is the UPS name) and default flags.
NOTIFY_MESSAGES: dict[str, str] = {
    "ONLINE": "UPS %s on line power",
    "ONBATT": "UPS %s on battery",
    "LOWBATT": "UPS %s battery is low",
    "FSD": "UPS %s: forced shutdown in progress",
    "COMMOK": "Communications with UPS %s established",
    "COMMBAD": "Communications with UPS %s lost",
    "SHUTDOWN": "Auto logout and shutdown proceeding",
    "REPLBATT": "UPS %s battery needs to be replaced",
    "NOCOMM": "UPS %s is unavailable",
    "NOPARENT": "upsmon parent process died - shutdown impossible",
    "CAL": "UPS %s: calibration in progress",
    # Types added after NUT 2.8.0 (2.8.1+); accepted so newer configs keep working.
    "NOTCAL": "UPS %s: calibration finished",
    "OFF": "UPS %s: administratively OFF or asleep",
    "NOTOFF": "UPS %s: no longer administratively OFF or asleep",
    "BYPASS": "UPS %s: on bypass (powered, not protecting)",
    "NOTBYPASS": "UPS %s: no longer on bypass",
    "OVER": "UPS %s: overloaded",
    "NOTOVER": "UPS %s: no longer overloaded",
    "TRIM": "UPS %s: trimming incoming voltage",
    "NOTTRIM": "UPS %s: no longer trimming incoming voltage",
    "BOOST": "UPS %s: boosting incoming voltage",
    "NOTBOOST": "UPS %s: no longer boosting incoming voltage",
}
NOTIFY_FLAGS = ("SYSLOG", "WALL", "EXEC", "IGNORE")
DEFAULT_FLAGS = frozenset({"SYSLOG", "WALL"})
QUIET_BY_DEFAULT = {"CAL": frozenset({"SYSLOG"})}
MONITOR_TYPES = {"primary": "primary", "master": "primary", "secondary": "secondary", "slave": "secondary"}


@dataclass
class Monitor:
    """One MONITOR line: ``MONITOR ups@host[:port] powervalue user password primary|secondary``."""

    system: str
    ups: str
    host: str
    port: int
    powervalue: int
    user: str
    password: str
    role: str
    line: int

    @property
    def is_primary(self) -> bool:
        """True for a primary (it sets FSD and waits for secondaries)."""
        return self.role == "primary"


@dataclass
class UpsmonConf:
    """The whole of upsmon.conf, with NUT's defaults."""

    path: str
    monitors: list[Monitor] = field(default_factory=list)
    minsupplies: int = 1
    shutdowncmd: str | None = None
    notifycmd: str | None = None
    notifymsg: dict[str, str] = field(default_factory=dict)
    notifyflag: dict[str, frozenset[str]] = field(default_factory=dict)
    pollfreq: int = 5
    pollfreqalert: int = 5
    hostsync: int = 15
    deadtime: int = 15
    finaldelay: int = 5
    powerdownflag: str | None = None
    rbwarntime: int = 43200
    nocommwarntime: int = 300
    offduration: int = 30
    shutdownexit: bool = True
    run_as_user: str | None = None
    certpath: str | None = None
    certverify: bool = False
    forcessl: bool = False
    debug_min: int | None = None

    def message(self, notify_type: str, ups: str) -> str:
        """The text upsmon sends for ``notify_type`` about ``ups`` (NOTIFYMSG, else NUT's stock text)."""
        template = self.notifymsg.get(notify_type, NOTIFY_MESSAGES[notify_type])
        return template.replace("%s", ups, 1) if "%s" in template else template

    def flags(self, notify_type: str) -> frozenset[str]:
        """The NOTIFYFLAG set for ``notify_type`` (NUT's defaults otherwise)."""
        return self.notifyflag.get(notify_type, QUIET_BY_DEFAULT.get(notify_type, DEFAULT_FLAGS))


Report = Callable[[str, str | None], None]


def _int_setter(attr: str, low: int = 0) -> Callable[[UpsmonConf, tuple[str, ...], Report], None]:
    def apply(conf: UpsmonConf, args: tuple[str, ...], report: Report) -> None:
        try:
            value = int(args[0])
        except ValueError:
            report(f"'{args[0]}' is not a whole number", None)
            return
        if value < low:
            report(f"must be at least {low}", None)
            return
        setattr(conf, attr, value)

    return apply


def _text_setter(attr: str) -> Callable[[UpsmonConf, tuple[str, ...], Report], None]:
    def apply(conf: UpsmonConf, args: tuple[str, ...], report: Report) -> None:
        setattr(conf, attr, args[0])

    return apply


def _bool_setter(attr: str) -> Callable[[UpsmonConf, tuple[str, ...], Report], None]:
    def apply(conf: UpsmonConf, args: tuple[str, ...], report: Report) -> None:
        word = args[0].lower()
        if word in ("1", "yes", "true", "on"):
            setattr(conf, attr, True)
        elif word in ("0", "no", "false", "off"):
            setattr(conf, attr, False)
        else:
            report(f"'{args[0]}' is not a boolean (yes/no, 1/0)", None)

    return apply


def _notify_type(word: str, report: Report) -> str | None:
    name = word.upper()
    if name not in NOTIFY_MESSAGES:
        report(f"unknown notify type '{word}'", did_you_mean(name, NOTIFY_MESSAGES))
        return None
    return name


def _notifymsg(conf: UpsmonConf, args: tuple[str, ...], report: Report) -> None:
    name = _notify_type(args[0], report)
    if name:
        conf.notifymsg[name] = args[1]


def _notifyflag(conf: UpsmonConf, args: tuple[str, ...], report: Report) -> None:
    name = _notify_type(args[0], report)
    flags = set()
    for flag in args[1].split("+"):
        if flag.upper() not in NOTIFY_FLAGS:
            report(f"unknown notify flag '{flag}'", did_you_mean(flag.upper(), NOTIFY_FLAGS) or "use SYSLOG+WALL+EXEC")
            return
        flags.add(flag.upper())
    if name:
        # IGNORE alone means nothing happens; NUT drops the other flags when IGNORE is given.
        conf.notifyflag[name] = frozenset({"IGNORE"}) if "IGNORE" in flags else frozenset(flags)


def parse_monitor(args: tuple[str, ...], line: int, report: Report) -> Monitor | None:
    """Parse MONITOR's arguments (``system powervalue user password type``)."""
    if len(args) == 4:
        report("old-style MONITOR line without a username", "MONITOR ups@host 1 user password primary")
        return None
    system, power, user, password, role_word = args[:5]
    ups, _, hostpart = system.partition("@")
    host, port = hostpart or "localhost", 3493
    if hostpart.startswith("["):
        host, _, rest = hostpart[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif hostpart.count(":") == 1:
        host, _, port_text = hostpart.partition(":")
    else:
        port_text = ""
    if not ups:
        report(f"'{system}' names no UPS", "write ups@host[:port]")
        return None
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            report(f"port '{port_text}' is not a number from 1 to 65535", None)
            return None
        port = int(port_text)
    if not power.isdigit():
        report(f"power value '{power}' is not a whole number", "usually 1")
        return None
    role = MONITOR_TYPES.get(role_word.lower())
    if role is None:
        report(f"'{role_word}' is not primary or secondary", did_you_mean(role_word, MONITOR_TYPES))
        return None
    return Monitor(system, ups, host, port, int(power), user, password, role, line)


def _monitor(conf: UpsmonConf, args: tuple[str, ...], report: Report, line: int = 0) -> None:
    monitor = parse_monitor(args, line, report)
    if monitor is not None:
        conf.monitors.append(monitor)


# directive -> (minimum number of arguments, handler)
_DIRECTIVES: dict[str, tuple[int, Callable[..., None]]] = {
    "SHUTDOWNCMD": (1, _text_setter("shutdowncmd")),
    "POWERDOWNFLAG": (1, _text_setter("powerdownflag")),
    "NOTIFYCMD": (1, _text_setter("notifycmd")),
    "POLLFREQ": (1, _int_setter("pollfreq", 1)),
    "POLLFREQALERT": (1, _int_setter("pollfreqalert", 1)),
    "HOSTSYNC": (1, _int_setter("hostsync")),
    "DEADTIME": (1, _int_setter("deadtime")),
    "MINSUPPLIES": (1, _int_setter("minsupplies")),
    "RBWARNTIME": (1, _int_setter("rbwarntime")),
    "NOCOMMWARNTIME": (1, _int_setter("nocommwarntime")),
    "FINALDELAY": (1, _int_setter("finaldelay")),
    "OFFDURATION": (1, _int_setter("offduration", -1)),
    "SHUTDOWNEXIT": (1, _bool_setter("shutdownexit")),
    "RUN_AS_USER": (1, _text_setter("run_as_user")),
    "CERTPATH": (1, _text_setter("certpath")),
    "CERTVERIFY": (1, _bool_setter("certverify")),
    "FORCESSL": (1, _bool_setter("forcessl")),
    "DEBUG_MIN": (1, _int_setter("debug_min")),
    "NOTIFYMSG": (2, _notifymsg),
    "NOTIFYFLAG": (2, _notifyflag),
    "CERTIDENT": (2, lambda conf, args, report: None),
    "CERTHOST": (4, lambda conf, args, report: None),
    "MONITOR": (4, _monitor),
}


def parse_upsmon_conf(text: str, path: str = "upsmon.conf") -> tuple[UpsmonConf, list[Diagnostic]]:
    """Parse upsmon.conf text; never raises: problems come back as diagnostics."""
    conf = UpsmonConf(path)
    diagnostics: list[Diagnostic] = []
    for line in lexed_lines(text, path, diagnostics):
        word, args = line.words[0], line.words[1:]
        key = "DEBUG_MIN" if word.upper() == "DEBUG_MIN" else word

        def report(message: str, hint: str | None, key: str = key, at: int = line.lineno) -> None:
            diagnostics.append(Diagnostic(path, at, key, message, hint))

        entry = _DIRECTIVES.get(key)
        if entry is None:
            hint = did_you_mean(word, _DIRECTIVES)
            if hint is None and word.upper() in _DIRECTIVES:
                hint = f"directives are upper-case: write '{word.upper()}'"
            report("unknown directive", hint)
            continue
        needed, handler = entry
        if len(args) < needed:
            report(f"needs {needed} argument(s), got {len(args)}", None)
        elif key == "MONITOR":
            handler(conf, args, report, line.lineno)
        else:
            handler(conf, args, report)
    if conf.monitors and conf.minsupplies > sum(m.powervalue for m in conf.monitors):
        diagnostics.append(
            Diagnostic(path, 0, "MINSUPPLIES", "more power supplies required than MONITOR lines provide")
        )
    return conf, diagnostics


def load_upsmon_conf(path: str | os.PathLike[str]) -> UpsmonConf:
    """Read and parse upsmon.conf; raise :class:`ConfigError` listing every error."""
    return load_checked(parse_upsmon_conf, path)


# -- upssched.conf --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchedRule:
    """``AT notifytype ups START-TIMER name seconds | CANCEL-TIMER name [cmd] | EXECUTE cmd``."""

    notify_type: str
    ups: str  # a UPS name or "*"
    action: str  # START-TIMER | CANCEL-TIMER | EXECUTE
    args: tuple[str, ...]
    line: int

    def matches(self, notify_type: str, ups: str) -> bool:
        """True when this rule fires for ``notify_type`` on ``ups`` (``ups`` may be ``name@host``)."""
        return self.notify_type == notify_type and self.ups in ("*", ups, ups.partition("@")[0])


@dataclass
class UpsschedConf:
    """The whole of upssched.conf."""

    path: str
    cmdscript: str | None = None
    pipefn: str | None = None
    lockfn: str | None = None
    rules: list[SchedRule] = field(default_factory=list)


_SCHED_ACTIONS = {"START-TIMER": 2, "CANCEL-TIMER": 1, "EXECUTE": 1}


def parse_upssched_conf(text: str, path: str = "upssched.conf") -> tuple[UpsschedConf, list[Diagnostic]]:
    """Parse upssched.conf text; never raises: problems come back as diagnostics."""
    conf = UpsschedConf(path)
    diagnostics: list[Diagnostic] = []
    for line in lexed_lines(text, path, diagnostics):
        word, args = line.words[0], line.words[1:]

        def report(message: str, hint: str | None = None, key: str = word, at: int = line.lineno) -> None:
            diagnostics.append(Diagnostic(path, at, key, message, hint))

        if word in ("CMDSCRIPT", "PIPEFN", "LOCKFN"):
            if not args:
                report("needs a value")
            else:
                setattr(conf, word.lower(), args[0])
        elif word == "AT":
            rule = _sched_rule(args, line.lineno, report)
            if rule is not None:
                conf.rules.append(rule)
        else:
            report("unknown directive", did_you_mean(word, ["CMDSCRIPT", "PIPEFN", "LOCKFN", "AT"]))
    if conf.rules and not conf.cmdscript:
        diagnostics.append(Diagnostic(path, 0, "CMDSCRIPT", "AT rules need a CMDSCRIPT to run"))
    return conf, diagnostics


def _sched_rule(args: tuple[str, ...], line: int, report: Callable[..., None]) -> SchedRule | None:
    if len(args) < 3:
        report("expected 'AT notifytype upsname action ...'")
        return None
    notify_type = _notify_type(args[0], lambda message, hint: report(message, hint))
    action = args[2].upper()
    needed = _SCHED_ACTIONS.get(action)
    if needed is None:
        report(
            f"unknown action '{args[2]}'",
            did_you_mean(action, _SCHED_ACTIONS) or "use START-TIMER, CANCEL-TIMER or EXECUTE",
        )
        return None
    rest = args[3:]
    if len(rest) < needed:
        report(f"{action} needs {needed} argument(s)")
        return None
    if action == "START-TIMER" and not rest[1].isdigit():
        report(f"timer length '{rest[1]}' is not a whole number of seconds")
        return None
    return SchedRule(notify_type, args[1], action, rest, line) if notify_type else None


def load_upssched_conf(path: str | os.PathLike[str]) -> UpsschedConf:
    """Read and parse upssched.conf; raise :class:`ConfigError` listing every error."""
    return load_checked(parse_upssched_conf, path)
