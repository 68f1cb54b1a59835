"""pyserial URL schemes for simulated devices: ``serial.serial_for_url("SCHEME://...")`` opens a test class."""

from __future__ import annotations

import sys
import types

import serial
from serial.serialutil import SerialBase


def register_scheme(scheme: str, serial_class: type[SerialBase]) -> None:
    """Make ``SCHEME://`` URLs open ``serial_class`` (through a handler package put in sys.modules)."""
    package_name = f"{scheme}_handlers"
    package = types.ModuleType(package_name)
    package.__path__ = []
    handler = types.ModuleType(f"{package_name}.protocol_{scheme}")
    handler.Serial = serial_class  # type: ignore[attr-defined]
    sys.modules[package_name] = package
    sys.modules[handler.__name__] = handler
    if package_name not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(package_name)


def unregister_scheme(scheme: str) -> None:
    """Undo :func:`register_scheme`."""
    package_name = f"{scheme}_handlers"
    serial.protocol_handler_packages.remove(package_name)
    del sys.modules[f"{package_name}.protocol_{scheme}"], sys.modules[package_name]
