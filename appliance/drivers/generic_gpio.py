"""generic_gpio: a UPS wired to GPIO lines, NUT's ``rules`` syntax (NUT 2.8.1+ drivers/generic_gpio_*.c).

``rules = "OL=^0;OB=0;LB=3;RB=1;DISCHRG=0&^6;BYPASS=6;"``: each state is set when its formula of line levels
holds (``^`` not, ``&`` and, ``|`` or; line numbers are GPIO numbers on ``port``, e.g. ``gpiochip0``). CHRG and
DISCHRG also set battery.charger.status; with ``default.battery.charge.low`` known, LB reports that charge and
anything else 100 %; BYPASS removes battery.charge (all as NUT does).

Built on gpiozero, whose ``GPIOZERO_PIN_FACTORY`` is honoured; when it is unset (or ``lgpio``) and the port is
``gpiochipN``, lgpio opens that chip (a Pi 5 works on lgpio; RPi.GPIO is not needed). Edges arrive through
gpiozero's callbacks and update ups.status at once, after ``debounce`` ms of stability (gpiozero's own
bounce_time is not used: its backends disagree on what it means). Beyond NUT: ``pull`` (up/down/none),
``active_low`` (invert every input) and a shutdown output, ``sdline``, driven high for ``sdtime`` seconds on
``-k`` (NUT's generic_gpio has no shutdown).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

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


def pin_factory(port: str) -> Any:
    """The gpiozero pin factory: one already set, else ``GPIOZERO_PIN_FACTORY``, else lgpio on ``gpiochipN``.

    None lets gpiozero choose (from GPIOZERO_PIN_FACTORY, or its own fallback order).
    """
    from gpiozero import Device

    if Device.pin_factory is not None:
        return Device.pin_factory
    chip = _CHIP.fullmatch(port.strip())
    if os.environ.get("GPIOZERO_PIN_FACTORY", "lgpio") == "lgpio" and chip is not None:
        from gpiozero.pins.lgpio import LGPIOFactory

        return LGPIOFactory(chip=int(chip.group(1)))
    return None


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
        self.inputs: dict[int, Any] = {}
        self.shutdown_line: Any = None

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
        if sdline is not None and int(sdline) in self.rules.lines:
            raise DeviceError(f"sdline={sdline}: line {sdline} is an input in rules")
        try:
            self._claim(sdline)
        except Exception as err:  # gpiozero raises many types (BadPinFactory, PinInvalidPin, GPIOPinInUse...)
            await self.close()
            raise DeviceError(f"port {self.config.port}: can't use the GPIO lines: {err}") from None

    def _claim(self, sdline: str | None) -> None:
        from gpiozero import DigitalInputDevice, DigitalOutputDevice, PinFixedPull

        assert self.rules is not None
        factory = pin_factory(self.config.port)
        pull = PULLS[self.config.option("pull") or "none"]
        for line in self.rules.lines:
            try:
                device = DigitalInputDevice(
                    line,
                    pull_up=pull,
                    active_state=True if pull is None else None,
                    bounce_time=None,
                    pin_factory=factory,
                )
            except PinFixedPull:
                # GPIO2/3 on a Pi carry fixed I2C pull-ups: keep them (the level is read as it is anyway)
                logger.info(
                    "GPIO%d has a fixed pull-up resistor: pull=%s ignored for it", line, self.config.option("pull")
                )
                device = DigitalInputDevice(line, pull_up=True, bounce_time=None, pin_factory=factory)
            device.when_activated = device.when_deactivated = self._edge
            self.inputs[line] = device
        if sdline is not None:
            self.shutdown_line = DigitalOutputDevice(int(sdline), initial_value=False, pin_factory=factory)

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
        if self.shutdown_line is None:
            raise DeviceError("shutdown not supported: set sdline (the GPIO line wired to the UPS shutdown input)")
        seconds = int(self.config.option("sdtime") or DEFAULT_SDTIME)
        logger.info("Holding shutdown line %s high for %d seconds", self.config.option("sdline"), seconds)
        self.shutdown_line.on()
        await self.sleep(seconds)

    async def close(self) -> None:
        """Release every line."""
        self.stop_readings()
        devices = [*self.inputs.values(), self.shutdown_line]
        self.inputs, self.shutdown_line = {}, None
        for device in devices:
            if device is not None:
                device.close()

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
        invert = self.config.flag("active_low")
        return tuple((line, bool(device.pin.state) != invert) for line, device in self.inputs.items())

    def _edge(self, device: Any = None) -> None:
        """gpiozero's callback (its thread, or the caller's with MockFactory)."""
        self.reading_from_thread(self._levels())
