"""The Eaton 5P 650 simulator (tests/hid_sim_eaton.py) under Debian's usbhid-ups 2.8.0 and ours, through real
libusb (umockdev): mge-hid.c restated whole must publish what NUT's own mge-hid.c publishes, online and on
battery. The harness is usbhid_umockdev.py (see test_usbhid_vs_nut.py); the 5P runs alone, since it shares its
vendor:product (0463:ffff) with the 5E there.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_usbhid_vs_nut import differences, harness_results, pytestmark  # noqa: F401


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return harness_results(["eaton_5p650"])


@pytest.mark.parametrize(("run", "status"), [("eaton_5p650", "OL CHRG"), ("eaton_5p650:onbattery", "OB CHRG")])
def test_the_5p_publishes_what_nut_publishes(results: dict[str, Any], run: str, status: str) -> None:
    """Same variables and values (driver.* aside). On battery the charger still says "floating" (mode 3), and
    with ABM on both drivers follow it: CHRG, not DISCHRG."""
    nut, ours = results[run]["nut"], results[run]["ours"]
    assert nut["exit"] == 0 and ours["exit"] == 0, ours["log"][-2000:]
    assert nut["data"]["ups.status"] == status
    assert nut["data"]["battery.charger.status"] == "floating"
    assert len(nut["data"]) > 80
    assert differences(nut["data"], ours["data"]) == {}
