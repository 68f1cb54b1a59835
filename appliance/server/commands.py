"""upsd's command table: one handler per verb, each returning NUT 2.8.0's exact reply (server/net*.c).

Pure logic: a handler takes the :class:`Session` of one client and the request's arguments and returns the
reply text (one string, so the listener writes it with ONE send). The order of checks in every handler is
NUT's, so the same bad request gets the same ``ERR`` token. The served UPSes are :class:`UpsEntry` objects
whose data come from a :class:`~appliance.server.driver_link.DriverLink`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance import NUT_COMPAT_VERSION
from appliance.nutconf.lexer import encode, split_text
from appliance.nutconf.upsd_users import User
from appliance.server.driver_link import DriverLink

NETVERSION = "1.3"
SERVER_VERSION = NUT_COMPAT_VERSION  # what NUT clients compare; our own version is in server.info
VER_LINE = f"Network UPS Tools upsd {SERVER_VERSION} - http://www.networkupstools.org/"
HELP_LINE = "Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS"
CMDVARTAB_PATHS = ("/usr/share/nut/cmdvartab", "/usr/local/ups/share/cmdvartab")


def err(token: str) -> str:
    """NUT's error reply."""
    return f"ERR {token}\n"


@dataclass
class UpsEntry:
    """One served UPS: its ups.conf name and description, its driver link, FSD latch and login count."""

    name: str
    link: DriverLink
    desc: str | None = None
    fsd: bool = False
    numlogins: int = 0


@dataclass
class Session:
    """What upsd knows about one client connection."""

    addr: str
    username: str | None = None
    password: str | None = None
    login_ups: str | None = None
    tracking: bool = False
    tls: bool = False
    closing: bool = False
    start_tls: bool = False


class Descriptions:
    """Variable and command descriptions from NUT's cmdvartab (read at run time, as upsd does)."""

    def __init__(self, path: str | None = None) -> None:
        self.vars: dict[str, str] = {}
        self.cmds: dict[str, str] = {}
        for candidate in [path] if path else CMDVARTAB_PATHS:
            try:
                text = Path(candidate).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for line in split_text(text):
                if len(line.words) >= 3 and line.words[0] in ("VARDESC", "CMDDESC"):
                    table = self.vars if line.words[0] == "VARDESC" else self.cmds
                    table[line.words[1].lower()] = line.words[2]
            break


@dataclass
class ServerModel:
    """Everything the handlers read: UPSes, users, sessions, descriptions."""

    ups: dict[str, UpsEntry] = field(default_factory=dict)  # lower-case name -> entry
    users: dict[str, User] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    descriptions: Descriptions = field(default_factory=Descriptions)
    tls_available: bool = False
    # Exact request bytes of a successful single GET VAR -> (reply bytes, its UPS's driver link, the instant its
    # data turns stale if the driver stays silent). Cleared on every change event (values, FSD, DATASTALE, driver
    # loss), so a hit is always what dispatch would answer; the listener checks the silence deadline on each hit.
    # Saves most of a request's cost for pollers such as upsmon and Home Assistant.
    reply_cache: dict[bytes, tuple[bytes, DriverLink, float]] = field(default_factory=dict)

    def invalidate(self, *_: object) -> None:
        """Forget cached replies (any variable, status, FSD or connection change)."""
        self.reply_cache.clear()

    def find(self, name: str) -> UpsEntry | None:
        """The UPS called ``name`` (case-insensitive, as NUT's get_ups_ptr)."""
        return self.ups.get(name.lower())

    def tracking_status(self, tracking_id: str) -> str:
        """NUT's tracking_get: PENDING, SUCCESS, ERR ... or ERR UNKNOWN for an id nobody issued."""
        for entry in self.ups.values():
            for key, status in entry.link.tracking.items():
                if key.lower() == tracking_id.lower():
                    return status
        return "ERR UNKNOWN"

    def user_may(self, session: Session, action: str) -> bool:
        """NUT's user_checkaction: the user exists, has a password that matches, and holds ``action``."""
        user = self._authenticated(session)
        return bool(user and user.may(action))

    def user_may_run(self, session: Session, command: str) -> bool:
        """NUT's user_checkinstcmd."""
        user = self._authenticated(session)
        return bool(user and user.may_run(command))

    def _authenticated(self, session: Session) -> User | None:
        if session.username is None or session.password is None:
            return None
        user = self.users.get(session.username)
        if user is None or user.password is None or user.password != session.password:
            return None
        return user


