"""The hook contract every driver implements, NUT's ``main.h`` restated for asyncio.

A driver is a subclass of :class:`Driver`. The runner (``runner.py``, NUT's ``main.c``) builds it with a
:class:`DriverConfig` (what ``ups.conf`` and ``-x`` said), a :class:`DriverState` to publish into and a clock,
then calls the hooks in NUT's order::

    open()        upsdrv_initups: find and open the device; raise DeviceError if it is not there
    initinfo()    upsdrv_initinfo: publish the static variables and the instant commands
    update()      upsdrv_updateinfo: poll the device, every pollinterval; raise DeviceError when it is lost
    instcmd()     an instant command from upsd (INSTCMD), returns a STAT_* code
    setvar()      a SET from upsd, returns a STAT_* code
    shutdown()    killpower (``-k``): tell the UPS to cut the load; raise DeviceError on failure
    close()       upsdrv_cleanup

Freshness belongs to the runner: it marks the data OK after a successful ``update()`` and stale when a hook
raises :class:`DeviceError`, then reconnects with ``close()``/``open()``/``initinfo()``. Blocking I/O inside a hook
must go through ``asyncio.to_thread`` so the driver socket keeps serving.

Defining a subclass with a ``name`` registers its options with the config schema
(``appliance.nutconf.schema.register_driver``), so ``check-config`` knows them once the module is imported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from appliance.nutconf import schema
from appliance.nutconf.schema import OptionSpec
from appliance.protocol.driver_socket import STAT_UNKNOWN
from appliance.state import DeviceState

Clock = Callable[[], float]


class DeviceError(Exception):
    """The device cannot be reached or answered nonsense; the message says so for the log."""


class DriverState(DeviceState):
    """A driver's DeviceState with NUT's ``override.*`` semantics: an overridden variable never changes.

    NUT marks such variables ST_FLAG_IMMUTABLE: later SETINFO/DELINFO/SETFLAGS from the driver are ignored and
    the variable is published without flags (so it is not writable).
    """

    def __init__(self) -> None:
        super().__init__()
        self._immutable: set[str] = set()

    def override(self, name: str, value: str) -> None:
        """Publish ``name`` = ``value`` for good (ups.conf ``override.<name>``)."""
        self._immutable.discard(name.lower())
        self.set_info(name, value)
        self.set_flags(name, ())
        self._immutable.add(name.lower())

    def is_immutable(self, name: str) -> bool:
        """True for an overridden variable."""
        return name.lower() in self._immutable

    def set_info(self, name: str, value: str) -> bool:
        """SETINFO, except on an overridden variable."""
        if self.is_immutable(name):
            return False
        return super().set_info(name, value)

    def del_info(self, name: str) -> bool:
        """DELINFO, except on an overridden variable."""
        if self.is_immutable(name):
            return False
        return super().del_info(name)

    def set_flags(self, name: str, flags: Iterable[str]) -> bool:
        """SETFLAGS, except on an overridden variable."""
        if self.is_immutable(name):
            return False
        return super().set_flags(name, flags)


@dataclass
class DriverConfig:
    """What a driver needs to know from ups.conf / the command line.

    ``options`` holds the driver's own options (``-x`` and ups.conf keys its :attr:`Driver.options` declare),
    flags as True. ``config_dir`` is where relative paths (dummy-ups' data file) are resolved.
    """

    ups: str
    port: str
    options: dict[str, str | bool] = field(default_factory=dict)
    pollinterval: float = 2.0
    config_dir: Path = Path("/etc/nut")

    def option(self, name: str) -> str | None:
        """The value of a driver option, or None when unset (or given as a flag)."""
        value = self.options.get(name)
        return value if isinstance(value, str) else None

    def flag(self, name: str) -> bool:
        """True when a flag option is set."""
        return self.options.get(name) is True


class Driver:
    """Base class of every driver; override the hooks (see the module docstring)."""

    name: ClassVar[str] = ""
    """The driver name as written in ups.conf (``dummy-ups``); also its socket's prefix."""
    version: ClassVar[str] = "0.0"
    """This driver's own version (``driver.version.internal``)."""
    description: ClassVar[str] = ""
    """One line for ``-h`` and logs (NUT's upsdrv_info.name)."""
    options: ClassVar[tuple[OptionSpec, ...]] = ()
    """The ``-x`` / ups.conf options this driver accepts beyond NUT's generic ones."""
    reconnect_every_poll: ClassVar[bool] = False
    """Try to reopen a lost device every poll interval (as NUT's USB drivers do) rather than backing off."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            schema.register_driver(cls.name, cls.options)

    def __init__(self, config: DriverConfig, state: DriverState, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.state = state
        self.clock = clock

    async def open(self) -> None:
        """Find and open the device (NUT's upsdrv_initups); raise :class:`DeviceError` if it is absent."""

    async def initinfo(self) -> None:
        """Publish static variables and instant commands (upsdrv_initinfo)."""

    async def update(self) -> float | None:
        """Poll the device (upsdrv_updateinfo); raise :class:`DeviceError` when it is lost.

        Return None, or how many seconds from now the driver wants its next update when that is sooner than
        the poll interval (a timed sequence).
        """
        return None

    async def instcmd(self, name: str, param: str | None) -> int:
        """Run an instant command; return a STAT_* code from ``protocol.driver_socket``."""
        return STAT_UNKNOWN

    async def setvar(self, name: str, value: str) -> int:
        """Set a writable variable; return a STAT_* code from ``protocol.driver_socket``."""
        return STAT_UNKNOWN

    async def shutdown(self) -> None:
        """Killpower (``-k``): make the UPS cut its load; raise :class:`DeviceError` when that fails."""
        raise DeviceError(f"{self.name or type(self).__name__}: shutdown not supported")

    async def close(self) -> None:
        """Release the device (upsdrv_cleanup)."""
