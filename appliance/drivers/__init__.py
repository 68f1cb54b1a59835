"""UPS drivers: the registry mapping ups.conf driver names to their classes, imported lazily.

``driver_class("dummy-ups")`` imports ``appliance.drivers.dummy_ups`` only when asked, so starting one driver
does not import the others (nor their optional dependencies). Importing a driver module registers its options
with the config schema (see ``base.Driver``); :func:`register_all` does that for every known driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.drivers.base import Driver

# ups.conf driver name -> "module:class"
DRIVERS: dict[str, str] = {
    "dummy-ups": "appliance.drivers.dummy_ups:DummyUps",
    "nutdrv_qx": "appliance.drivers.nutdrv_qx:NutdrvQx",
    "genericups": "appliance.drivers.genericups:GenericUps",
    "generic_gpio": "appliance.drivers.generic_gpio:GenericGpio",
    "usbhid-ups": "appliance.drivers.usbhid_ups:UsbhidUps",
    "tripplite_usb": "appliance.drivers.tripplite_usb:TrippliteUsb",
}


def driver_class(name: str) -> type[Driver] | None:
    """The class of the Python driver called ``name`` in ups.conf, or None when we have none."""
    target = DRIVERS.get(name)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    cls: type[Driver] = getattr(importlib.import_module(module_name), class_name)
    return cls


def register_all() -> None:
    """Import every known driver so that each one's options are in the config schema."""
    for name in DRIVERS:
        driver_class(name)
