"""usbhid-ups with NUT 2.8.0's mge-hid.c restated: the Eaton 5P 650 simulator against its dump, ABM, outlets,
vendor alarms, model names; and the driver mechanisms the restatement needs (conversions with device state)."""

from __future__ import annotations

import asyncio

from appliance.drivers.hid_subdrivers.model import (
    Conversion,
    DeviceFields,
    HidFlag,
    HidVariable,
    Published,
    Quirks,
    Subdriver,
    Withdraw,
)
from appliance.drivers.usb_transport import UsbIdentity
from appliance.protocol.driver_socket import STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN
from tests import hid_sim
from tests.unit.test_usbhid_ups import Clock, make_driver, start

CHARGER = "UPS.BatterySystem.Charger"


class ModeQuirks(Quirks):
    """Device state for the mechanism test: a mode read from one field changes how other rows read."""

    def __init__(self, identity: UsbIdentity) -> None:
        super().__init__(identity)
        self.enabled: bool | None = None

    def model(self, product: str, device: DeviceFields) -> str | None:
        return f"{product} {device.value('UPS.Flow.ConfigApparentPower'):.0f}"


def _remember(quirks: Quirks, value: float, published: Published) -> str | Withdraw | None:
    assert isinstance(quirks, ModeQuirks)
    quirks.enabled = value == 1
    return None


def _mode_text(quirks: Quirks, value: float, published: Published) -> str | Withdraw | None:
    assert isinstance(quirks, ModeQuirks)
    if not quirks.enabled:
        return Withdraw.VARIABLE
    return {1: "one", 2: "two"}.get(int(value))


def _online_when_enabled(quirks: Quirks, value: float, bits: dict[str, bool]) -> None:
    assert isinstance(quirks, ModeQuirks)
    bits["online"] = bool(value) and bool(quirks.enabled)


def _mechanism_unit() -> hid_sim.SimulatedUnit:
    mode = Conversion("mode", {1: "one", 2: "two", 3: "three"}, device_text=_mode_text)
    subdriver = Subdriver(
        name="mechanism",
        vendor_ids=frozenset({0x0463}),
        products={0x0463: frozenset({0xFFFF})},
        usages={0xFFFF0087: "ABMEnable", 0xFFFF0094: "Mode"},
        variables=(
            HidVariable("x.mode", f"{CHARGER}.ABMEnable", conversion=Conversion("enabled", device_text=_remember)),
            HidVariable("x.mode", f"{CHARGER}.Mode", conversion=mode),
            HidVariable("x.choice", f"{CHARGER}.Mode", conversion=mode, writable=True, enum=True),
        ),
        flags=(HidFlag("UPS.PowerSummary.PresentStatus.ACPresent", "online", device_bits=_online_when_enabled),),
        commands=(),
        settings=(),
        default_mfr="x",
        quirks=ModeQuirks,
    )
    builder = hid_sim.DescriptorBuilder(subdriver.names)
    with builder.collection("UPS", 0x01):
        with builder.collection("PowerSummary"), builder.collection("PresentStatus", 0x02):
            builder.field("ACPresent", size=1, high=1)
        with builder.collection("BatterySystem"), builder.collection("Charger"):
            builder.field("ABMEnable", high=1)
            builder.field("Mode", high=7)
        with builder.collection("Flow"):
            builder.field("ConfigApparentPower", size=16, high=0xFFFF)
    return hid_sim.SimulatedUnit(
        identity=UsbIdentity(0x0463, 0xFFFF, "X", "Box", None, "001", "002", "003"),
        descriptor=builder.bytes(),
        values={
            "UPS.PowerSummary.PresentStatus.ACPresent": 1,
            f"{CHARGER}.ABMEnable": 1,
            f"{CHARGER}.Mode": 2,
            "UPS.Flow.ConfigApparentPower": 650,
        },
        strings={},
        subdriver=subdriver,
    )


def test_conversions_with_device_state_withdraw_enumerate_and_decide_bits() -> None:
    simulator = hid_sim.HidUpsSimulator(_mechanism_unit())
    clock = Clock()
    driver, state = make_driver(simulator, clock)
    driver._subdriver_for = lambda identity: simulator.unit.subdriver  # type: ignore[method-assign]
    asyncio.run(start(driver))
    assert state.get("ups.model") == "Box 650"  # the quirks' model hook read a field before the walk
    # The first x.mode row published nothing, so the second (same name) was bound too, as NUT does.
    assert state.get("x.mode") == "two"
    assert state.get("ups.status") == "OL"
    assert [v.enums for v in state.variables() if v.name == "x.choice"] == [["one", "two"]]  # "three" has no text
    assert asyncio.run(driver.setvar("x.choice", "one")) == STAT_HANDLED
    assert simulator.writes == [(f"{CHARGER}.Mode", 1)]
    assert asyncio.run(driver.setvar("x.choice", "four")) == STAT_INVALID
    # NUT's setvar takes the first bound row of a name: here the one that only remembers the state.
    assert asyncio.run(driver.setvar("x.mode", "one")) == STAT_UNKNOWN
    simulator.set(f"{CHARGER}.ABMEnable", 0)
    clock.now = 31
    asyncio.run(driver.update())
    assert "x.mode" not in state  # withdrawn by the conversion
    assert state.get("ups.status") == "OB"  # the bit rule saw the new state