def _available(entry: UpsEntry) -> str | None:
    """NUT's ups_available: the error to send, or None when the data can be served."""
    if not entry.link.connected:
        return err("DRIVER-NOT-CONNECTED")
    if entry.link.is_stale:
        return err("DATA-STALE")
    return None


def _status_value(entry: UpsEntry, name: str, value: str) -> str:
    if entry.fsd and name.lower() == "ups.status":
        return f"FSD {value}"
    return value


def _ups_or_error(model: ServerModel, name: str, need_data: bool = True) -> tuple[UpsEntry | None, str | None]:
    entry = model.find(name)
    if entry is None:
        return None, err("UNKNOWN-UPS")
    return entry, (_available(entry) if need_data else None)


# -- GET -------------------------------------------------------------------------------------------
def _get(model: ServerModel, session: Session, args: list[str]) -> str:
    if not args:
        return err("INVALID-ARGUMENT")
    what = args[0].upper()
    if what == "TRACKING":
        if len(args) < 2:
            return "ON\n" if session.tracking else "OFF\n"
        return f"{model.tracking_status(args[1])}\n" if session.tracking else err("FEATURE-NOT-CONFIGURED")
    if len(args) < 2:
        return err("INVALID-ARGUMENT")
    ups_name = args[1]
    if what == "NUMLOGINS":
        entry, problem = _ups_or_error(model, ups_name)
        return problem or f"NUMLOGINS {ups_name} {entry.numlogins}\n"  # type: ignore[union-attr]
    if what == "UPSDESC":
        entry, problem = _ups_or_error(model, ups_name, need_data=False)
        if problem:
            return problem
        desc = encode(entry.desc) if entry and entry.desc else "Unavailable"
        return f'UPSDESC {ups_name} "{desc}"\n'
    if len(args) < 3:
        return err("INVALID-ARGUMENT")
    name = args[2]
    if what == "VAR" and name.lower().startswith("server."):
        return _server_var(ups_name, name)
    if what not in ("VAR", "TYPE", "DESC", "CMDDESC"):
        return err("INVALID-ARGUMENT")
    entry, problem = _ups_or_error(model, ups_name)
    if problem or entry is None:
        return problem or err("UNKNOWN-UPS")
    if what == "DESC":
        desc = model.descriptions.vars.get(name.lower(), "Description unavailable")
        return f'DESC {ups_name} {name} "{desc}"\n'
    if what == "CMDDESC":
        desc = model.descriptions.cmds.get(name.lower(), "Description unavailable")
        return f'CMDDESC {ups_name} {name} "{desc}"\n'
    var = entry.link.state.variable(name)
    if var is None:
        return err("VAR-NOT-SUPPORTED")
    if what == "TYPE":
        return f"TYPE {ups_name} {name} {' '.join(var.type_words)}\n"
    return f'VAR {ups_name} {name} "{encode(_status_value(entry, name, var.value))}"\n'


def _server_var(ups_name: str, name: str) -> str:
    if name.lower() == "server.info":
        return f'VAR {ups_name} server.info "{VER_LINE}"\n'
    if name.lower() == "server.version":
        return f'VAR {ups_name} server.version "{SERVER_VERSION}"\n'
    return err("VAR-NOT-SUPPORTED")


# -- LIST ------------------------------------------------------------------------------------------
def _list(model: ServerModel, session: Session, args: list[str]) -> str:
    if not args:
        return err("INVALID-ARGUMENT")
    what = args[0].upper()
    if what == "UPS":
        lines = ["BEGIN LIST UPS"]
        for entry in model.ups.values():
            desc = encode(entry.desc) if entry.desc else "Description unavailable"
            lines.append(f'UPS {entry.name} "{desc}"')
        lines.append("END LIST UPS")
        return "\n".join(lines) + "\n"
    if len(args) < 2:
        return err("INVALID-ARGUMENT")
    ups_name = args[1]
    if what == "CLIENT":
        entry, problem = _ups_or_error(model, ups_name, need_data=False)
        if problem or entry is None:
            return problem or err("UNKNOWN-UPS")
        lines = [f"BEGIN LIST CLIENT {ups_name}"]
        lines += [f"CLIENT {s.login_ups} {s.addr}" for s in model.sessions if s.login_ups == entry.name]
        lines.append(f"END LIST CLIENT {ups_name}")
        return "\n".join(lines) + "\n"
    if what in ("VAR", "RW", "CMD"):
        entry, problem = _ups_or_error(model, ups_name)
        if problem or entry is None:
            return problem or err("UNKNOWN-UPS")
        state = entry.link.state
        if what == "CMD":
            items = [f"CMD {ups_name} {cmd}" for cmd in state.commands()]
        else:
            items = [
                f'{what} {ups_name} {var.name} "{encode(_status_value(entry, var.name, var.value))}"'
                for var in state.variables()
                if what == "VAR" or var.is_writable
            ]
        return "\n".join([f"BEGIN LIST {what} {ups_name}", *items, f"END LIST {what} {ups_name}"]) + "\n"
    if what in ("ENUM", "RANGE"):
        if len(args) < 3:
            return err("INVALID-ARGUMENT")
        entry, problem = _ups_or_error(model, ups_name)
        if problem or entry is None:
            return problem or err("UNKNOWN-UPS")
        var = entry.link.state.variable(args[2])
        if var is None:
            return err("VAR-NOT-SUPPORTED")
        name = args[2]
        if what == "ENUM":
            items = [f'ENUM {ups_name} {name} "{encode(value)}"' for value in var.enums]
        else:
            items = [f'RANGE {ups_name} {name} "{low}" "{high}"' for low, high in var.ranges]
        return "\n".join([f"BEGIN LIST {what} {ups_name} {name}", *items, f"END LIST {what} {ups_name} {name}"]) + "\n"
    return err("INVALID-ARGUMENT")


