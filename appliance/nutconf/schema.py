"""Driver option schemas: each driver registers the ups.conf options it accepts, so configs are checked.

A driver we do not know (one of NUT's C drivers) has no schema: its options are accepted as written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptionSpec:
    """One driver option: a flag (no value) or a ``key = value`` setting, with an optional value check."""

    name: str
    takes_value: bool = True
    help: str = ""
    check: Callable[[str], str | None] | None = None


_SCHEMAS: dict[str, dict[str, OptionSpec]] = {}


def register_driver(driver: str, options: Iterable[OptionSpec]) -> None:
    """Declare the options ``driver`` accepts (replaces an earlier declaration)."""
    _SCHEMAS[driver] = {spec.name: spec for spec in options}


def driver_schema(driver: str) -> dict[str, OptionSpec] | None:
    """The options of ``driver``, or None for a driver we do not know.

    Our drivers register when their module is imported, so a driver not seen yet is imported here (only that
    one, through the lazy registry in :mod:`appliance.drivers`).
    """
    if driver not in _SCHEMAS:
        from appliance.drivers import driver_class

        try:
            driver_class(driver)
        except ImportError as exc:
            log.warning("driver %s cannot be loaded here (%s); its options are not checked", driver, exc)
    return _SCHEMAS.get(driver)


def check_integer(low: int | None = None, high: int | None = None) -> Callable[[str], str | None]:
    """A value check for whole numbers within an optional range."""

    def check(value: str) -> str | None:
        try:
            number = int(value)
        except ValueError:
            return f"'{value}' is not a whole number"
        if low is not None and number < low:
            return f"{number} is below the minimum {low}"
        if high is not None and number > high:
            return f"{number} is above the maximum {high}"
        return None

    return check
