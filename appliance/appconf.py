"""appliance.toml: what the appliance adds to NUT's files — today, the hosts without NUT it shuts down.

    [shutdown]
    dry_run = false                 # log the plan, do nothing
    stay_up = false                 # order the others down, but do not run SHUTDOWNCMD: the appliance stays up
    killpower = false               # with stay_up: once the hosts are down, tell the UPS to cut its power itself

    [[shutdown.host]]
    name = "nas"                    # unique
    tier = 0                        # lower tiers first; the hosts of a tier in parallel
    method = "ssh"                  # "ssh" or "http"
    address = "192.168.1.20"
    port = 22                       # ssh: 22; http: 80 (443 for https URLs)
    user = "root"                   # ssh
    key = "/etc/nut/id_ed25519"     # ssh: private key (key authentication only)
    known_hosts = "/etc/nut/known_hosts"  # ssh: optional; without it any host key is accepted, with a warning
    command = "poweroff"            # ssh; runs on a terminal, as with ssh -t (background work needs nohup)
    url = "http://192.168.1.30/shutdown"  # http
    http_method = "POST"            # http
    timeout = 30                    # seconds for the command or the request
    confirm_timeout = 120           # seconds for the host to stop answering

    [mqtt]                          # telemetry; no table (or enabled = false): no MQTT
    host = "127.0.0.1"
    port = 1883                     # 8883 with tls_ca
    username = "..."                # optional; password likewise
    tls_ca = "/path/ca.pem"         # optional: TLS, verifying the broker; tls_cert / tls_key for a client certificate
    client_id = "..."               # default: appliance-<hostname>
    prefix = "nut"                  # topics: <prefix>/<hostname>/<ups>/...
    qos = 1
    protocol = "5"                  # or "3.1.1"
    discovery = true                # Home Assistant discovery
    discovery_prefix = "homeassistant"
    commands = false                # accept instant commands and SET over MQTT...
    command_user = "admin"          # ...with the rights of this upsd.users user

    [metrics]                       # Prometheus /metrics; no table: none
    listen = "127.0.0.1"
    port = 9199

It lives beside upsmon.conf (``$NUT_CONFPATH`` or /etc/nut). A missing file means no such hosts. Every problem
is reported at once with its line and a hint, as for NUT's files.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from appliance.nutconf.diagnostics import ConfigError, Diagnostic, did_you_mean
from appliance.nutconf.paths import config_dir

METHODS = ("ssh", "http")
_SWITCHES = ("dry_run", "stay_up", "killpower")
_HOST_TABLE_HINT = "write each host as a [[shutdown.host]] table"
_HOST_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "tier": int,
    "method": str,
    "address": str,
    "port": int,
    "user": str,
    "key": str,
    "known_hosts": str,
    "command": str,
    "url": str,
    "http_method": str,
    "timeout": (int, float),
    "confirm_timeout": (int, float),
}


@dataclass(frozen=True)
class HostSpec:
    """One host without NUT, and how to shut it down."""

    name: str
    method: str
    address: str
    port: int
    tier: int = 0
    user: str = "root"
    key: str | None = None
    known_hosts: str | None = None
    command: str = "poweroff"
    url: str | None = None
    http_method: str = "POST"
    timeout: float = 30.0
    confirm_timeout: float = 120.0


@dataclass(frozen=True)
class MqttConf:
    """The [mqtt] table."""

    host: str = "127.0.0.1"
    port: int | None = None  # 1883, or 8883 with TLS
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    client_id: str | None = None
    prefix: str = "nut"
    qos: int = 1
    protocol: str = "5"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    commands: bool = False
    command_user: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class MetricsConf:
    """The [metrics] table."""

    listen: str = "127.0.0.1"
    port: int = 9199


# key -> (accepted types, a check returning a problem or None)
_Check = Callable[[Any], str | None]
_MQTT_KEYS: dict[str, tuple[type | tuple[type, ...], _Check | None]] = {
    "enabled": (bool, None),
    "host": (str, None),
    "port": (int, lambda v: None if 0 < v < 65536 else "must be a port number, 1-65535"),
    "username": (str, None),
    "password": (str, None),
    "tls_ca": (str, None),
    "tls_cert": (str, None),
    "tls_key": (str, None),
    "client_id": (str, None),
    "prefix": (str, lambda v: None if v and not set(v) & set("#+") else "must be a non-empty topic without # or +"),
    "qos": (int, lambda v: None if v in (0, 1, 2) else "must be 0, 1 or 2"),
    "protocol": (str, lambda v: None if v in ("5", "3.1.1") else 'must be "5" or "3.1.1"'),
    "discovery": (bool, None),
    "discovery_prefix": (str, None),
    "commands": (bool, None),
    "command_user": (str, None),
}
_METRICS_KEYS: dict[str, tuple[type | tuple[type, ...], _Check | None]] = {
    "listen": (str, None),
    "port": (int, lambda v: None if 0 <= v < 65536 else "must be a port number, 0-65535"),
}


@dataclass(frozen=True)
class AppConf:
    """The whole of appliance.toml."""

    path: str
    hosts: tuple[HostSpec, ...] = field(default_factory=tuple)
    mqtt: MqttConf | None = None
    metrics: MetricsConf | None = None
    dry_run: bool = False
    stay_up: bool = False
    killpower: bool = False


def _header_lines(text: str) -> list[int]:
    """Line numbers of the ``[[shutdown.host]]`` headers, in order."""
    pattern = re.compile(r"^\s*\[\[\s*shutdown\s*\.\s*host\s*\]\]")
    return [number for number, line in enumerate(text.splitlines(), start=1) if pattern.match(line)]


def _key_line(text: str, key: str, after: int) -> int:
    """The line of ``key = ...`` at or after line ``after`` (``after`` itself when not found)."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines()[after - 1 :], start=after):
        if pattern.match(line):
            return number
    return after