# -- SET, INSTCMD ------------------------------------------------------------------------------------
def _set(model: ServerModel, session: Session, args: list[str]) -> str:
    if len(args) < 2:
        return err("INVALID-ARGUMENT")
    what = args[0].upper()
    if what == "TRACKING":
        mode = args[1].upper()
        if mode not in ("ON", "OFF"):
            return err("INVALID-ARGUMENT")
        session.tracking = mode == "ON"
        return "OK\n"
    if what != "VAR":
        return err("INVALID-ARGUMENT")
    if len(args) < 4:
        return err("INVALID-ARGUMENT")
    ups_name, name, value = args[1], args[2], args[3]
    entry, problem = _ups_or_error(model, ups_name)
    if problem or entry is None:
        return problem or err("UNKNOWN-UPS")
    if not model.user_may(session, "SET"):
        return err("ACCESS-DENIED")
    var = entry.link.state.variable(name)
    if var is None:
        return err("VAR-NOT-SUPPORTED")
    if not var.is_writable:
        return err("READONLY")
    if "STRING" in var.flags:
        if var.aux < 1:
            return err("SET-FAILED")
        if var.aux < len(value):
            return err("TOO-LONG")
    if var.enums and value not in var.enums:
        return err("INVALID-VALUE")
    if var.ranges and not any(low <= _atoi(value) <= high for low, high in var.ranges):
        return err("INVALID-VALUE")
    tracking_id = str(uuid.uuid4()) if session.tracking else None
    if not entry.link.set_var(name, value, tracking_id):
        return err("SET-FAILED")
    return f"OK TRACKING {tracking_id}\n" if tracking_id else "OK\n"


def _atoi(text: str) -> int:
    """C's atoi: the leading integer of ``text``, 0 when there is none (NUT checks ranges with it)."""
    text = text.lstrip()
    end = 1 if text[:1] in "+-" else 0
    while end < len(text) and text[end].isdigit():
        end += 1
    try:
        return int(text[:end])
    except ValueError:
        return 0


def _instcmd(model: ServerModel, session: Session, args: list[str]) -> str:
    if len(args) < 2:
        return err("INVALID-ARGUMENT")
    ups_name, command = args[0], args[1]
    param = args[2] if len(args) == 3 else None  # NUT ignores a parameter when more words follow
    entry, problem = _ups_or_error(model, ups_name)
    if problem or entry is None:
        return problem or err("UNKNOWN-UPS")
    if not entry.link.state.has_command(command):
        return err("CMD-NOT-SUPPORTED")
    if not model.user_may_run(session, command):
        return err("ACCESS-DENIED")
    tracking_id = str(uuid.uuid4()) if session.tracking else None
    if not entry.link.instcmd(command, param, tracking_id):
        return err("INSTCMD-FAILED")
    return f"OK TRACKING {tracking_id}\n" if tracking_id else "OK\n"


# -- sessions and authentication ----------------------------------------------------------------------
Handler = Callable[[ServerModel, Session, list[str]], str]


def _one_arg(handler: Callable[[ServerModel, Session, str], str]) -> Callable[[ServerModel, Session, list[str]], str]:
    def wrapped(model: ServerModel, session: Session, args: list[str]) -> str:
        return handler(model, session, args[0]) if len(args) == 1 else err("INVALID-ARGUMENT")

    return wrapped


