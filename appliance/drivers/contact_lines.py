"""Contact-closure UPS logic, pure: genericups' cable table and overrides, debounce, generic_gpio's rules.

Nothing here touches a port or a pin (the last part is the event plumbing both drivers share). Lines are
TIOCM bit masks (the values of Linux's ``TIOCM_*``, which NUT's genericups also works with), GPIO levels
are ``{line number: bool}``. Facts restated from NUT: drivers/genericups.h and genericups.c (2.8.0),
drivers/generic_gpio_common.c and tests/generic_gpio_test.txt (2.8.1+, where generic_gpio first appeared).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from appliance.drivers.base import DeviceError, Driver
from appliance.nutconf.schema import OptionSpec

# Linux <asm-generic/termios.h> modem-control bits, as TIOCMGET/TIOCMSET see them.
TIOCM_DTR = 0x002
TIOCM_RTS = 0x004
TIOCM_ST = 0x008  # genericups' sentinel for "send a BREAK" in the SD position
TIOCM_CTS = 0x020
TIOCM_CD = 0x040
TIOCM_RI = 0x080
TIOCM_DSR = 0x100

INPUT_LINES: dict[str, int] = {"CTS": TIOCM_CTS, "DCD": TIOCM_CD, "RNG": TIOCM_RI, "DSR": TIOCM_DSR}
OUTPUT_LINES: dict[str, int] = {"DTR": TIOCM_DTR, "RTS": TIOCM_RTS, "ST": TIOCM_ST}
DISABLED_WORDS = frozenset(["none", "null"])
INPUT_OVERRIDES = ("OL", "LB", "RB", "BYPASS")
OUTPUT_OVERRIDES = ("CP", "SD")
DEFAULT_DEBOUNCE = 0.03
"""Seconds a new line state must stay unchanged before it counts (our addition; NUT has no debounce)."""


class ContactConfigError(ValueError):
    """A contact-closure option that cannot be used; the message names the option and the fix."""


@dataclass(frozen=True)
class InputSignal:
    """A status condition on input lines: true when ``flags & mask == value`` (NUT's line/val pair).

    ``mask`` 0 disables the signal (for OL that means "always on line", as in NUT).
    """

    mask: int = 0
    value: int = 0

    def is_disabled(self) -> bool:
        """True when no line is watched."""
        return self.mask == 0

    def is_active(self, flags: int) -> bool:
        """The condition on the modem-line bits ``flags`` (a disabled signal is never active)."""
        return self.mask != 0 and flags & self.mask == self.value


@dataclass(frozen=True)
class CableType:
    """One genericups ``upstype``: names, cable power, status lines and the shutdown lines.

    ``sd`` is the TIOCMSET value for shutdown, :data:`TIOCM_ST` for a BREAK, or None when the type has no
    shutdown (NUT's -1).
    """

    mfr: str
    model: str
    desc: str
    cp: int
    ol: InputSignal
    lb: InputSignal
    sd: int | None
    rb: InputSignal = InputSignal()
    bypass: InputSignal = InputSignal()


def _on(mask: int) -> InputSignal:
    return InputSignal(mask, mask)


def _off(mask: int) -> InputSignal:
    return InputSignal(mask, 0)


DTR_RTS = TIOCM_DTR | TIOCM_RTS
# NUT 2.8.0 genericups.h upstab[], in order; the index is the upstype.
CABLE_TYPES: tuple[CableType, ...] = (
    CableType("UPSONIC", "LAN Saver 600", "UPSONIC LAN Saver 600", DTR_RTS, _off(TIOCM_CTS), _on(TIOCM_CD), TIOCM_RTS),
    CableType(
        "APC", "Back-UPS", "APC Back-UPS (940-0095A/C cable)", TIOCM_DTR, _off(TIOCM_RI), _on(TIOCM_CD), TIOCM_RTS
    ),
    CableType(
        "APC", "Back-UPS", "APC Back-UPS (940-0020B/C cable)", TIOCM_RTS, _off(TIOCM_CTS), _on(TIOCM_CD), DTR_RTS
    ),
    CableType(
        "PowerTech",
        "Comp1000",
        "PowerTech Comp1000 with DTR as cable power",
        TIOCM_DTR,
        _off(TIOCM_CTS),
        _on(TIOCM_CD),
        DTR_RTS,
    ),
    CableType("Generic", "Generic RUPS model", "Generic RUPS model", TIOCM_RTS, _on(TIOCM_CTS), _off(TIOCM_CD), 0),
    CableType(
        "TrippLite",
        "Internet Office Series",
        "Tripp Lite UPS with Lan2.2 interface (black 73-0844 cable)",
        TIOCM_DTR,
        _on(TIOCM_CTS),
        _off(TIOCM_CD),
        DTR_RTS,
    ),
    CableType("Best", "Patriot", "Best Patriot (INT51 cable)", TIOCM_DTR, _on(TIOCM_CTS), _off(TIOCM_CD), TIOCM_RTS),
    CableType("CyberPower", "Power99", "CyberPower Power99", TIOCM_RTS, _on(TIOCM_CTS), _off(TIOCM_CD), TIOCM_DTR),
    CableType("Nitram", "Elite UPS", "Nitram Elite 500", TIOCM_DTR, _on(TIOCM_CTS), _off(TIOCM_CD), None),
    CableType("APC", "Back-UPS", "APC Back-UPS (940-0023A cable)", 0, _off(TIOCM_CD), _on(TIOCM_CTS), TIOCM_RTS),
    CableType("Victron", "Lite", "Victron Lite (crack cable)", TIOCM_RTS, _on(TIOCM_CTS), _off(TIOCM_CD), TIOCM_DTR),
    CableType("Powerware", "3115", "Powerware 3115", TIOCM_DTR, _off(TIOCM_CTS), _off(TIOCM_CD), TIOCM_ST),
    CableType(
        "APC",
        "Back-UPS Office",
        "APC Back-UPS Office (940-0119A cable)",
        TIOCM_RTS,
        _off(TIOCM_CTS),
        _on(TIOCM_CD),
        TIOCM_DTR,
    ),
    CableType("RPT", "Repoteck", "Repoteck RPT-800A, RPT-162A", DTR_RTS, _on(TIOCM_CD), _off(TIOCM_CTS), TIOCM_ST),
    CableType(
        "Online", "P250, P500, P750, P1250", "Online P-series", TIOCM_DTR, _on(TIOCM_CD), _off(TIOCM_CTS), TIOCM_RTS
    ),
    CableType("Powerware", "5119", "Powerware 5119", TIOCM_DTR, _on(TIOCM_CTS), _off(TIOCM_CD), TIOCM_ST),
    CableType("Nitram", "Elite UPS", "Nitram Elite 2002", DTR_RTS, _on(TIOCM_CTS), _off(TIOCM_CD), None),
    CableType("PowerKinetics", "9001", "PowerKinetics 9001", TIOCM_DTR, _on(TIOCM_CTS), _off(TIOCM_CD), None),
    CableType(
        "TrippLite",
        "Omni 450LAN",
        "TrippLite UPS with Martin's cabling",
        TIOCM_DTR,
        _on(TIOCM_CTS),
        _on(TIOCM_CD),
        None,
    ),
    CableType(
        "Fideltronik", "Ares Series", "Fideltronik Ares Series", TIOCM_DTR, _on(TIOCM_CTS), _off(TIOCM_CD), TIOCM_RTS
    ),
    CableType("Powerware", "5119 RM", "Powerware 5119 RM", TIOCM_DTR, _off(TIOCM_CTS), _on(TIOCM_CD), TIOCM_ST),
    CableType(
        "Generic",
        "Generic RUPS 2000",
        "Generic RUPS 2000 (Megatec M2501 cable)",
        TIOCM_RTS,
        _on(TIOCM_CTS),
        _off(TIOCM_CD),
        DTR_RTS,
    ),
    CableType(
        "Gamatronic Electronic Industries",
        "Generic Alarm UPS",
        "Gamatronic UPSs with alarm interface",
        TIOCM_RTS,
        _on(TIOCM_CTS),
        _off(TIOCM_CD),
        TIOCM_DTR,
    ),
    CableType(
        "Generic",
        "Generic FTTx Battery Backup",
        "FTTx (Fiber to the x) battery backup with 4-wire telemetry interface",
        TIOCM_RTS,
        _on(TIOCM_CTS),
        _off(TIOCM_CD),
        0,
        rb=_off(TIOCM_RI),
        bypass=_off(TIOCM_DSR),
    ),
)


def type_listing() -> str:
    """The ``-h`` list of upstypes, as genericups prints it."""
    return "\n".join(f"{number}: {cable.desc}" for number, cable in enumerate(CABLE_TYPES))


def cable_type(upstype: str | None) -> CableType:
    """The table entry for the ``upstype`` option; ContactConfigError when unset or unknown."""
    if upstype is None:
        raise ContactConfigError("upstype: not set; choose a cable type 0-23 (see genericups -h)")
    text = upstype.strip()
    if not text.isdigit() or int(text) >= len(CABLE_TYPES):
        raise ContactConfigError(
            f"upstype: unknown UPS type {upstype!r}; use a number 0-{len(CABLE_TYPES) - 1} (see genericups -h)"
        )
    return CABLE_TYPES[int(text)]


_LINE_WORD = re.compile(r"-?[A-Za-z]+")


def _words(option: str, value: str) -> list[str]:
    """The line names in an override value (any separator: ``DTR+RTS``, ``DTR RTS``, ``-CTS``)."""
    words = _LINE_WORD.findall(value)
    leftover = _LINE_WORD.sub("", value).strip(" +,|&")
    if not words or leftover:
        raise ContactConfigError(f"{option}={value!r}: not a list of line names")
    return words


def parse_input_override(option: str, value: str) -> InputSignal:
    """``OL``/``LB``/``RB``/``BYPASS`` = CTS, DCD, RNG, DSR (``-`` for "true when not asserted"), or none.

    NUT finds the names with strstr, so a misspelled name is silently ignored there; here it is an error.
    """
    mask = expected = 0
    for word in _words(option, value):
        name = word.lstrip("-").upper()
        if name.lower() in DISABLED_WORDS:
            return InputSignal()
        if name in OUTPUT_LINES:
            raise ContactConfigError(f"{option}={value!r}: {name} is an output line; inputs are CTS, DCD, RNG, DSR")
        if name not in INPUT_LINES:
            raise ContactConfigError(
                f"{option}={value!r}: no line {name}; inputs are CTS, DCD, RNG, DSR (- negates) or none"
            )
        mask |= INPUT_LINES[name]
        if not word.startswith("-"):
            expected |= INPUT_LINES[name]
    return InputSignal(mask, expected)


def parse_output_override(option: str, value: str) -> int:
    """``CP``/``SD`` = DTR, RTS, ST (BREAK); ``-X`` leaves X out; none/NULL means all lines low (0)."""
    lines = 0
    for word in _words(option, value):
        name = word.lstrip("-").upper()
        if name.lower() in DISABLED_WORDS:
            return 0
        if name in INPUT_LINES:
            raise ContactConfigError(f"{option}={value!r}: {name} is an input line; outputs are DTR, RTS, ST")
        if name not in OUTPUT_LINES:
            raise ContactConfigError(f"{option}={value!r}: no line {name}; outputs are DTR, RTS, ST or none")
        if not word.startswith("-"):
            lines |= OUTPUT_LINES[name]
    return lines


def configure_cable(options: Mapping[str, str | bool]) -> CableType:
    """The cable for ``upstype`` with the ``CP``/``SD``/``OL``/``LB``/``RB``/``BYPASS`` overrides applied."""
    cable = cable_type(_text(options, "upstype"))
    changes: dict[str, object] = {}
    for option in INPUT_OVERRIDES:
        value = _text(options, option)
        if value is not None:
            changes[option.lower()] = parse_input_override(option, value)
    for option in OUTPUT_OVERRIDES:
        value = _text(options, option)
        if value is not None:
            changes[option.lower()] = parse_output_override(option, value)
    return replace(cable, **changes)  # type: ignore[arg-type]


def _text(options: Mapping[str, str | bool], name: str) -> str | None:
    value = options.get(name)
    return value if isinstance(value, str) else None


def cable_status(cable: CableType, flags: int) -> list[str]:
    """ups.status tokens for the modem-line bits ``flags``, in genericups' order: LB, OL|OB, RB, BYPASS."""
    tokens = ["LB"] if cable.lb.is_active(flags) else []
    on_line = cable.ol.is_disabled() or flags & cable.ol.mask == cable.ol.value
    tokens.append("OL" if on_line else "OB")
    if cable.rb.is_active(flags):
        tokens.append("RB")
    if cable.bypass.is_active(flags):
        tokens.append("BYPASS")
    return tokens


def parse_debounce(value: str | None) -> float:
    """The ``debounce`` option in milliseconds (default 30) as seconds; ContactConfigError when not a number."""
    if value is None:
        return DEFAULT_DEBOUNCE
    try:
        millis = float(value)
    except ValueError:
        millis = -1.0
    if not 0 <= millis <= 10_000:
        raise ContactConfigError(f"debounce={value!r}: milliseconds from 0 to 10000")
    return millis / 1000


T = TypeVar("T")


class Debouncer(Generic[T]):
    """Settle filter: a new reading counts once it has stayed the same for ``settle`` seconds.

    A reading that returns to the accepted one before then is a glitch and is dropped. Time comes from the
    caller (``now``), so tests drive it without sleeping; the driver arms a timer at :attr:`deadline`.
    """

    def __init__(self, settle: float, accepted: T) -> None:
        self.settle = settle
        self.accepted = accepted
        self._pending: T | None = None
        self._since = 0.0

    @property
    def deadline(self) -> float | None:
        """When the pending reading will count (if it does not change before), or None when nothing is pending."""
        return None if self._pending is None else self._since + self.settle

    def feed(self, reading: T, now: float) -> T | None:
        """Take a reading at ``now``; returns the newly accepted value when this settles it, else None."""
        if reading == self.accepted:
            self._pending = None
            return None
        if reading != self._pending:
            self._pending, self._since = reading, now
        return self.expire(now)

    def expire(self, now: float) -> T | None:
        """Accept the pending reading if it has been stable long enough; returns it then, else None."""
        deadline = self.deadline
        if self._pending is None or deadline is None or now < deadline:
            return None
        self.accepted, self._pending = self._pending, None
        return self.accepted


# -- generic_gpio rules ---------------------------------------------------------------------------
RULE_NOT = -2
RULE_AND = -3
RULE_OR = -4
_RULE_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z]+)|(?P<line>[0-9]+)|(?P<op>[=;^&|])|(?P<bad>.))")


