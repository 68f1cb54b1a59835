"""DeviceState: one UPS's variable tree, instant commands and data freshness.

The same model lives on both sides of the driver socket. A driver mutates it through the methods below;
every effective change is also expressed as the driver-socket message that describes it (a tuple of words
such as ``("SETINFO", "ups.status", "OL")``) and handed to the subscribers, which is how a driver broadcasts
and how upsd raises change events. upsd's replica applies the messages it receives with :meth:`apply`.

Ordering follows NUT's state.c: variables and commands are kept sorted case-insensitively (DUMPALL order),
enum values in insertion order, and a value that differs only in letter case is not a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

Message = tuple[str, ...]
Listener = Callable[[Message], None]

FLAG_NAMES = ("RW", "STRING", "NUMBER")

# ups.status tokens in NUT's vocabulary (docs/new-drivers.txt); drivers may only emit these.
STATUS_TOKENS = frozenset(
    [
        "OL",
        "OB",
        "LB",
        "HB",
        "RB",
        "CHRG",
        "DISCHRG",
        "BYPASS",
        "CAL",
        "OFF",
        "OVER",
        "TRIM",
        "BOOST",
        "FSD",
        "ALARM",
        "ECO",
        "TEST",
    ]
)


class StateError(ValueError):
    """A message that cannot be applied (unknown keyword, wrong argument count, missing variable)."""


@dataclass
class Variable:
    """One variable: value, flags (RW, STRING, NUMBER), aux (max length of a RW STRING), enums, ranges."""

    name: str
    value: str
    flags: frozenset[str] = frozenset()
    aux: int = 0
    enums: list[str] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def is_writable(self) -> bool:
        """True when clients may SET this variable."""
        return "RW" in self.flags

    @property
    def type_words(self) -> list[str]:
        """The words of NUT's ``TYPE`` reply (without the leading ``TYPE ups var``)."""
        words = ["RW"] if self.is_writable else []
        if self.enums:
            words.append("ENUM")
        if self.ranges:
            words.append("RANGE")
        # NUT's netget.c ends every TYPE reply with STRING:<aux> or, failing that, NUMBER.
        words.append(f"STRING:{self.aux}" if "STRING" in self.flags else "NUMBER")
        return words


def _key(name: str) -> str:
    return name.lower()


