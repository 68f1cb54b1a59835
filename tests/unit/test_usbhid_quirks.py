"""usbhid-ups beyond the tables: ups.alarm, value-table status bits and each vendor's per-device corrections."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from appliance.drivers.hid_subdrivers import CYBERPOWER, HidFlag
from appliance.drivers.hid_subdrivers.apc import APC_LINE_FAIL_FREQUENCY, APC_LINE_FAIL_VOLTAGE
from appliance.drivers.hid_subdrivers.cyberpower import CHARGE_AT_MOST_100
from appliance.drivers.usb_transport import UsbIdentity
from appliance.drivers.usbhid_ups import synthesize_alarms, transfer_reason
from tests import hid_sim
from tests.hid_descriptors import DATA_DIR
from tests.unit.test_usbhid_ups import Clock, make_driver, start

PS = "UPS.PowerSummary"


def with_product(unit: hid_sim.SimulatedUnit, productid: int) -> hid_sim.SimulatedUnit:
    """The same unit answering with another USB product ID."""
    return replace(unit, identity=replace(unit.identity, productid=productid))


def test_alarms_follow_nut_order() -> None:
    assert synthesize_alarms({}) == []
    bits = {"bypassman": True, "replacebatt": True, "overheat": True, "nobattery": True, "online": True}
    assert synthesize_alarms(bits) == [
        "Replace battery!",
        "No battery installed!",
        "Temperature too high!",
        "Manual bypass mode!",
    ]


def test_an_alarm_is_published_on_the_full_walk_and_puts_alarm_in_the_status() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_es_850g2())
    clock = Clock()
    driver, state = make_driver(simulator, clock)
    asyncio.run(start(driver))
    assert "ups.alarm" not in state
    simulator.set(f"{PS}.PresentStatus.ShutdownImminent", 1)
    clock.now = 31
    asyncio.run(driver.update())
    assert state.get("ups.alarm") == "Shutdown imminent!"
    assert state.get("ups.status") == "ALARM OL LB"
    # As NUT: ShutdownImminent is not a quick-poll bit, so the alarm stays until the next full walk.
    simulator.set(f"{PS}.PresentStatus.ShutdownImminent", 0)
    clock.now = 33
    asyncio.run(driver.update())
    assert state.get("ups.status") == "ALARM OL LB"
    clock.now = 62
    asyncio.run(driver.update())
    assert "ups.alarm" not in state
    assert state.get("ups.status") == "OL"


@pytest.mark.parametrize(("flag", "status"), [(0, "OL OFF"), (8, "OL"), (16, "OL")])
def test_apc_status_flag_sets_and_clears_off(flag: int, status: str) -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_es_850g2())
    driver, state = make_driver(simulator)
    asyncio.run(start(driver))
    simulator.set(f"{PS}.APCStatusFlag", flag)
    asyncio.run(driver.update())
    assert state.get("ups.status") == status
    simulator.set(f"{PS}.APCStatusFlag", 5)  # a value the table does not know changes nothing
    asyncio.run(driver.update())
    assert state.get("ups.status") == status


def test_apc_line_fail_cause_gives_the_transfer_reason() -> None:
    voltage = HidFlag("UPS.Input.APCLineFailCause", "vrange", APC_LINE_FAIL_VOLTAGE)
    frequency = HidFlag("UPS.Input.APCLineFailCause", "frange", APC_LINE_FAIL_FREQUENCY)
    bits: dict[str, bool] = {}

    def cause(value: int) -> str | None:
        voltage.apply(value, bits)
        frequency.apply(value, bits)
        return transfer_reason(bits)

    assert cause(2) == "input voltage out of range"
    assert cause(0) is None
    assert cause(7) == "input frequency out of range"
    assert cause(3) == "input frequency out of range"  # ripple: not mapped, the last reason stays
    assert cause(9) == "input voltage out of range"


def test_apc_5g_units_poll_only(caplog: pytest.LogCaptureFixture) -> None:
    for productid, drained in ((0x0002, True), (0x0003, False)):
        simulator = hid_sim.HidUpsSimulator(with_product(hid_sim.apc_back_ups_es_850g2(), productid))
        driver, _ = make_driver(simulator)
        with caplog.at_level(logging.INFO):
            asyncio.run(start(driver))
            simulator.send_input(f"{PS}.RemainingCapacity")
            asyncio.run(driver.update())
            asyncio.run(driver.update())
        assert (not simulator.interrupts) is drained
    assert caplog.text.count("interrupt pipe disabled") == 1


def test_cyberpower_battery_voltage_is_scaled_when_it_reads_too_high() -> None:
    for productid, published in ((0x0501, ["24.0", "18.0"]), (0x0601, ["36.0", "27.0"])):
        unit = with_product(hid_sim.cyberpower_cp1500pfclcd(), productid)
        unit.values[f"{PS}.Voltage"] = 36.0  # 1.5 x the 24 V nominal
        simulator = hid_sim.HidUpsSimulator(unit)
        clock = Clock()
        driver, state = make_driver(simulator, clock)
        asyncio.run(start(driver))
        seen = [state.get("battery.voltage")]
        simulator.set(f"{PS}.Voltage", 27.0)  # the scale, once chosen, stays
        clock.now = 31
        asyncio.run(driver.update())
        seen.append(state.get("battery.voltage"))
        assert seen == published, hex(productid)


def test_cyberpower_battery_charge_is_clamped_to_100() -> None:
    assert CHARGE_AT_MOST_100.text(104.0) == "100"
    assert CHARGE_AT_MOST_100.text(87.0) == "87"


def _cyberpower_with_a_lying_output_voltage(productid: int, transfer_range: tuple[int, int]) -> hid_sim.SimulatedUnit:
    """A CP900EPFCLCD-like descriptor: report 0x10 the high transfer point, 0x12 the output voltage.

    The output voltage gets the high transfer point's logical range (0-150), so 230 V on the wire reads as 150
    unless the descriptor is fixed (cps_fix_report_desc).
    """
    builder = hid_sim.DescriptorBuilder(CYBERPOWER.names, next_report_id=0x10)
    with builder.collection("UPS", 0x01):
        with builder.collection("Input"):
            builder.field("HighVoltageTransfer", size=16, low=transfer_range[0], high=transfer_range[1])
            builder.field("Voltage", size=16, high=0x1FF)
        with builder.collection("Output"):
            builder.field("Voltage", size=16, low=0, high=150)
        with builder.collection("PowerSummary"), builder.collection("PresentStatus", 0x02):
            builder.field("ACPresent", size=1, high=1)
    return hid_sim.SimulatedUnit(
        identity=UsbIdentity(0x0764, productid, "CPS", "CP900EPFCLCD", None, "001", "002", "001"),
        descriptor=builder.bytes(),
        values={"UPS.Input.HighVoltageTransfer": 140, "UPS.Input.Voltage": 231, f"{PS}.PresentStatus.ACPresent": 1},
        strings={},
        subdriver=CYBERPOWER,
        raw_values={"UPS.Output.Voltage": 230},
    )


@pytest.mark.parametrize(
    ("productid", "transfer_range", "output"),
    [(0x0501, (0, 150), "230.0"), (0x0601, (0, 150), "150.0"), (0x0501, (0, 255), "150.0")],
    ids=["fixed", "other-product", "ranges-differ"],
)
def test_cyberpower_output_voltage_range_is_fixed(productid: int, transfer_range: tuple[int, int], output: str) -> None:
    unit = _cyberpower_with_a_lying_output_voltage(productid, transfer_range)
    driver, state = make_driver(hid_sim.HidUpsSimulator(unit))
    asyncio.run(start(driver))
    assert state.get("output.voltage") == output
    assert state.get("input.voltage") == "231.0"  # NUT announces an input voltage fix but never applies it


@pytest.mark.parametrize(
    ("productid", "voltage", "chemistry"),
    [(0x2010, "13.8", "PbAC"), (0x3012, "138.0", "PbAC"), (0x1003, "13.8", "unknown"), (0x3016, "13800000.0", "PbAC")],
)
def test_tripplite_scales_and_chemistry_follow_the_product_id(productid: int, voltage: str, chemistry: str) -> None:
    unit = with_product(hid_sim.tripplite_smart550usb(), productid)
    driver, state = make_driver(hid_sim.HidUpsSimulator(unit))
    asyncio.run(start(driver))
    assert state.get("battery.voltage") == voltage
    assert state.get("battery.type") == chemistry
    # SMART1500LCDT's frequencies come 100 times too high; the others are published as read.
    assert state.get("input.frequency") == ("0.6" if productid == 0x3016 else "60.1")


def test_interruptonly_reads_the_input_reports_the_pipe_brings_and_never_polls() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.cyberpower_cp1500pfclcd())
    simulator.stalled_reports.update(range(1, 256))  # a GET_REPORT would stall
    driver, state = make_driver(simulator, interruptonly=True)
    asyncio.run(start(driver))
    assert state.get("battery.charge") == "0"  # as NUT: zeros until the pipe brings the report
    assert state.get("ups.status") == "OB"
    simulator.set(f"{PS}.RemainingCapacity", 55)
    simulator.send_input(f"{PS}.RemainingCapacity")
    simulator.set(f"{PS}.PresentStatus.ACPresent", 1)
    simulator.send_input(f"{PS}.PresentStatus.ACPresent")
    asyncio.run(driver.update())
    assert state.get("battery.charge") == "55"
    assert state.get("ups.status") == "OL"


def test_explore_takes_an_unknown_device_and_logs_its_objects(caplog: pytest.LogCaptureFixture) -> None:
    unit = hid_sim.cyberpower_cp1500pfclcd()
    unit = replace(unit, identity=replace(unit.identity, vendorid=0x1234, productid=0x5678))
    assert not make_driver(hid_sim.HidUpsSimulator(unit))[0]._is_supported(unit.identity)
    driver, state = make_driver(hid_sim.HidUpsSimulator(unit), explore=True)
    with caplog.at_level(logging.INFO):
        asyncio.run(start(driver))
    assert state.get("driver.version.data") == "EXPLORE HID 0.2"
    assert "battery.charge" not in state  # explore maps nothing
    assert (
        "Path: UPS.PowerSummary.RemainingCapacity, Type: Feature, ReportID: 0x05, Offset: 0, Size: 8, Value: 100"
        in (caplog.text)
    )


def test_explore_on_the_replayed_bk650m2_ch_prints_what_nut_printed(caplog: pytest.LogCaptureFixture) -> None:
    """``-x explore`` on the BK650M2-CH replay logs NUT 2.8.0's own explore lines for it, object for object
    (the Feature ones: explore reads the device's Feature reports), with the same values."""
    driver, _ = make_driver(hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_bk650m2_ch()), explore=True)
    with caplog.at_level(logging.INFO):
        asyncio.run(start(driver))
    ours = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Path: ")]
    nut_text = (DATA_DIR / "apc_back-ups_bk650m2-ch.paths").read_text().splitlines()
    nut = [line for line in nut_text if line.startswith("Path: ") and ", Type: Feature," in line]
    assert len(nut) > 40
    assert ours == nut