@dataclass(frozen=True)
class GpioRule:
    """One ``STATE=expr;`` of generic_gpio's rules, compiled as NUT does.

    ``items`` are line numbers and the operators :data:`RULE_NOT`, :data:`RULE_AND`, :data:`RULE_OR`.
    """

    state: str
    items: tuple[int, ...]

    def evaluate(self, levels: Mapping[int, bool]) -> bool:
        """The rule on line levels: ``&`` binds tighter than ``|``, ``^`` negates one line."""
        groups: list[list[bool]] = [[]]
        negate = False
        for item in self.items:
            if item == RULE_OR:
                groups.append([])
            elif item == RULE_NOT:
                negate = True
            elif item != RULE_AND:
                groups[-1].append(levels.get(item, False) != negate)
                negate = False
        return any(all(group) for group in groups)


@dataclass(frozen=True)
class GpioRules:
    """All rules of the ``rules`` option, and the lines they read in order of first use."""

    rules: tuple[GpioRule, ...]

    @property
    def lines(self) -> list[int]:
        """The GPIO line numbers the rules read, each once, in order of first appearance."""
        seen: dict[int, None] = {}
        for rule in self.rules:
            for item in rule.items:
                if item >= 0:
                    seen.setdefault(item)
        return list(seen)

    def true_states(self, levels: Mapping[int, bool]) -> list[str]:
        """The state names whose rule holds, in rule order."""
        return [rule.state for rule in self.rules if rule.evaluate(levels)]