class DeviceState:
    """The variable tree of one UPS plus its commands and data-ok flag; see the module docstring."""

    def __init__(self) -> None:
        self._vars: dict[str, Variable] = {}
        self._commands: dict[str, str] = {}
        self.data_ok = False
        self._listeners: list[Listener] = []
        self._status: list[str] | None = None
        self._alarms: list[str] | None = None

    # -- subscription -----------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(message)`` after every effective change."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def _changed(self, *words: str) -> bool:
        message = tuple(words)
        for listener in list(self._listeners):
            listener(message)
        return True

    # -- reading ----------------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """The value of ``name`` (case-insensitive) or None."""
        var = self._vars.get(_key(name))
        return var.value if var else None

    def variable(self, name: str) -> Variable | None:
        """The whole :class:`Variable` for ``name`` or None."""
        return self._vars.get(_key(name))

    def variables(self) -> list[Variable]:
        """Every variable in NUT's (case-insensitive sorted) order."""
        return [self._vars[k] for k in sorted(self._vars)]

    def commands(self) -> list[str]:
        """Every instant command in NUT's order."""
        return [self._commands[k] for k in sorted(self._commands)]

    def has_command(self, name: str) -> bool:
        """True when ``name`` is a supported instant command."""
        return _key(name) in self._commands

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._vars

    def __len__(self) -> int:
        return len(self._vars)

    # -- mutation (each returns True when something changed) ---------------------------------
    def set_info(self, name: str, value: str) -> bool:
        """Create or update a variable (SETINFO)."""
        var = self._vars.get(_key(name))
        if var is None:
            self._vars[_key(name)] = Variable(name, value)
        elif var.value.lower() == value.lower():
            return False
        else:
            var.value = value
        return self._changed("SETINFO", name, value)

    def del_info(self, name: str) -> bool:
        """Remove a variable (DELINFO)."""
        if self._vars.pop(_key(name), None) is None:
            return False
        return self._changed("DELINFO", name)

    def _require(self, name: str) -> Variable:
        var = self._vars.get(_key(name))
        if var is None:
            raise StateError(f"base variable ({name}) does not exist")
        return var

    def add_enum(self, name: str, value: str) -> bool:
        """Add an allowed value to a variable (ADDENUM)."""
        var = self._require(name)
        if value in var.enums:
            return False
        var.enums.append(value)
        return self._changed("ADDENUM", name, value)

    def del_enum(self, name: str, value: str) -> bool:
        """Remove an allowed value (DELENUM)."""
        var = self._require(name)
        if value not in var.enums:
            return False
        var.enums.remove(value)
        return self._changed("DELENUM", name, value)

    def add_range(self, name: str, low: int, high: int) -> bool:
        """Add an allowed numeric range (ADDRANGE)."""
        var = self._require(name)
        if (low, high) in var.ranges:
            return False
        var.ranges.append((low, high))
        return self._changed("ADDRANGE", name, str(low), str(high))

    def del_range(self, name: str, low: int, high: int) -> bool:
        """Remove a numeric range (DELRANGE)."""
        var = self._require(name)
        if (low, high) not in var.ranges:
            return False
        var.ranges.remove((low, high))
        return self._changed("DELRANGE", name, str(low), str(high))

    def set_aux(self, name: str, aux: int) -> bool:
        """Set the maximum length of a RW STRING variable (SETAUX)."""
        var = self._require(name)
        if var.aux == aux:
            return False
        var.aux = aux
        return self._changed("SETAUX", name, str(aux))

    def set_flags(self, name: str, flags: Iterable[str]) -> bool:
        """Replace a variable's flags (SETFLAGS); unknown flag words are ignored as NUT does."""
        var = self._require(name)
        wanted = frozenset(f.upper() for f in flags if f.upper() in FLAG_NAMES)
        if var.flags == wanted:
            return False
        var.flags = wanted
        return self._changed("SETFLAGS", name, *_ordered_flags(wanted))

    def add_command(self, name: str) -> bool:
        """Declare an instant command (ADDCMD)."""
        if _key(name) in self._commands:
            return False
        self._commands[_key(name)] = name
        return self._changed("ADDCMD", name)

    def del_command(self, name: str) -> bool:
        """Withdraw an instant command (DELCMD)."""
        if self._commands.pop(_key(name), None) is None:
            return False
        return self._changed("DELCMD", name)

    def set_data_ok(self, ok: bool) -> bool:
        """Mark the data fresh (DATAOK) or stale (DATASTALE)."""
        if self.data_ok == ok:
            return False
        self.data_ok = ok
        return self._changed("DATAOK" if ok else "DATASTALE")

    def clear(self) -> None:
        """Forget everything (upsd does this before a fresh DUMPALL); no events are raised."""
        self._vars.clear()
        self._commands.clear()
        self.data_ok = False

    # -- ups.status and ups.alarm, built token by token and committed at once ----------------
    def status_init(self) -> None:
        """Start building a new ups.status."""
        self._status = []

    def status_set(self, token: str) -> None:
        """Add a status token (duplicates are ignored); call between status_init and status_commit."""
        if self._status is None:
            raise StateError("status_set before status_init")
        if token not in self._status:
            self._status.append(token)

    def status_commit(self) -> bool:
        """Publish the built ups.status (with ALARM first when alarms are pending, as NUT 2.8 does)."""
        if self._status is None:
            raise StateError("status_commit before status_init")
        tokens = self._status
        if self._alarms and "ALARM" not in tokens:
            tokens = ["ALARM", *tokens]
        self._status = None
        return self.set_info("ups.status", " ".join(tokens))

    def alarm_init(self) -> None:
        """Start building a new ups.alarm."""
        self._alarms = []

    def alarm_set(self, text: str) -> None:
        """Add an alarm text; call between alarm_init and alarm_commit."""
        if self._alarms is None:
            raise StateError("alarm_set before alarm_init")
        if text not in self._alarms:
            self._alarms.append(text)

    def alarm_commit(self) -> bool:
        """Publish ups.alarm (or remove it when no alarm is pending)."""
        if self._alarms is None:
            raise StateError("alarm_commit before alarm_init")
        if self._alarms:
            return self.set_info("ups.alarm", " ".join(self._alarms))
        return self.del_info("ups.alarm")

    # -- the driver-socket view ------------------------------------------------------------
    def dump(self) -> Iterator[Message]:
        """The DUMPALL reply, in NUT's order, ending with DUMPDONE."""
        if not self.data_ok:
            yield ("DATASTALE",)
        for var in self.variables():
            yield ("SETINFO", var.name, var.value)
            for value in var.enums:
                yield ("ADDENUM", var.name, value)
            for low, high in var.ranges:
                yield ("ADDRANGE", var.name, str(low), str(high))
            if var.aux:
                yield ("SETAUX", var.name, str(var.aux))
            if var.flags:
                yield ("SETFLAGS", var.name, *_ordered_flags(var.flags))
        for name in self.commands():
            yield ("ADDCMD", name)
        if self.data_ok:
            yield ("DATAOK",)
        yield ("DUMPDONE",)

    def apply(self, words: Sequence[str]) -> bool:
        """Apply one driver-to-upsd state message; raise :class:`StateError` if it is not one."""
        if not words:
            raise StateError("empty message")
        verb = words[0].upper()
        args = list(words[1:])
        handler = _APPLIERS.get(verb)
        if handler is None:
            raise StateError(f"unknown state message {words[0]!r}")
        arity, fn = handler
        if len(args) < arity:
            raise StateError(f"{verb} needs {arity} argument(s), got {len(args)}")
        return fn(self, args)


def _ordered_flags(flags: Iterable[str]) -> list[str]:
    present = set(flags)
    return [f for f in FLAG_NAMES if f in present]


def _int(word: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise StateError(f"not a number: {word!r}") from None


_APPLIERS: dict[str, tuple[int, Callable[[DeviceState, list[str]], bool]]] = {
    "SETINFO": (2, lambda s, a: s.set_info(a[0], a[1])),
    "DELINFO": (1, lambda s, a: s.del_info(a[0])),
    "ADDENUM": (2, lambda s, a: s.add_enum(a[0], a[1])),
    "DELENUM": (2, lambda s, a: s.del_enum(a[0], a[1])),
    "ADDRANGE": (3, lambda s, a: s.add_range(a[0], _int(a[1]), _int(a[2]))),
    "DELRANGE": (3, lambda s, a: s.del_range(a[0], _int(a[1]), _int(a[2]))),
    "SETAUX": (2, lambda s, a: s.set_aux(a[0], _int(a[1]))),
    "SETFLAGS": (1, lambda s, a: s.set_flags(a[0], a[1:])),
    "ADDCMD": (1, lambda s, a: s.add_command(a[0])),
    "DELCMD": (1, lambda s, a: s.del_command(a[0])),
    "DATAOK": (0, lambda s, a: s.set_data_ok(True)),
    "DATASTALE": (0, lambda s, a: s.set_data_ok(False)),
}

STATE_MESSAGES = frozenset(_APPLIERS)
