"""dummy-ups in repeater mode relays a UPS of Debian's real upsd (fed by Debian's dummy-ups)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.dummy_ups import DummyUps
from appliance.protocol.driver_socket import STAT_UNKNOWN
from tests.nut_reference import DDL, HAVE_NUT, free_port, start_nut_dummy

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's NUT binaries are not installed")

DUMP = DDL / "Plexus/Plexus__500VA__megatec_usb__2.2.1__01.dev"


def repeater(port: str) -> DummyUps:
    return DummyUps(DriverConfig(ups="relay", port=port), DriverState())


def test_repeater_relays_values_types_and_commands(tmp_path: Path) -> None:
    with start_nut_dummy(tmp_path, DUMP) as nut:
        driver = repeater(nut.address())

        async def relay() -> None:
            await driver.open()
            await driver.initinfo()
            await driver.update()
            assert await driver.setvar("ups.load", "1") == STAT_UNKNOWN  # not forwarded
            await driver.close()

        asyncio.run(relay())
    state = driver.state
    assert state.get("driver.parameter.mode") == "repeater"
    assert state.get("ups.status") == "OB"
    assert state.get("battery.charge") == "89.8"
    assert state.get("driver.name") is None  # the remote driver's own collection is not relayed
    mfr = state.variable("ups.mfr")
    assert (mfr.flags, mfr.aux) == ({"RW", "STRING"}, 32)
    assert state.variable("battery.charge").flags == {"RW", "NUMBER"}  # upsd says NUMBER for non-strings
    assert state.has_command("load.off")


def test_repeater_without_server_is_a_device_error(tmp_path: Path) -> None:
    driver = repeater(f"ups@127.0.0.1:{free_port()}")
    with pytest.raises(DeviceError, match="repeater"):
        asyncio.run(driver.open())
    with pytest.raises(DeviceError, match="invalid UPS definition"):
        asyncio.run(repeater("@").open())