def parse_rules(text: str) -> GpioRules:
    """Parse ``rules`` (``OL=^0;OB=0;LB=3;...``); ContactConfigError naming the position on a syntax error.

    NUT's grammar: ``STATE=[^]line{(&||)[^]line};`` repeated, each rule ending with ``;``. NUT stops at the
    first character it does not know (a space, say) and silently ignores the rest when a rule just ended;
    we skip blanks between tokens and reject any other character instead.
    """
    rules: list[GpioRule] = []
    state = ""
    items: list[int] = []
    expect = "state"  # state, =, operand, line, operator
    for match in _RULE_TOKEN.finditer(text.rstrip()):
        kind = match.lastgroup or "bad"
        token, position = match.group(kind), match.start(kind)
        if expect == "state" and kind == "name":
            state, items, expect = token.upper(), [], "="
        elif expect == "=" and token == "=":
            expect = "operand"
        elif expect == "operand" and token == "^":
            items.append(RULE_NOT)
            expect = "line"
        elif expect in ("operand", "line") and kind == "line":
            items.append(int(token))
            expect = "operator"
        elif expect == "operator" and token in "&|" and kind == "op":
            items.append(RULE_AND if token == "&" else RULE_OR)
            expect = "operand"
        elif expect == "operator" and token == ";":
            rules.append(GpioRule(state, tuple(items)))
            expect = "state"
        else:
            raise ContactConfigError(f"rules: syntax error at position {position} ({token!r}): {_RULE_HINT}")
    if expect != "state" or not rules:
        raise ContactConfigError(f"rules: incomplete at position {len(text)}: {_RULE_HINT}")
    return GpioRules(tuple(rules))


