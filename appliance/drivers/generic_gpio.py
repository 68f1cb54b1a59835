"""generic_gpio: a UPS wired to GPIO lines, NUT's ``rules`` syntax (NUT 2.8.1+ drivers/generic_gpio_*.c).

``rules = "OL=^0;OB=0;LB=3;RB=1;DISCHRG=0&^6;BYPASS=6;"``: each state is set when its formula of line levels
holds (``^`` not, ``&`` and, ``|`` or; line numbers are GPIO numbers on ``port``, e.g. ``gpiochip0``). CHRG and
DISCHRG also set battery.charger.status; with ``default.battery.charge.low`` known, LB reports that charge and
anything else 100 %; BYPASS removes battery.charge (all as NUT does).

A ``gpiochipN`` port is opened as the Linux GPIO character device through lgpio, on any board, as NUT's libgpiod
does (:class:`ChipLines`). gpiozero is used instead when a pin factory is chosen (``GPIOZERO_PIN_FACTORY`` other
than lgpio, or one set in code, as the tests' MockFactory): :class:`GpiozeroLines`. gpiozero's own lgpio factory
is not used for chips: it refuses to run unless it can read a Raspberry Pi revision code, which a Pi booted with
Debian's kernel and upstream device tree does not publish (gpiozero#994). Edges arrive through callbacks and
update ups.status at once, after ``debounce`` ms of stability; ``update`` reads the lines as the fallback for a
missed edge. Beyond NUT: ``pull`` (up/down/none; unset leaves the line's bias as it is, as NUT does),
``active_low`` (invert every input) and a shutdown output, ``sdline``, driven high for ``sdtime`` seconds on
``-k`` (NUT's generic_gpio has no shutdown).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any, Protocol

from appliance.drivers.base import DeviceError
from appliance.drivers.contact_lines import (
    DEBOUNCE_OPTION,
    ContactClosureDriver,
    ContactConfigError,
    GpioRules,
    gpio_status,
    option_check,
    parse_rules,
    whole_number_check,
)
from appliance.nutconf.schema import OptionSpec

logger = logging.getLogger(__name__)

PULLS = {"up": True, "down": False, "none": None}
DEFAULT_SDTIME = 5
_CHIP = re.compile(r"(?:/dev/)?gpiochip(\d+)")


def _check_pull(value: str) -> str | None:
    return None if value in PULLS else f"pull={value!r}: use up, down or none"


def import_lgpio() -> None:
    """Import lgpio with its notification pipe in a directory of this process's own.

    At import, lgpio makes a FIFO ``.lgd-nfyN`` in ``$LG_WD`` (its C half) and opens it by that name relative to
    the working directory (its Python half). A daemon whose working directory is ``/`` on a read-only root (our
    units: ProtectSystem=strict) cannot import it, and two drivers in one directory would share one pipe
    (joan2937/lg#12 and #22, gpiozero#1106). So both halves are pointed at a fresh private directory for the
    import (under the unit's PrivateTmp), which is removed at exit; the working directory and environment are
    put back.
    """
    if "lgpio" in sys.modules:
        return
    workdir = tempfile.mkdtemp(prefix="appliance-lgpio-")
    atexit.register(shutil.rmtree, workdir, True)
    try:
        previous = os.getcwd()
    except OSError:  # the working directory was removed
        previous = "/"
    inherited = os.environ.get("LG_WD")
    os.environ["LG_WD"] = workdir
    os.chdir(workdir)
    try:
        import lgpio  # noqa: F401  (the import is the point: it opens the notification pipe)
    finally:
        os.chdir(previous)  # lgpio's C half changes directory to $LG_WD itself
        if inherited is None:
            del os.environ["LG_WD"]
        else:
            os.environ["LG_WD"] = inherited


class GpioLines(Protocol):
    """The lines one driver has claimed: read them, raise the shutdown output, release them."""

    def levels(self) -> dict[int, bool]:
        """Each input line's electrical level (True = high)."""
        ...

    def shutdown_on(self) -> None:
        """Drive the shutdown line high."""
        ...

    def close(self) -> None:
        """Release every line."""
        ...


class ChipLines:
    """Lines of a GPIO character device (``/dev/gpiochipN``) through lgpio; ``on_edge()`` runs on lgpio's thread."""

    def __init__(
        self, chip: int, inputs: list[int], pull: str | None, sdline: int | None, on_edge: Callable[[], None]
    ) -> None:
        import_lgpio()
        import lgpio

        self._lgpio = lgpio
        flags = {None: 0, "up": lgpio.SET_PULL_UP, "down": lgpio.SET_PULL_DOWN, "none": lgpio.SET_PULL_NONE}[pull]
        self.handle = lgpio.gpiochip_open(chip)
        self.inputs = inputs
        self.claimed: list[int] = []
        self.callbacks: list[Any] = []
        try:
            for line in inputs:
                try:
                    lgpio.gpio_claim_alert(self.handle, line, lgpio.BOTH_EDGES, flags)
                except lgpio.error as err:  # a chip without edge interrupts: update() reads the line each poll
                    logger.info("gpiochip%d line %d: no edge events (%s): read at each poll", chip, line, err)
                    lgpio.gpio_claim_input(self.handle, line, flags)
                else:
                    self.callbacks.append(lgpio.callback(self.handle, line, lgpio.BOTH_EDGES, lambda *_: on_edge()))
                self.claimed.append(line)
            self.sdline = sdline
            if sdline is not None:
                lgpio.gpio_claim_output(self.handle, sdline, 0)
                self.claimed.append(sdline)
        except Exception:
            self.close()
            raise

    def levels(self) -> dict[int, bool]:
        """Each input line's level, read now."""
        return {line: bool(self._lgpio.gpio_read(self.handle, line)) for line in self.inputs}

    def shutdown_on(self) -> None:
        """Drive the shutdown line high."""
        assert self.sdline is not None
        self._lgpio.gpio_write(self.handle, self.sdline, 1)

    def close(self) -> None:
        """Cancel the callbacks, free the lines, close the chip."""
        for callback in self.callbacks:
            callback.cancel()
        for line in self.claimed:
            with contextlib.suppress(Exception):
                self._lgpio.gpio_free(self.handle, line)
        self.callbacks, self.claimed = [], []
        with contextlib.suppress(Exception):
            self._lgpio.gpiochip_close(self.handle)


class GpiozeroLines:
    """Lines through gpiozero devices on ``factory`` (None: gpiozero's choice); ``on_edge()`` on its thread."""

    def __init__(
        self, factory: Any, inputs: list[int], pull: str | None, sdline: int | None, on_edge: Callable[[], None]
    ) -> None:
        from gpiozero import DigitalInputDevice, DigitalOutputDevice, PinFixedPull

        self.devices: dict[int, Any] = {}
        self.shutdown_line: Any = None
        pull_up = PULLS[pull or "none"]
        try:
            for line in inputs:
                try:
                    device = DigitalInputDevice(
                        line,
                        pull_up=pull_up,
                        active_state=True if pull_up is None else None,
                        bounce_time=None,
                        pin_factory=factory,
                    )
                except PinFixedPull:
                    # GPIO2/3 on a Pi carry fixed I2C pull-ups: keep them (the level is read as it is anyway)
                    logger.info("GPIO%d has a fixed pull-up resistor: pull=%s ignored for it", line, pull)
                    device = DigitalInputDevice(line, pull_up=True, bounce_time=None, pin_factory=factory)
                device.when_activated = device.when_deactivated = lambda *_: on_edge()
                self.devices[line] = device
            if sdline is not None:
                self.shutdown_line = DigitalOutputDevice(sdline, initial_value=False, pin_factory=factory)
        except Exception:
            self.close()
            raise

    def levels(self) -> dict[int, bool]:
        """Each input line's level, read now."""
        return {line: bool(device.pin.state) for line, device in self.devices.items()}

    def shutdown_on(self) -> None:
        """Drive the shutdown line high."""
        self.shutdown_line.on()

    def close(self) -> None:
        """Close every device."""
        devices = [*self.devices.values(), self.shutdown_line]
        self.devices, self.shutdown_line = {}, None
        for device in devices:
            if device is not None:
                device.close()


def open_lines(
    port: str, inputs: list[int], pull: str | None, sdline: int | None, on_edge: Callable[[], None]
) -> GpioLines:
    """Claim the lines: through lgpio on a ``gpiochipN`` port, through gpiozero when a pin factory is chosen."""
    from gpiozero import Device

    chip = _CHIP.fullmatch(port.strip())
    chosen = Device.pin_factory is not None or os.environ.get("GPIOZERO_PIN_FACTORY", "lgpio") != "lgpio"
    if chip is not None and not chosen:
        return ChipLines(int(chip.group(1)), inputs, pull, sdline, on_edge)
    return GpiozeroLines(Device.pin_factory, inputs, pull, sdline, on_edge)


class GenericGpio(ContactClosureDriver):
    """NUT's generic_gpio on gpiozero; see the module docstring."""

    name = "generic_gpio"
    version = "1.03"
    description = "GPIO UPS driver"
    options = (
        OptionSpec("rules", help="Line rules to produce status strings", check=option_check(parse_rules)),
        OptionSpec("mfr", help="Override UPS manufacturer name"),
        OptionSpec("model", help="Override UPS model name"),
        OptionSpec("pull", help="Input bias: up, down or none (default none)", check=_check_pull),
        OptionSpec("active_low", takes_value=False, help="Invert every input line"),
        OptionSpec(
            "sdline", help="GPIO line driven high to shut the UPS down (-k)", check=whole_number_check("sdline")
        ),
        OptionSpec("sdtime", help="Seconds to hold the shutdown line (5)", check=whole_number_check("sdtime")),
        DEBOUNCE_OPTION,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rules: GpioRules | None = None
        self.lines: GpioLines | None = None
        self.sdline: int | None = None

    async def open(self) -> None:
        """Parse the rules and claim the input lines (and the shutdown output, held low)."""
        text = self.config.option("rules")
        if text is None:
            raise DeviceError("rules: not set; UPS status calculation rules are required, e.g. OL=^0;OB=0;LB=3;")
        try:
            self.rules = parse_rules(text)
        except ContactConfigError as err:
            raise DeviceError(str(err)) from None
        sdline = self.config.option("sdline")
        self.sdline = None if sdline is None else int(sdline)
        if self.sdline is not None and self.sdline in self.rules.lines:
            raise DeviceError(f"sdline={sdline}: line {sdline} is an input in rules")
        try:
            self.lines = open_lines(
                self.config.port, self.rules.lines, self.config.option("pull"), self.sdline, self._edge
            )
        except Exception as err:  # lgpio.error, or gpiozero's many (BadPinFactory, PinInvalidPin, GPIOPinInUse...)
            raise DeviceError(f"port {self.config.port}: can't use the GPIO lines: {err}") from None

    async def initinfo(self) -> None:
        """device.mfr/model when given, then the first status."""
        for part in ("mfr", "model"):
            value = self.config.option(part)
            if value is not None:
                self.state.set_info(f"device.{part}", value)
        self.start_readings(self._levels())

    async def update(self) -> float | None:
        """Read the lines (the fallback for a missed edge)."""
        self.raise_failure()
        try:
            self.take_reading(self._levels())
        except Exception as err:  # a pin that went away
            raise DeviceError(f"port {self.config.port}: can't read the GPIO lines: {err}") from None
        return None

    async def shutdown(self) -> None:
        """Drive ``sdline`` high for ``sdtime`` seconds."""
        if self.lines is None or self.sdline is None:
            raise DeviceError("shutdown not supported: set sdline (the GPIO line wired to the UPS shutdown input)")
        seconds = int(self.config.option("sdtime") or DEFAULT_SDTIME)
        logger.info("Holding shutdown line %d high for %d seconds", self.sdline, seconds)
        self.lines.shutdown_on()
        await self.sleep(seconds)

    async def close(self) -> None:
        """Release every line."""
        self.stop_readings()
        lines, self.lines = self.lines, None
        if lines is not None:
            lines.close()

    def publish(self, reading: Any) -> None:
        """Line levels become ups.status, battery.charger.status and battery.charge (NUT's rules)."""
        assert self.rules is not None
        result = gpio_status(self.rules, dict(reading), self.state.get("battery.charge.low"))
        self.publish_status(result.tokens)
        if result.charger_status is not None:
            self.state.set_info("battery.charger.status", result.charger_status)
        else:
            self.state.del_info("battery.charger.status")
        if result.battery_charge is not None:
            self.state.set_info("battery.charge", result.battery_charge)
        elif "BYPASS" in result.tokens:
            self.state.del_info("battery.charge")

    def _levels(self) -> tuple[tuple[int, bool], ...]:
        if self.lines is None:
            raise DeviceError(f"port {self.config.port}: the GPIO lines are closed")
        invert = self.config.flag("active_low")
        return tuple((line, level != invert) for line, level in self.lines.levels().items())

    def _edge(self) -> None:
        """An edge on some input (on the backend's thread, or the caller's with MockFactory)."""
        with contextlib.suppress(DeviceError):  # closed meanwhile
            self.reading_from_thread(self._levels())
