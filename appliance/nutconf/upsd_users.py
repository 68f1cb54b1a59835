"""upsd.users: who may log in, set variables, run commands, or act as upsmon (NUT 2.8.0 server/user.c).

Keys are case-insensitive; ``actions`` and ``instcmds`` take several words and may repeat; ``upsmon`` takes
primary/secondary (master/slave are the old names) with or without ``=``. What a ``upsmon`` line grants is
NUT's: a primary may LOGIN, use PRIMARY/MASTER and set FSD; a secondary may LOGIN.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from appliance.nutconf.diagnostics import Diagnostic, did_you_mean
from appliance.nutconf.sections import Entry, Header, load_checked, read_sections

UPSMON_TYPES = {"primary": "primary", "master": "primary", "secondary": "secondary", "slave": "secondary"}
KEYS = ("password", "actions", "instcmds", "upsmon", "allowfrom")
KNOWN_ACTIONS = {"SET", "FSD"}


@dataclass
class User:
    """One ``[name]`` section."""

    name: str
    password: str | None = None
    upsmon: str | None = None
    actions: set[str] = field(default_factory=set)
    instcmds: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def granted_actions(self) -> set[str]:
        """Every action this user holds: those listed plus what its upsmon role brings (NUT's set_upsmon_type)."""
        granted = set(self.actions)
        if self.upsmon:
            granted.add("LOGIN")
        if self.upsmon == "primary":
            granted |= {"MASTER", "PRIMARY", "FSD"}
        return granted

    def may(self, action: str) -> bool:
        """True when the user holds ``action`` (SET, FSD, LOGIN, PRIMARY...)."""
        return action.upper() in self.granted_actions

    def may_run(self, command: str) -> bool:
        """True when the user may run the instant command ``command``."""
        return "all" in self.instcmds or command.lower() in self.instcmds


def parse_upsd_users(text: str, path: str = "upsd.users") -> tuple[dict[str, User], list[Diagnostic]]:
    """Parse upsd.users text; never raises: problems come back as diagnostics."""
    users: dict[str, User] = {}
    diagnostics: list[Diagnostic] = []
    current: User | None = None
    for item in read_sections(text, path, diagnostics):
        if isinstance(item, Header):
            if item.name in users:
                diagnostics.append(
                    Diagnostic(
                        path, item.line, f"[{item.name}]", f"duplicate user (first on line {users[item.name].line})"
                    )
                )
            current = users[item.name] = User(item.name, line=item.line)
            continue
        if item.key.lower() == "user":
            continue  # NUT skips the pre-2.0 "user" lines
        if current is None:
            diagnostics.append(
                Diagnostic(path, item.line, item.key, "setting outside a [user] section", "start with [username]")
            )
            continue
        _apply(current, item, path, diagnostics)
    return users, diagnostics


def _apply(user: User, entry: Entry, path: str, diagnostics: list[Diagnostic]) -> None:
    key = entry.key.lower()

    def report(message: str, hint: str | None = None, severity: str = "error") -> None:
        diagnostics.append(Diagnostic(path, entry.line, entry.key, message, hint, severity))

    if key not in KEYS:
        report("unknown setting", did_you_mean(key, KEYS))
        return
    if not entry.values:
        report("needs a value")
        return
    if key == "upsmon":
        role = UPSMON_TYPES.get(entry.values[0].lower())
        if role is None:
            report(f"'{entry.values[0]}' is not a upsmon type", "use primary or secondary")
        user.upsmon = role
    elif not entry.has_equals:
        report("expected 'key = value'", f"write '{entry.key} = {' '.join(entry.values)}'")
    elif key == "password":
        if user.password is not None:
            report("duplicate password; the first one is kept (as NUT does)", severity="warning")
        else:
            user.password = entry.values[0]
    elif key == "actions":
        for action in entry.values:
            if action.upper() not in KNOWN_ACTIONS:
                report(f"unknown action '{action}'", did_you_mean(action.upper(), KNOWN_ACTIONS) or "use SET or FSD")
            user.actions.add(action.upper())
    elif key == "instcmds":
        user.instcmds.update(v.lower() for v in entry.values)
    else:
        report("is no longer used by NUT", "restrict access with LISTEN and a firewall", "warning")


def load_upsd_users(path: str | os.PathLike[str]) -> dict[str, User]:
    """Read and parse upsd.users; raise :class:`ConfigError` listing every error."""
    return load_checked(parse_upsd_users, path)