_RULE_HINT = "write STATE=[^]line[&|[^]line]...; with every rule ending in ';', e.g. OL=^0;OB=0;LB=3;"


@dataclass(frozen=True)
class GpioStatus:
    """What generic_gpio publishes for one set of line levels.

    ``battery_charge`` None means "delete battery.charge" (on BYPASS, or nothing to publish).
    """

    tokens: list[str]
    charger_status: str | None
    battery_charge: str | None


def gpio_status(rules: GpioRules, levels: Mapping[int, bool], charge_low: str | None) -> GpioStatus:
    """generic_gpio's update: the true states; CHRG/DISCHRG as battery.charger.status; LB/100 % charge.

    With ``battery.charge.low`` known, battery.charge is that value under LB and 100 otherwise; BYPASS
    (no battery) removes battery.charge.
    """
    tokens = rules.true_states(levels)
    charger: str | None = None
    for token, text in (("CHRG", "charging"), ("DISCHRG", "discharging")):
        if token in tokens:
            charger = text
    charge = None if charge_low is None else (charge_low if "LB" in tokens else "100")
    if "BYPASS" in tokens:
        charge = None
    return GpioStatus(list(dict.fromkeys(tokens)), charger, charge)


def levels_from(lines: Sequence[int], values: Sequence[bool]) -> dict[int, bool]:
    """Line levels keyed by line number, from values given in the order of ``lines``."""
    return dict(zip(lines, values, strict=True))


