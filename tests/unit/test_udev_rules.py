"""The image's udev rules give the nut user exactly the USB UPSes our drivers take, one product at a time."""

from __future__ import annotations

import re
from pathlib import Path

from appliance.drivers.udev_rules import rules, usb_devices

RULES_FILE = Path(__file__).resolve().parents[2] / "overlays/etc/udev/rules.d/60-appliance-ups.rules"
USB_RULE = re.compile(
    r'ATTR\{idVendor\}=="([0-9a-f]{4})", ATTR\{idProduct\}=="([0-9a-f]{4})", MODE="0660", GROUP="nut"'
)


def test_the_image_carries_the_generated_rules() -> None:
    assert RULES_FILE.read_text() == rules(), "regenerate: python -m appliance.drivers.udev_rules > " + str(RULES_FILE)


def test_every_supported_usb_ups_and_nothing_vendor_wide() -> None:
    text = RULES_FILE.read_text()
    granted = {(int(v, 16), int(p, 16)) for v, p in USB_RULE.findall(text)}
    assert granted == {(vendor, product) for vendor, product, _ in usb_devices()}
    assert (0x09AE, 0x0001) in granted  # tripplite_usb
    assert (0x051D, 0x0002) in granted and (0x0764, 0x0501) in granted and (0x0463, 0xFFFF) in granted
    usb_lines = [line for line in text.splitlines() if 'SUBSYSTEM=="usb"' in line]
    assert len(usb_lines) == len(granted)
    assert all("idProduct" in line for line in usb_lines)  # never a whole vendor (HP makes printers)
