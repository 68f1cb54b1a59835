"""dummy-ups: NUT's simulation and repeater driver (NUT 2.8.0 drivers/dummy-ups.c, docs/man/dummy-ups.txt).

Modes, from the ``mode`` option or else from ``port`` (as NUT decides):

- ``dummy-once`` (default for ``*.dev``): play the definition file once to its end (pausing at ``TIMER``
  lines); values set with upsrw stay until the file changes on disk, which replays it;
- ``dummy-loop`` (default for ``*.seq``) and ``dummy`` (any other name; NUT's pre-2.8 name): play it again and
  again;
- ``repeater`` (``port = ups@host[:port]``): relay a UPS of another NUT server.

The file is an upsc dump (see ``dev_file.py``). Every variable is writable, exactly as NUT's dummy-ups
publishes it: the variables of its built-in table get that table's flags, any other one ``RW STRING`` with a
length of 32. ``load.off`` is always listed. Beyond NUT, the nut-ddl annotations count: ``#CMD:`` lines add
commands, ``#RW:`` lines add enums, ranges and string lengths (and SET checks values against them), and a
listed command succeeds (NUT's dummy-ups answers "unknown" to every command, even ``load.off``).

The repeater relays variables, commands and the writable variables' types (LIST VAR, LIST CMD, LIST RW,
GET TYPE, LIST ENUM, LIST RANGE); unlike NUT's it keeps the remote's read-only variables read-only. SET and
INSTCMD are not forwarded (NUT's repeater does not forward them either).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.clients.nut_client import AsyncNutClient, NutError
from appliance.clients.upsname import UpsAddress, UpsNameError, split_name
from appliance.drivers.base import DeviceError, Driver
from appliance.drivers.dev_file import (
    DEFAULT_STRING_AUX,
    MAX_VALUE,
    DevFile,
    Sequence,
    Writable,
    decode,
    is_variable_name,
    parse_dev_file,
)
from appliance.nutconf.schema import OptionSpec
from appliance.protocol.driver_socket import STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN

logger = logging.getLogger(__name__)

MODES = ("dummy-once", "dummy-loop", "dummy", "repeater")
# The bundled simulation (OL -> OB DISCHRG -> OB LB -> OL), for a demo without any config.
DEFAULT_SEQUENCE = Path(__file__).resolve().parent.parent / "data" / "default.seq"


def _check_mode(value: str) -> str | None:
    return None if value in MODES else f"unknown mode {value!r}: use one of {', '.join(MODES)}"


@dataclass(frozen=True)
class VariableType:
    """Flags and string length a variable is published with."""

    flags: tuple[str, ...]
    aux: int = 0


RW_STRING = ("RW", "STRING")
RW_NUMBER = ("RW",)
# NUT's dummy-ups table (dummy-ups.h): the variables it knows get these flags; any other one RW STRING:32.
# (NUT lists ups.serial twice, with 32 and 16; its lookup finds the first.)
KNOWN_TYPES: dict[str, VariableType] = {
    **{name: VariableType(RW_STRING, 32) for name in ("ups.mfr", "ups.model", "ups.status", "ups.serial", "ups.alarm")},
    **{
        name: VariableType(RW_STRING, 16)
        for name in ("ups.time", "ups.date", "ups.mfr.date", "ups.firmware", "ups.firmware.aux", "ups.id")
    },
    "ups.test.result": VariableType(RW_STRING, 16),
    "input.transfer.reason": VariableType(RW_STRING, 1),
    "input.sensitivity": VariableType(RW_STRING, 1),
    "input.quality": VariableType(RW_STRING, 6),
    **{
        name: VariableType(RW_NUMBER)
        for name in (
            "ups.load",
            "ups.temperature",
            "ups.delay.start",
            "ups.delay.reboot",
            "ups.delay.shutdown",
            "ups.test.interval",
            "input.voltage",
            "input.voltage.maximum",
            "input.voltage.minimum",
            "input.voltage.nominal",
            "input.transfer.low",
            "input.transfer.high",
            "input.frequency",
            "input.transfer.boost.low",
            "input.transfer.boost.high",
            "input.transfer.trim.low",
            "input.transfer.trim.high",
            "output.voltage",
            "output.frequency",
            "output.current",
            "battery.charge",
            "battery.charge.low",
            "battery.voltage",
            "battery.current",
            "battery.runtime",
            "battery.runtime.low",
            "battery.charge.restart",
            "battery.temperature",
            "battery.voltage.nominal",
            "ambient.temperature",
            "ambient.temperature.alarm",
            "ambient.temperature.high",
            "ambient.temperature.low",
            "ambient.humidity",
            "ambient.humidity.alarm",
            "ambient.humidity.high",
            "ambient.humidity.low",
        )
    },
}
DEFAULT_TYPE = VariableType(RW_STRING, DEFAULT_STRING_AUX)
# Published before the file is read (NUT's DU_FLAG_INIT entries).
INITIAL_VALUES = {"ups.mfr": "Dummy Manufacturer", "ups.model": "Dummy UPS", "ups.status": "OL"}
ALWAYS_COMMANDS = ("load.off",)


def guess_mode(port: str, mode: str | None) -> str:
    """The running mode NUT 2.8.0 picks from the ``mode`` option and the port."""
    if mode == "repeater" or (mode is None and "@" in port):
        return "repeater"
    if mode in ("dummy-once", "dummy-loop"):
        return mode
    if mode == "dummy":
        return "dummy-loop"
    if port.endswith(".seq"):
        return "dummy-loop"
    if port.endswith(".dev"):
        return "dummy-once"
    return "dummy"


class DummyUps(Driver):
    """NUT's dummy-ups; see the module docstring."""

    name = "dummy-ups"
    version = "0.15"
    description = "Device simulation and repeater driver"
    options = (
        OptionSpec(
            "mode",
            help="Specify mode instead of guessing it from port value (dummy = dummy-loop, dummy-once, repeater)",
            check=_check_mode,
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = "dummy"
        self._file: DevFile | None = None
        self._signature: tuple[int, int] | None = None
        self._sequence: Sequence | None = None
        self._remote: AsyncNutClient | None = None
        self._relayed: set[str] = set()

    async def open(self) -> None:
        """Decide the mode; read the definition file or connect to the remote server."""
        option = self.config.option("mode")
        self.mode = guess_mode(self.config.port, option)
        self.state.set_info("driver.parameter.mode", "dummy" if self.mode == "dummy" else self.mode)
        if self.mode == "repeater":
            await self._connect()
        else:
            self._load(force=True)

    async def initinfo(self) -> None:
        """Publish NUT's initial variables, then the file's first part, then the commands."""
        if self.mode != "repeater":
            for name, value in INITIAL_VALUES.items():
                if name not in self.state:
                    self.state.set_info(name, value)
                    self._publish_type(name, None)
            self._play()
        for command in ALWAYS_COMMANDS:
            self.state.add_command(command)

    async def update(self) -> float | None:
        """Replay what is due in the file (re-reading it when it changed) or relay the remote UPS."""
        if self.mode == "repeater":
            await self._relay()
            return None
        self._load(force=False)
        self._play()
        assert self._sequence is not None
        return self._sequence.seconds_to_next()

    async def instcmd(self, name: str, param: str | None) -> int:
        """A listed command succeeds (simulated: only logged); any other one is unknown."""
        if self.mode == "repeater" or not self.state.has_command(name):
            logger.info("instcmd: unknown command [%s] [%s]", name, param)
            return STAT_UNKNOWN
        logger.info("instcmd: simulated %s%s", name, f" {param}" if param is not None else "")
        return STAT_HANDLED

    async def setvar(self, name: str, value: str) -> int:
        """Set (or, with an empty value, delete) any variable, as NUT's dummy-ups does; check annotated values."""
        if self.mode == "repeater":
            logger.info("setvar: %s not forwarded to the repeated UPS", name)
            return STAT_UNKNOWN
        if not is_variable_name(name) or name.lower().startswith("driver."):
            return STAT_INVALID
        writable = self._writable(name)
        if value and writable is not None and not _accepts(writable, value):
            logger.info("setvar: %r is not an allowed value of %s", value, name)
            return STAT_INVALID
        self._store(name, [value], empty_deletes=True)
        return STAT_HANDLED

    async def shutdown(self) -> None:
        """Simulated killpower: logged, and it succeeds (NUT's dummy-ups refuses with an error)."""
        logger.warning("simulated shutdown of %s (dummy-ups)", self.config.ups)

    async def close(self) -> None:
        """Disconnect from the remote server (repeater)."""
        if self._remote is not None:
            remote, self._remote = self._remote, None
            await remote.close()

    # -- simulation ------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The definition file: ``port``, relative to the config directory unless absolute."""
        port = Path(self.config.port)
        return port if port.is_absolute() else self.config.config_dir / port

    def _load(self, *, force: bool) -> None:
        """(Re-)read the file when forced or when it changed on disk; a missing file is a device error."""
        path = self.path
        try:
            stat = path.stat()
            signature = (stat.st_mtime_ns, stat.st_size)
            if not force and signature == self._signature:
                return
            data = path.read_bytes()
        except OSError as err:
            raise DeviceError(f"Can't open dummy-ups definition file {path}: {err.strerror or err}") from None
        if self._signature is not None:
            logger.info("definition file %s changed: re-reading it", path)
        self._signature = signature
        self._file = parse_dev_file(decode(data), str(path))
        for diagnostic in self._file.diagnostics:
            log = logger.error if diagnostic.severity == "error" else logger.warning
            log("%s", diagnostic)
        self._sequence = Sequence(self._file.entries, loop=self.mode != "dummy-once", clock=self.clock)
        for command in self._file.commands:
            self.state.add_command(command)

    def _play(self) -> None:
        assert self._sequence is not None
        for entry in self._sequence.due():
            # dummy-ups leaves the driver.* collection to the driver core.
            if not entry.name.lower().startswith("driver."):
                self._store(entry.name, list(entry.words), empty_deletes=False)

    def _writable(self, name: str) -> Writable | None:
        return self._file.writable.get(name.lower()) if self._file is not None else None

    def _store(self, name: str, words: list[str], *, empty_deletes: bool) -> None:
        """NUT's dummy-ups setvar: ups.status through the status builder, else the value plus its type.

        An empty value deletes the variable when it comes from SET (as in NUT). From the file it is published
        empty, as the dumped device reported it: NUT 2.8.0 instead reuses the previous line's value there (its
        value buffer is not cleared), so ``ups.mfr:`` after ``ups.load: 14`` shows ``ups.mfr: 14``.
        """
        if name.lower() == "ups.status":
            self.state.status_init()
            for token in " ".join(words).split():
                self.state.status_set(token)
            self.state.status_commit()
            return
        value = " ".join(words)[:MAX_VALUE]
        if not value and empty_deletes:
            self.state.del_info(name)
            return
        self.state.set_info(name, value)
        self._publish_type(name, self._writable(name))

    def _publish_type(self, name: str, writable: Writable | None) -> None:
        known = KNOWN_TYPES.get(name.lower(), DEFAULT_TYPE)
        flags, aux = set(known.flags), known.aux
        if writable is not None:
            if writable.aux is not None:
                flags.add("STRING")
                aux = writable.aux
            if writable.ranges:
                flags.discard("STRING")
                flags.add("NUMBER")
        self.state.set_flags(name, flags)
        if "STRING" in flags:
            self.state.set_aux(name, aux)
        if writable is not None:
            for value in writable.enums:
                self.state.add_enum(name, value)
            for low, high in writable.ranges:
                self.state.add_range(name, low, high)

    # -- repeater --------------------------------------------------------------------------------
    def _address(self) -> UpsAddress:
        try:
            address = split_name(self.config.port)
        except UpsNameError as err:
            raise DeviceError(
                f"invalid UPS definition {self.config.port!r} ({err}): use upsname[@host[:port]]"
            ) from None
        if address.ups is None:
            raise DeviceError(f"invalid UPS definition {self.config.port!r}: use upsname[@host[:port]]")
        return address

    async def _connect(self) -> None:
        address = self._address()
        try:
            self._remote = await AsyncNutClient.connect(address.host, address.port)
        except NutError as err:
            raise DeviceError(f"repeater: {address}: {err}") from None
        logger.info("repeater: connected to %s", address)
        self._relayed = set()

    async def _relay(self) -> None:
        if self._remote is None:
            await self._connect()
        assert self._remote is not None
        ups = self._address().ups
        assert ups is not None
        try:
            variables = await self._remote.list_var(ups)
            writable = await self._remote.list_rw(ups)
            commands = await self._remote.list_cmd(ups)
            types = {name: await self._remote_type(ups, name) for name in writable if name in variables}
        except NutError as err:
            await self.close()
            raise DeviceError(f"repeater: {self.config.port}: {err}") from None
        relayed = {name for name in variables if not name.lower().startswith("driver.")}
        for name in sorted(relayed):
            self.state.set_info(name, variables[name])
            self.state.set_flags(name, types[name].flags if name in types else ())
            if name in types and types[name].aux:
                self.state.set_aux(name, types[name].aux)
        for name, kind in types.items():
            for value in kind.enums:
                self.state.add_enum(name, value)
            for low, high in kind.ranges:
                self.state.add_range(name, low, high)
        for name in self._relayed - relayed:
            self.state.del_info(name)
        self._relayed = relayed
        for command in commands:
            self.state.add_command(command)

    async def _remote_type(self, ups: str, name: str) -> _RemoteType:
        assert self._remote is not None
        words = [w.upper() for w in await self._remote.get_type(ups, name)]
        flags = ["RW"] if "RW" in words else []
        aux = 0
        for word in words:
            if word.startswith("STRING:"):
                flags.append("STRING")
                aux = _int(word.partition(":")[2])
            elif word == "NUMBER":
                flags.append("NUMBER")
        enums = await self._remote.list_enum(ups, name) if "ENUM" in words else []
        ranges = [(_int(a), _int(b)) for a, b in await self._remote.list_range(ups, name)] if "RANGE" in words else []
        return _RemoteType(tuple(flags), aux, enums, ranges)


@dataclass(frozen=True)
class _RemoteType:
    flags: tuple[str, ...]
    aux: int
    enums: list[str]
    ranges: list[tuple[int, int]]


def _int(word: str) -> int:
    try:
        return int(word)
    except ValueError:
        return 0


def _accepts(writable: Writable, value: str) -> bool:
    """True when ``value`` fits the annotated enums, ranges and length."""
    if writable.enums and value not in writable.enums:
        return False
    if writable.ranges:
        try:
            number = int(value)
        except ValueError:
            return False
        if not any(low <= number <= high for low, high in writable.ranges):
            return False
    return writable.aux is None or len(value) <= writable.aux