# -- the event plumbing both contact-closure drivers share (no I/O) ------------------------------
def option_check(parse: Callable[[str], object]) -> Callable[[str], str | None]:
    """A config-schema check from a parser that raises ContactConfigError: the problem, or None."""

    def check(value: str) -> str | None:
        try:
            parse(value)
        except ContactConfigError as err:
            head, sep, rest = str(err).partition(": ")
            return rest if sep and head.isidentifier() else str(err)  # the config error names the option already
        return None

    return check


def whole_number_check(option: str) -> Callable[[str], str | None]:
    """A config-schema check for an option that takes a whole number (seconds, a line number)."""

    def check(value: str) -> str | None:
        return None if value.strip().isdigit() else f"{option}={value!r}: a whole number"

    return check


DEBOUNCE_OPTION = OptionSpec(
    "debounce", help="Milliseconds a line change must hold before it counts (30)", check=option_check(parse_debounce)
)


class ContactClosureDriver(Driver):
    """What both contact-closure drivers share: debounced status from line readings, pushed from another thread.

    Subclasses feed readings with :meth:`reading_from_thread` (or :meth:`take_reading` in the loop) and say how a
    reading becomes status with :meth:`publish`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.debounce = parse_debounce(self.config.option("debounce"))
        self.debouncer: Debouncer[Any] | None = None
        self.failure: Exception | None = None
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start_readings(self, first: object) -> None:
        """Publish the first reading at once and accept later ones through the debouncer."""
        self._loop = asyncio.get_running_loop()
        self.failure = None
        self.debouncer = Debouncer(self.debounce, first)
        self.publish(first)

    def stop_readings(self) -> None:
        """Forget pending readings (the device is being closed)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self.debouncer = None

    def reading_from_thread(self, reading: object) -> None:
        """A reading from a watcher thread: handed to the event loop."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self.take_reading, reading)

    def failure_from_thread(self, err: Exception) -> None:
        """The watcher thread lost the device: data stale at once; the next update reports it and reconnects."""
        self.failure = err
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.state.set_data_ok, False)

    def take_reading(self, reading: object) -> None:
        """A reading in the event loop: published once it has settled."""
        if self.debouncer is None:
            return
        accepted = self.debouncer.feed(reading, self.clock())
        if accepted is not None:
            self.publish(accepted)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.debouncer.deadline if self.debouncer is not None else None
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_later(max(0.0, deadline - self.clock()), self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self.debouncer is None:
            return
        accepted = self.debouncer.expire(self.clock())
        if accepted is not None:
            self.publish(accepted)
        self._arm()

    def publish(self, reading: Any) -> None:
        """Turn an accepted reading into variables (the subclass knows how)."""
        raise NotImplementedError

    def publish_status(self, tokens: list[str]) -> None:
        """Commit ``tokens`` as ups.status."""
        self.state.status_init()
        for token in tokens:
            self.state.status_set(token)
        self.state.status_commit()

    def raise_failure(self) -> None:
        """Raise the watcher's failure as a DeviceError (so the runner marks the data stale and reconnects)."""
        if self.failure is not None:
            raise DeviceError(f"port {self.config.port}: lost ({self.failure})")
