"""usbhid-ups subdrivers as data, one module per vendor (adding a vendor is adding a table).

Each vendor module restates one of NUT 2.8.0's ``*-hid.c`` files; :mod:`.model` gives the shape of a table and
:mod:`.common` what the vendors share. :data:`SUBDRIVERS` is tried in NUT's order (mge, apc, cps, tripplite).
"""

from __future__ import annotations

from appliance.drivers.hid_subdrivers.apc import APC
from appliance.drivers.hid_subdrivers.cyberpower import CYBERPOWER
from appliance.drivers.hid_subdrivers.mge import EATON
from appliance.drivers.hid_subdrivers.model import (
    DEFAULT_OFFDELAY,
    DEFAULT_ONDELAY,
    EXPLORE,
    HidAlarm,
    HidCommand,
    HidFlag,
    HidVariable,
    Poll,
    Quirks,
    ServerSetting,
    Subdriver,
)
from appliance.drivers.hid_subdrivers.tripplite import TRIPPLITE
from appliance.drivers.usb_transport import UsbIdentity

__all__ = [
    "APC",
    "CYBERPOWER",
    "DEFAULT_OFFDELAY",
    "DEFAULT_ONDELAY",
    "EATON",
    "EXPLORE",
    "SUBDRIVERS",
    "TRIPPLITE",
    "HidAlarm",
    "HidCommand",
    "HidFlag",
    "HidVariable",
    "Poll",
    "Quirks",
    "ServerSetting",
    "Subdriver",
    "device_table",
    "subdriver_for",
]

SUBDRIVERS: tuple[Subdriver, ...] = (EATON, APC, CYBERPOWER, TRIPPLITE)
"""Tried in this order, as NUT's subdriver_list (its explore subdriver, a debugging aid, is not restated)."""


def subdriver_for(identity: UsbIdentity, productid_given: bool, wanted: str | None = None) -> Subdriver | None:
    """The subdriver that claims ``identity`` (only the one whose name matches ``wanted`` when given)."""
    for subdriver in SUBDRIVERS:
        if wanted is not None and wanted.lower() not in subdriver.name.lower():
            continue
        if subdriver.is_supported(identity) or (productid_given and subdriver.is_possibly_supported(identity)):
            return subdriver
    return None


def device_table() -> list[tuple[int, int, str]]:
    """(vendor ID, product ID, subdriver) for every device a subdriver claims: the udev rules' source."""
    return sorted(
        (vendor, product, subdriver.name)
        for subdriver in SUBDRIVERS
        for vendor, products in subdriver.products.items()
        for product in products
    )
