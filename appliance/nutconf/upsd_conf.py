"""upsd.conf: upsd's directives, as NUT 2.8.0's server/conf.c reads them.

Directives are upper-case and case-sensitive (only DEBUG_MIN is case-insensitive in NUT); NUT logs and skips
an unknown one, we report it as an error with a hint. Without any LISTEN line upsd listens on 127.0.0.1 and
::1, port 3493 (:func:`effective_listen`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.nutconf.diagnostics import Diagnostic, did_you_mean
from appliance.nutconf.sections import lexed_lines, load_checked

DEFAULT_PORT = 3493
_TRUE = {"1", "true", "yes", "on", "ok"}
_FALSE = {"0", "false", "no", "off"}


@dataclass
class Listen:
    """One LISTEN address and port."""

    address: str
    port: int = DEFAULT_PORT


@dataclass
class UpsdConf:
    """The whole of upsd.conf (NUT's defaults where a directive is absent)."""

    path: str
    listen: list[Listen] = field(default_factory=list)
    maxage: int = 15
    maxconn: int = 1024
    trackingdelay: int = 3600
    statepath: str | None = None
    datapath: str | None = None
    certfile: str | None = None
    allow_no_device: bool = False
    disable_weak_ssl: bool = False
    debug_min: int | None = None

    def effective_listen(self, family: str | None = None) -> list[Listen]:
        """The addresses upsd binds: the LISTEN lines, or NUT's default (::1 and 127.0.0.1).

        ``family`` is "4" or "6" for upsd's -4/-6 flags.
        """
        if self.listen:
            return list(self.listen)
        defaults = []
        if family != "4":
            defaults.append(Listen("::1"))
        if family != "6":
            defaults.append(Listen("127.0.0.1"))
        return defaults


def _number(conf: UpsdConf, attr: str) -> Callable[[str], str | None]:
    def apply(value: str) -> str | None:
        if not value.isdigit():
            return f"'{value}' is not a whole number"
        setattr(conf, attr, int(value))
        return None

    return apply


def _boolean(conf: UpsdConf, attr: str) -> Callable[[str], str | None]:
    def apply(value: str) -> str | None:
        lowered = value.lower()
        if lowered.isdigit():
            setattr(conf, attr, int(lowered) != 0)
        elif lowered in _TRUE or lowered in _FALSE:
            setattr(conf, attr, lowered in _TRUE)
        else:
            return f"'{value}' is not a boolean (yes/no, true/false, on/off, 1/0)"
        return None

    return apply


def _text(conf: UpsdConf, attr: str) -> Callable[[str], str | None]:
    def apply(value: str) -> str | None:
        setattr(conf, attr, value)
        return None

    return apply


def parse_upsd_conf(text: str, path: str = "upsd.conf") -> tuple[UpsdConf, list[Diagnostic]]:
    """Parse upsd.conf text; never raises: problems come back as diagnostics."""
    conf = UpsdConf(path)
    diagnostics: list[Diagnostic] = []
    handlers: dict[str, Callable[[str], str | None]] = {
        "MAXAGE": _number(conf, "maxage"),
        "MAXCONN": _number(conf, "maxconn"),
        "TRACKINGDELAY": _number(conf, "trackingdelay"),
        "DEBUG_MIN": _number(conf, "debug_min"),
        "STATEPATH": _text(conf, "statepath"),
        "DATAPATH": _text(conf, "datapath"),
        "CERTFILE": _text(conf, "certfile"),
        "ALLOW_NO_DEVICE": _boolean(conf, "allow_no_device"),
        "DISABLE_WEAK_SSL": _boolean(conf, "disable_weak_ssl"),
    }
    obsolete = {"ACCEPT", "REJECT", "ACL"}
    not_here = {"CERTPATH", "CERTIDENT", "CERTREQUEST"}
    known = [*handlers, "LISTEN", *obsolete, *not_here]
    for line in lexed_lines(text, path, diagnostics):
        word, args = line.words[0], line.words[1:]
        key = "DEBUG_MIN" if word.upper() == "DEBUG_MIN" else word

        def report(
            message: str, hint: str | None = None, severity: str = "error", key: str = key, at: int = line.lineno
        ) -> None:
            diagnostics.append(Diagnostic(path, at, key, message, hint, severity))

        if key not in known:
            hint = did_you_mean(word, known)
            if hint is None and word.upper() in known:
                hint = f"directives are upper-case: write '{word.upper()}'"
            report("unknown directive", hint)
        elif not args:
            report("needs a value")
        elif key in obsolete:
            report("is no longer supported by NUT and is ignored", "use LISTEN and firewall rules", "warning")
        elif key in not_here:
            report("belongs to NUT's NSS builds and is ignored here", "use CERTFILE with a PEM file", "warning")
        elif key == "LISTEN":
            _listen(conf, args, report)
        else:
            problem = handlers[key](args[0])
            if problem:
                report(problem)
    return conf, diagnostics


def _listen(conf: UpsdConf, args: tuple[str, ...], report: Callable[..., None]) -> None:
    port = DEFAULT_PORT
    if len(args) > 1:
        if not args[1].isdigit() or not 1 <= int(args[1]) <= 65535:
            report(f"port '{args[1]}' is not a number from 1 to 65535")
            return
        port = int(args[1])
    conf.listen.append(Listen(args[0], port))


def load_upsd_conf(path: str | os.PathLike[str]) -> UpsdConf:
    """Read and parse upsd.conf; raise :class:`ConfigError` listing every error."""
    return load_checked(parse_upsd_conf, path)
