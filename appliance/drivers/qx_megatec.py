"""The Megatec/Q1 dialect of nutdrv_qx as tables: queries, reply columns, status bits, commands (NUT 2.8.0 facts).

A dialect is data: the queries to send, where each variable sits in the reply (columns counted from the reply's
first character, both ends included, as NUT's tables count them), its printf format, and the instant commands with
their wire strings. Another dialect (voltronic, mustek, krauler, ...) is another :class:`Dialect` value; the
driver (``nutdrv_qx.py``) does not change.

Megatec::

    Q1\\r -> (215.0 195.0 230.0 014 49.0 22.7 30.0 00000000\\r     47 bytes, status bits at columns 38-45
    F\\r  -> #230.0 004 24.00 50.0\\r                               22 bytes, ratings (read once)
    I\\r  -> #<mfr, 15> <model, 10> <firmware, 10>\\r               39 bytes, identity (read once)

An unsupported query comes back echoed; the driver then skips it. A command is taken when the UPS says nothing
or ``ACK``; any other reply (an echo, ``NAK``) means it refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

OFFDELAY_DEFAULT = 30
ONDELAY_DEFAULT = 180
OFFDELAY_RANGE = (12, 600)
ONDELAY_RANGE = (0, 599940)
DELAY_RANGES = {"ups.delay.shutdown": OFFDELAY_RANGE, "ups.delay.start": ONDELAY_RANGE}
TEST_SECONDS_DEFAULT = 600
TEST_SECONDS_RANGE = (60, 5940)


class CommandError(ValueError):
    """An instant command's parameter or the delays it needs are out of range."""


@dataclass(frozen=True)
class Column:
    """A variable read from reply columns ``start``..``end`` (inclusive) and printed with ``fmt``."""

    var: str
    start: int
    end: int
    fmt: str = "%s"  # "%s" for text (trimmed), a float format otherwise


@dataclass(frozen=True)
class Query:
    """One request and the layout of its reply."""

    command: str
    length: int  # the reply's length, its CR included
    lead: str  # the reply's first character
    columns: tuple[Column, ...]
    static: bool = False  # read once, at initinfo
    status_bits: int | None = None  # the column of the first of eight status bits


@dataclass(frozen=True)
class Dialect:
    """A protocol of the Q* family."""

    name: str
    version: str
    queries: tuple[Query, ...]
    commands: dict[str, Callable[[Delays, str | None], str]] = field(default_factory=dict)
    accepted: str | None = None  # the reply of a UPS that took a command; no reply is taken as yes too


@dataclass
class Delays:
    """ups.delay.shutdown (offdelay, seconds) and ups.delay.start (ondelay, seconds)."""

    offdelay: int = OFFDELAY_DEFAULT
    ondelay: int = ONDELAY_DEFAULT

    def set(self, name: str, value: str) -> int:
        """Set a delay (ups.delay.shutdown/start) as the UPS can take it; the value kept, in seconds.

        Out of range or not a number raises :class:`CommandError`. As NUT's blazer rules: ondelay is truncated to
        whole minutes, offdelay to 6 s steps below a minute and whole minutes above.
        """
        low, high = DELAY_RANGES[name]
        if not value.strip().isdigit() or not low <= int(value) <= high:
            raise CommandError(f"{name} {value!r} out of range [{low}..{high}] seconds")
        seconds = int(value)
        if name == "ups.delay.start":
            self.ondelay = seconds - seconds % 60
            return self.ondelay
        self.offdelay = seconds - seconds % (6 if seconds < 60 else 60)
        return self.offdelay


def parse_reply(query: Query, reply: str) -> dict[str, str] | None:
    """The variables of one reply (CR stripped or not), or None when it is not a reply to ``query``.

    A short reply, a wrong first character or an echo of the command is no reply. A column that does not parse as
    a number is left out, as NUT leaves it out.
    """
    text = reply.rstrip("\r")
    if text == query.command.rstrip("\r") or len(text) + 1 < query.length or not text.startswith(query.lead):
        return None
    values: dict[str, str] = {}
    for column in query.columns:
        raw = text[column.start : column.end + 1].strip()
        if column.fmt == "%s":
            if raw:
                values[column.var] = raw
            continue
        try:
            values[column.var] = column.fmt % float(raw)
        except ValueError:
            continue
    return values


QUICK_POLL_BITS = (0, 1, 2, 5, 6)  # the status bits NUT must read every poll: a bad one fails the poll
SHUTDOWN_ACTIVE_BIT = 6
STATUS_ORDER = ("OL", "OB", "LB", "TRIM", "BOOST", "BYPASS", "CAL", "FSD")  # NUT's ups_status_set order


def _bypass_token(input_voltage: str | None, output_voltage: str | None) -> str | None:
    """TRIM, BYPASS or BOOST from the output/input voltage ratio; None when the ratio makes no sense."""
    try:
        vi, vo = float(input_voltage or ""), float(output_voltage or "")
    except ValueError:
        return None
    for limit, token in ((0.5, None), (0.95, "TRIM"), (1.05, "BYPASS"), (1.5, "BOOST")):
        if vo < limit * vi:
            return token
    return None