def parse_appconf(text: str, path: str = "appliance.toml") -> tuple[AppConf, list[Diagnostic]]:
    """Parse appliance.toml text; never raises: problems come back as diagnostics."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        return AppConf(path), [Diagnostic(path, int(match.group(1)) if match else 0, None, f"not valid TOML: {exc}")]
    problems: list[Diagnostic] = []
    for key in data:
        if key not in ("shutdown", "mqtt", "metrics"):
            hint = did_you_mean(key, ["shutdown", "mqtt", "metrics"])
            problems.append(Diagnostic(path, _key_line(text, key, 1), key, "unknown section", hint))
    shutdown = data.get("shutdown", {})
    if not isinstance(shutdown, dict):
        problems.append(Diagnostic(path, _key_line(text, "shutdown", 1), "shutdown", "must be a [shutdown] table"))
        shutdown = {}
    for key in shutdown:
        if key != "host" and key not in _SWITCHES:
            hint = did_you_mean(key, ["host", *_SWITCHES])
            problems.append(Diagnostic(path, _key_line(text, key, 1), key, "unknown key in [shutdown]", hint))
    switches = {key: shutdown.get(key, False) for key in _SWITCHES}
    for key, value in switches.items():
        if not isinstance(value, bool):
            problems.append(Diagnostic(path, _key_line(text, key, 1), key, "must be true or false"))
    if switches["killpower"] is True and switches["stay_up"] is not True:
        hint = "without stay_up the killpower hook cuts the power at the end of the appliance's own shutdown"
        problems.append(Diagnostic(path, _key_line(text, "killpower", 1), "killpower", "needs stay_up = true", hint))
    raw_hosts = shutdown.get("host", [])
    if not isinstance(raw_hosts, list):
        problems.append(Diagnostic(path, _key_line(text, "host", 1), "shutdown.host", _HOST_TABLE_HINT))
        raw_hosts = []
    headers = _header_lines(text)
    hosts: list[HostSpec] = []
    for index, raw in enumerate(raw_hosts):
        start = headers[index] if index < len(headers) else 0
        if not isinstance(raw, dict):
            problems.append(Diagnostic(path, _key_line(text, "host", 1), "shutdown.host", _HOST_TABLE_HINT))
            continue
        host = _host(raw, text, path, start, problems)
        if host is None:
            continue
        if any(h.name == host.name for h in hosts):
            problems.append(Diagnostic(path, _key_line(text, "name", start), "name", f"host '{host.name}' named twice"))
            continue
        hosts.append(host)
    flags = {key: value is True for key, value in switches.items()}
    mqtt = _flat_table(data, "mqtt", _MQTT_KEYS, text, path, problems)
    if mqtt is not None and mqtt.get("commands") and not mqtt.get("command_user"):
        hint = "commands run with the rights of that upsd.users user"
        problems.append(Diagnostic(path, _key_line(text, "commands", 1), "commands", "needs command_user", hint))
    if mqtt is not None and ("tls_cert" in mqtt) != ("tls_key" in mqtt):
        problems.append(Diagnostic(path, 0, "tls_cert", "tls_cert and tls_key go together"))
    metrics = _flat_table(data, "metrics", _METRICS_KEYS, text, path, problems)
    return (
        AppConf(
            path,
            tuple(hosts),
            mqtt=MqttConf(**mqtt) if mqtt is not None and mqtt.get("enabled", True) else None,
            metrics=MetricsConf(**metrics) if metrics is not None else None,
            **flags,
        ),
        problems,
    )


def _flat_table(
    data: dict[str, Any],
    name: str,
    spec: dict[str, tuple[type | tuple[type, ...], _Check | None]],
    text: str,
    path: str,
    problems: list[Diagnostic],
) -> dict[str, Any] | None:
    """A table of plain keys checked against ``spec``: its valid keys, or None when it is absent."""
    if name not in data:
        return None
    table = data[name]
    header = _table_line(text, name)
    if not isinstance(table, dict):
        problems.append(Diagnostic(path, _key_line(text, name, 1), name, f"must be a [{name}] table"))
        return None
    values: dict[str, Any] = {}
    for key, value in table.items():
        line = _key_line(text, key, header)
        if key not in spec:
            hint = did_you_mean(key, spec)
            problems.append(Diagnostic(path, line, key, f"unknown key in [{name}]", hint))
            continue
        types, check = spec[key]
        if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
            kind = {bool: "true or false", int: "a whole number", str: "a string"}.get(types, "a value")  # type: ignore[call-overload]
            problems.append(Diagnostic(path, line, key, f"must be {kind}"))
            continue
        problem = check(value) if check else None
        if problem:
            problems.append(Diagnostic(path, line, key, problem))
            continue
        values[key] = value
    return values


def _table_line(text: str, name: str) -> int:
    """The line of the ``[name]`` header (1 when not found)."""
    pattern = re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def _host(raw: dict[str, Any], text: str, path: str, start: int, problems: list[Diagnostic]) -> HostSpec | None:
    """One [[shutdown.host]] table, or None (with its problems reported)."""
    before = len(problems)

    def report(key: str | None, message: str, hint: str | None = None) -> None:
        problems.append(Diagnostic(path, _key_line(text, key, start) if key else start, key, message, hint))

    for key, value in raw.items():
        expected = _HOST_KEYS.get(key)
        if expected is None:
            report(key, "unknown key in [[shutdown.host]]", did_you_mean(key, _HOST_KEYS))
        elif not isinstance(value, expected) or isinstance(value, bool):
            kind = {str: "a string", int: "a whole number"}.get(expected, "a number")
            report(key, f"must be {kind}")
    for required in ("name", "address"):
        if required not in raw and not (required == "address" and "url" in raw):
            report(None, f"a host needs '{required}'")
    method = raw.get("method", "ssh")
    if method not in METHODS:
        report("method", f"unknown method {method!r}", did_you_mean(str(method), METHODS) or "use 'ssh' or 'http'")
    if method == "http" and "url" not in raw:
        report(None, "an http host needs 'url'")
    if method == "ssh" and "key" not in raw:
        report(None, "an ssh host needs 'key' (the private key; only key authentication is used)")
    for key, low in (("tier", 0), ("port", 1), ("timeout", 0.001), ("confirm_timeout", 0)):
        if isinstance(raw.get(key), int | float) and not isinstance(raw[key], bool) and raw[key] < low:
            report(key, "must not be negative" if low == 0 else "must be positive")
    if isinstance(raw.get("port"), int) and raw["port"] > 65535:
        report("port", "must be at most 65535")
    if isinstance(raw.get("url"), str):
        url_problem = _url_problem(raw["url"])
        if url_problem:
            report("url", url_problem, "write it as http://host[:port]/path or https://...")
    if isinstance(raw.get("http_method"), str) and not raw["http_method"].isalpha():
        report("http_method", f"not an HTTP method: {raw['http_method']!r}", "e.g. POST, GET or PUT")
    if len(problems) > before:
        return None
    url = raw.get("url")
    split = urlsplit(url) if url else None
    address = raw.get("address") or (split.hostname if split else "") or ""
    default_port = 22 if method == "ssh" else (443 if split and split.scheme == "https" else 80)
    port = raw.get("port") or (split.port if split and split.port else default_port)
    return HostSpec(
        name=raw["name"], method=method, address=address, port=port, tier=raw.get("tier", 0),
        user=raw.get("user", "root"), key=raw.get("key"), known_hosts=raw.get("known_hosts"),
        command=raw.get("command", "poweroff"), url=url, http_method=raw.get("http_method", "POST"),
        timeout=float(raw.get("timeout", 30)), confirm_timeout=float(raw.get("confirm_timeout", 120)),
    )  # fmt: skip


def _url_problem(url: str) -> str | None:
    """What is wrong with an http host's ``url``, or None."""
    try:
        split = urlsplit(url)
        split.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if split.scheme not in ("http", "https") or not split.hostname:
        return f"not an http:// or https:// URL with a host: {url!r}"
    return None


def load_appconf(directory: str | os.PathLike[str] | None = None) -> AppConf:
    """appliance.toml in ``directory`` (default: NUT's config directory); raise ConfigError on errors.

    A missing file is an empty AppConf: no hosts to shut down.
    """
    path = config_dir(directory) / "appliance.toml"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return AppConf(str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Diagnostic(str(path), 0, None, f"cannot read: {exc}")]) from None
    conf, problems = parse_appconf(text, str(path))
    if problems:
        raise ConfigError(problems)
    return conf