def _no_args(reply: Callable[[ServerModel, Session], str]) -> Callable[[ServerModel, Session, list[str]], str]:
    def wrapped(model: ServerModel, session: Session, args: list[str]) -> str:
        return reply(model, session) if not args else err("INVALID-ARGUMENT")

    return wrapped


def _credential(attr: str, token: str) -> Handler:
    """USERNAME and PASSWORD: each may be given once per connection."""

    @_one_arg
    def handler(model: ServerModel, session: Session, value: str) -> str:
        if getattr(session, attr) is not None:
            return err(token)
        setattr(session, attr, value)
        return "OK\n"

    return handler


@_one_arg
def _login(model: ServerModel, session: Session, ups_name: str) -> str:
    if session.login_ups is not None:
        return err("ALREADY-LOGGED-IN")
    entry = model.find(ups_name)
    if entry is None:
        return err("UNKNOWN-UPS")
    if not model.user_may(session, "LOGIN"):
        return err("ACCESS-DENIED")
    entry.numlogins += 1
    session.login_ups = entry.name
    return "OK\n"


def _logout_reply(model: ServerModel, session: Session) -> str:
    session.closing = True
    return "OK Goodbye\n"


def _primary_check(model: ServerModel, session: Session, ups_name: str) -> str | None:
    if model.find(ups_name) is None:
        return err("UNKNOWN-UPS")
    if not (model.user_may(session, "PRIMARY") or model.user_may(session, "MASTER")):
        return err("ACCESS-DENIED")
    return None


@_one_arg
def _primary(model: ServerModel, session: Session, ups_name: str) -> str:
    return _primary_check(model, session, ups_name) or "OK PRIMARY-GRANTED\n"


@_one_arg
def _master(model: ServerModel, session: Session, ups_name: str) -> str:
    return _primary_check(model, session, ups_name) or "OK MASTER-GRANTED\n"


@_one_arg
def _fsd(model: ServerModel, session: Session, ups_name: str) -> str:
    entry = model.find(ups_name)
    if entry is None:
        return err("UNKNOWN-UPS")
    if not model.user_may(session, "FSD"):
        return err("ACCESS-DENIED")
    entry.fsd = True  # latched until upsd restarts, as in NUT
    model.invalidate()
    entry.link.announce(("FSD",))
    return "OK FSD-SET\n"


def _starttls(model: ServerModel, session: Session, args: list[str]) -> str:
    if session.tls:
        return err("ALREADY-SSL-MODE")
    if not model.tls_available:
        return err("FEATURE-NOT-CONFIGURED")
    session.start_tls = True
    return "OK STARTTLS\n"


# verb -> (handler, needs USERNAME and PASSWORD first)
COMMANDS: dict[str, tuple[Handler, bool]] = {
    "VER": (_no_args(lambda model, session: VER_LINE + "\n"), False),
    "NETVER": (_no_args(lambda model, session: NETVERSION + "\n"), False),
    "PROTVER": (_no_args(lambda model, session: NETVERSION + "\n"), False),
    "HELP": (_no_args(lambda model, session: HELP_LINE + "\n"), False),
    "STARTTLS": (_starttls, False),
    "GET": (_get, False),
    "LIST": (_list, False),
    "USERNAME": (_credential("username", "ALREADY-SET-USERNAME"), False),
    "PASSWORD": (_credential("password", "ALREADY-SET-PASSWORD"), False),
    "LOGIN": (_login, True),
    "LOGOUT": (_no_args(_logout_reply), False),
    "PRIMARY": (_primary, True),
    "MASTER": (_master, True),
    "FSD": (_fsd, True),
    "SET": (_set, True),
    "INSTCMD": (_instcmd, True),
}


def dispatch(model: ServerModel, session: Session, words: tuple[str, ...] | list[str]) -> str:
    """Answer one request (already split into words) exactly as NUT's upsd would."""
    if not words:
        return err("UNKNOWN-COMMAND")
    entry = COMMANDS.get(words[0].upper())
    if entry is None:
        return err("UNKNOWN-COMMAND")
    handler, needs_user = entry
    if needs_user:
        if session.username is None:
            return err("USERNAME-REQUIRED")
        if session.password is None:
            return err("PASSWORD-REQUIRED")
    return handler(model, session, list(words[1:]))


def release(model: ServerModel, session: Session) -> None:
    """Forget a closed session (its login no longer counts)."""
    if session.login_ups is not None:
        entry = model.find(session.login_ups)
        if entry is not None and entry.numlogins > 0:
            entry.numlogins -= 1
        session.login_ups = None
    if session in model.sessions:
        model.sessions.remove(session)