def status_from_bits(
    bits: str, input_voltage: str | None, output_voltage: str | None, ignore_sab: bool = False
) -> dict[str, str] | None:
    """ups.status, ups.alarm, ups.type and ups.beeper.status from the eight Q1 status bits.

    None when the reply cannot be trusted, as NUT fails the poll then: a status bit NUT reads every poll (utility
    fail, battery low, bypass/boost/buck, test, shutdown active) that is neither 0 nor 1, or bit 2 set while the
    output/input voltage ratio is outside 0.5-1.5. The other bits (UPS failed, type, beeper) are skipped when bad.
    ``ignore_sab`` (ups.conf ``ignoresab``) ignores the shutdown-active bit of units that always set it.
    """
    bit = {i: bits[i] for i in range(min(len(bits), 8)) if bits[i] in "01"}
    needed = [i for i in QUICK_POLL_BITS if not (ignore_sab and i == SHUTDOWN_ACTIVE_BIT)]
    if any(i not in bit for i in needed):
        return None
    tokens = ["OB" if bit[0] == "1" else "OL"]
    alarms: list[str] = []
    values: dict[str, str] = {}
    if bit[1] == "1":
        tokens.append("LB")
    if bit[2] == "1":
        token = _bypass_token(input_voltage, output_voltage)
        if token is None:
            return None
        tokens.append(token)
    if bit.get(3) == "1":
        alarms.append("UPS selftest failed!")
    if 4 in bit:
        values["ups.type"] = "offline / line interactive" if bit[4] == "1" else "online"
    if bit[5] == "1":
        tokens.append("CAL")
    if not ignore_sab and bit[SHUTDOWN_ACTIVE_BIT] == "1":
        tokens.append("FSD")
        alarms.append("Shutdown imminent!")
    if 7 in bit:
        values["ups.beeper.status"] = "enabled" if bit[7] == "1" else "disabled"
    values["ups.status"] = " ".join(sorted(tokens, key=STATUS_ORDER.index))
    if alarms:
        values["ups.alarm"] = " ".join(alarms)
    return values


def _minutes(offdelay: int) -> str:
    """The Sn field: tenths of a minute (.2-.9) below a minute, whole minutes (01-10) above."""
    if offdelay < 0:
        raise CommandError(f"offdelay {offdelay} should not be negative")
    return f".{offdelay // 6}" if offdelay < 60 else f"{offdelay // 60:02d}"


def shutdown_return(delays: Delays, _param: str | None) -> str:
    """Sn (back on with mains) or SnRmmmm (back on mmmm minutes later)."""
    ondelay = delays.ondelay // 60
    if ondelay <= 0:
        return f"S{_minutes(delays.offdelay)}\r"
    return f"S{_minutes(delays.offdelay)}R{ondelay:04d}\r"


def shutdown_stayoff(delays: Delays, _param: str | None) -> str:
    """SnR0000: shut down and stay off."""
    return f"S{_minutes(delays.offdelay)}R0000\r"


def battery_test(_delays: Delays, param: str | None) -> str:
    """Tnn: a battery test of nn minutes; the parameter is in seconds (default 600, 60-5940)."""
    try:
        seconds = int(param) if param else TEST_SECONDS_DEFAULT
    except ValueError as exc:
        raise CommandError(f"battery test time {param!r} is not a number of seconds") from exc
    low, high = TEST_SECONDS_RANGE
    if not low <= seconds <= high:
        raise CommandError(f"battery test time {seconds} out of range [{low}..{high}] seconds")
    return f"T{seconds // 60:02d}\r"


def _fixed(wire: str) -> Callable[[Delays, str | None], str]:
    return lambda _delays, _param: wire


MEGATEC = Dialect(
    name="megatec",
    version="Megatec 0.06",
    queries=(
        Query(
            "Q1\r",
            47,
            "(",
            (
                Column("input.voltage", 1, 5, "%.1f"),
                Column("input.voltage.fault", 7, 11, "%.1f"),
                Column("output.voltage", 13, 17, "%.1f"),
                Column("ups.load", 19, 21, "%.0f"),
                Column("input.frequency", 23, 26, "%.1f"),
                Column("battery.voltage", 28, 31, "%.2f"),
                Column("ups.temperature", 33, 36, "%.1f"),
            ),
            status_bits=38,
        ),
        Query(
            "F\r",
            22,
            "#",
            (
                Column("input.voltage.nominal", 1, 5, "%.0f"),
                Column("input.current.nominal", 7, 9, "%.1f"),
                Column("battery.voltage.nominal", 11, 15, "%.1f"),
                Column("input.frequency.nominal", 17, 20, "%.0f"),
            ),
            static=True,
        ),
        Query(
            "I\r",
            39,
            "#",
            (Column("device.mfr", 1, 15), Column("device.model", 17, 26), Column("ups.firmware", 28, 37)),
            static=True,
        ),
    ),
    commands={
        "beeper.toggle": _fixed("Q\r"),
        "load.off": _fixed("S00R0000\r"),
        "load.on": _fixed("C\r"),
        "shutdown.return": shutdown_return,
        "shutdown.stayoff": shutdown_stayoff,
        "shutdown.stop": _fixed("C\r"),
        "test.battery.start": battery_test,
        "test.battery.start.deep": _fixed("TL\r"),
        "test.battery.start.quick": _fixed("T\r"),
        "test.battery.stop": _fixed("CT\r"),
    },
    accepted="ACK",
)

DIALECTS = {MEGATEC.name: MEGATEC}
