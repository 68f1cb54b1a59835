"""Real report descriptors under Debian's usbhid-ups 2.8.0 and ours, through real libusb (umockdev).

The APC Back-UPS BK650M2-CH is the unit itself replayed: its own descriptor and its own answer to every
GET_REPORT, byte for byte, from NUT's explore log of it. The CyberPower CST135UC2 runs on its own descriptor
(with its series' nut-ddl values). Both drivers must publish the same variables and values (driver.* aside),
online and on battery. The harness is usbhid_umockdev.py (see test_usbhid_vs_nut.py); these two run apart from
the built units, since the BK650M2-CH shares 051d:0002 with the ES 850G2 there.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_usbhid_vs_nut import differences, harness_results, pytestmark  # noqa: F401


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return harness_results(["apc_back_ups_bk650m2_ch", "cyberpower_cst135uc2"])


@pytest.mark.parametrize(
    ("run", "status", "ids"),
    [
        # The BK650M2-CH says Discharging while on mains: NUT warns and shows OL DISCHRG, as its owner reported.
        ("apc_back_ups_bk650m2_ch", "OL DISCHRG", ("051d", "0002")),
        ("apc_back_ups_bk650m2_ch:onbattery", "OB DISCHRG", ("051d", "0002")),
        ("cyberpower_cst135uc2", "OL", ("0764", "0601")),
        ("cyberpower_cst135uc2:onbattery", "OB DISCHRG", ("0764", "0601")),
    ],
)
def test_real_descriptors_publish_what_nut_publishes(
    results: dict[str, Any], run: str, status: str, ids: tuple[str, str]
) -> None:
    nut, ours = results[run]["nut"], results[run]["ours"]
    assert nut["exit"] == 0 and ours["exit"] == 0, ours["log"][-2000:]
    assert nut["data"]["ups.status"] == status
    assert (nut["data"]["ups.vendorid"], nut["data"]["ups.productid"]) == ids
    assert nut["data"]["driver.version.data"] == ours["data"]["driver.version.data"]
    assert len(nut["data"]) > 35
    assert differences(nut["data"], ours["data"]) == {}
    assert nut["writes"] == ours["writes"] == []
