"""Real report descriptors under Debian's usbhid-ups 2.8.0 and ours, through real libusb (umockdev).

The APC Back-UPS BK650M2-CH is the unit itself replayed: its own descriptor and its own answer to every
GET_REPORT, byte for byte, from NUT's explore log of it. The CyberPower CST135UC2 runs on its own descriptor
(with its series' nut-ddl values), the SANTAK TG-BOX 850 (Eaton) on its own descriptor and the reports its owner
captured. Both drivers must publish the same variables and values (driver.* aside), online and on battery, but
for the deliberate difference listed. The harness is usbhid_umockdev.py (see test_usbhid_vs_nut.py); these run
apart from the built units, with which they share vendor:product IDs (051d:0002, 0463:ffff).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_usbhid_vs_nut import differences, harness_results, pytestmark  # noqa: F401


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return harness_results(["apc_back_ups_bk650m2_ch", "cyberpower_cst135uc2", "eaton_santak_tg_box_850"])


# NUT 2.8.0's mge-hid.c drops CHRG/DISCHRG while Advanced Battery Monitoring is unknown; we keep them, as NUT
# 2.8.3 does (see DELIBERATE in test_usbhid_vs_nut.py: the same difference on the 5E).
DELIBERATE = {
    "eaton_santak_tg_box_850": {"ups.status": ("OL", "OL CHRG")},
    "eaton_santak_tg_box_850:onbattery": {"ups.status": ("OB", "OB DISCHRG")},
}
SANTAK_LISTING = {
    "ups.mfr": "EATON",
    "ups.model": "SANTAK TG-BOX 850",
    "ups.firmware": "02.08.0010",
    "ups.type": "offline / line interactive",
    "ups.power.nominal": "850",
    "battery.charge.low": "20",
    "input.transfer.high": "264",
    "input.transfer.low": "184",
    "output.voltage": "230.0",
    "output.voltage.nominal": "220",
    "output.frequency.nominal": "50",
    "outlet.switchable": "yes",
    "outlet.1.switchable": "no",
    "outlet.1.status": "on",
}
"""Values of the NUT 2.7.4 listing of the real SANTAK that its owner's project embeds (those that do not move
with time): NUT 2.8.0 reading the simulated unit must give them too."""


@pytest.mark.parametrize(
    ("run", "status", "ids"),
    [
        # The BK650M2-CH says Discharging while on mains: NUT warns and shows OL DISCHRG, as its owner reported.
        ("apc_back_ups_bk650m2_ch", "OL DISCHRG", ("051d", "0002")),
        ("apc_back_ups_bk650m2_ch:onbattery", "OB DISCHRG", ("051d", "0002")),
        ("cyberpower_cst135uc2", "OL", ("0764", "0601")),
        ("cyberpower_cst135uc2:onbattery", "OB DISCHRG", ("0764", "0601")),
        ("eaton_santak_tg_box_850", "OL", ("0463", "ffff")),
        ("eaton_santak_tg_box_850:onbattery", "OB", ("0463", "ffff")),
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
    assert differences(nut["data"], ours["data"]) == DELIBERATE.get(run, {})
    assert nut["writes"] == ours["writes"] == []


def test_the_santak_reads_as_its_owner_saw_it(results: dict[str, Any]) -> None:
    nut = results["eaton_santak_tg_box_850"]["nut"]["data"]
    assert {name: nut.get(name) for name in SANTAK_LISTING} == SANTAK_LISTING
