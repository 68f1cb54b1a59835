"""usbhid-ups on HID simulators: each subdriver's variables against its nut-ddl dump, status, commands, events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.dev_file import Assignment, decode, parse_dev_file
from appliance.drivers.hid_subdrivers import APC, EATON, TRIPPLITE, device_table, subdriver_for
from appliance.drivers.usb_transport import UsbConnection, UsbIdentity
from appliance.drivers.usbhid_ups import UsbhidUps, synthesize_status
from appliance.protocol.driver_socket import STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN
from tests import hid_sim
from tests.nut_reference import DDL

PS = "UPS.PowerSummary"
# Variables the driver core (runner) publishes, not the driver.
CORE = ("driver.", "device.")


class Clock:
    """An injected monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_driver(
    simulator: hid_sim.HidUpsSimulator, clock: Clock | None = None, **options: str | bool
) -> tuple[UsbhidUps, DriverState]:
    state = DriverState()
    driver = UsbhidUps(DriverConfig("ups", "auto", options=dict(options)), state, clock or Clock())
    driver.connection = UsbConnection(driver.matcher, lambda matcher: simulator)
    return driver, state


async def start(driver: UsbhidUps) -> None:
    await driver.open()
    await driver.initinfo()
    await driver.update()


def dump_values(relative: str) -> dict[str, str]:
    path = DDL / relative
    parsed = parse_dev_file(decode(path.read_bytes()), str(path))
    return {e.name: " ".join(e.words) for e in parsed.entries if isinstance(e, Assignment)}


UNITS: list[tuple[Callable[[], hid_sim.SimulatedUnit], str]] = [
    (hid_sim.apc_back_ups_es_850g2, "APC/APC__Back-UPS_ES_850G2__usbhid-ups__2.8.0__01.dev"),
    (
        hid_sim.cyberpower_cp1500pfclcd,
        "Cyber_Power_Systems/Cyber_Power_Systems__CP1500PFCLCD__usbhid-ups__2.7.4__01.dev",
    ),
    (hid_sim.eaton_5e650i, "Eaton/Eaton__5E650iUSB-AU__usbhid-ups__2.7.1__02.dev"),
    (hid_sim.tripplite_smart550usb, "Tripp_Lite/Tripp_Lite__Smart550USB__usbhid-ups__2.7.4__01.dev"),
    (hid_sim.apc_back_ups_bk650m2_ch, "APC/APC__Back-UPS_BK650M2-CH__usbhid-ups__2.8.0__01.dev"),
    (hid_sim.cyberpower_cst135uc2, "Cyber_Power_Systems/Cyber_Power_Systems__CST135XLU__usbhid-ups__2.7.4__01.dev"),
]
UNIT_IDS = ["apc", "cyberpower", "eaton", "tripplite", "apc-bk650m2-ch-replayed", "cyberpower-cst135uc2"]
DUMP_EXCEPTIONS = {
    # MGE HID 1.46 (NUT 2.8.0) names a unit without iModel "<iProduct> <VA rating>" and computes ups.realpower
    # (load x nominal VA x 0.8) where the 2.7.1 dump's MGE HID 1.32 did neither; Debian's usbhid-ups 2.8.0 gives
    # the same on this simulator (tests/integration/test_usbhid_vs_nut.py).
    "Eaton/Eaton__5E650iUSB-AU__usbhid-ups__2.7.1__02.dev": {"ups.model": "5E 650i 650", "ups.realpower": "73"},
    # The replay is the unit's explore log, taken minutes apart from the dump's upsc listing: the log's
    # PercentLoad report reads 0 (the dump says 5). The dump's owner wrote "xxxx" over ups.serial; its
    # device.serial and the log keep the serial.
    "APC/APC__Back-UPS_BK650M2-CH__usbhid-ups__2.8.0__01.dev": {"ups.load": "0", "ups.serial": "9B2019A14274"},
    # The CST135UC2 carries its series' dump from the CST135XLU, under its own name and 0601 product ID.
    "Cyber_Power_Systems/Cyber_Power_Systems__CST135XLU__usbhid-ups__2.7.4__01.dev": {
        "ups.model": "CST135UC2",
        "ups.productid": "0601",
    },
}
"""Where a unit rightly publishes otherwise than its dump, and why."""


@pytest.mark.parametrize(("unit", "dump"), UNITS, ids=UNIT_IDS)
def test_each_subdriver_publishes_its_ddl_dump(unit: Callable[[], hid_sim.SimulatedUnit], dump: str) -> None:
    """Every variable of the dump, with its value, and nothing else (driver.* and device.* are the runner's)."""
    expected = {k: v for k, v in dump_values(dump).items() if not k.startswith(CORE)} | DUMP_EXCEPTIONS.get(dump, {})
    driver, state = make_driver(hid_sim.HidUpsSimulator(unit()))
    asyncio.run(start(driver))
    # The dump parser drops trailing blanks (the ES 850G2 serial has two).
    published = {v.name: v.value.strip() for v in state.variables() if not v.name.startswith(CORE)}
    assert published == expected


def upsrw_listing(text: str) -> dict[str, int]:
    """The writable variables and maximum lengths of a dump's upsrw comment block."""
    found: dict[str, int] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith("# [") and line.endswith("]"):
            name = line[3:-1]
        elif line.startswith("# Maximum length: ") and name:
            found[name] = int(line.rsplit(" ", 1)[1])
    return found


def upscmd_listing(text: str) -> list[str]:
    """The commands of a dump's ``upscmd -l`` comment block ("# name - description" after its heading)."""
    found: list[str] = []
    listing = False
    for line in text.splitlines():
        if line.startswith("# Instant commands supported"):
            listing = True
        elif listing and " - " in line:
            found.append(line[2:].split(" - ")[0])
        elif listing and "DEVICE:EOC" in line:
            listing = False
    return found


OR500LCDRM1U = "Cyber_Power_Systems/Cyber_Power_Systems__OR500LCDRM1U__usbhid-ups__2.7.4__01.dev"


@pytest.mark.parametrize(
    ("unit", "dump", "not_in_descriptor"),
    [
        (*UNITS[0], set()),
        (*UNITS[3], set()),
        # The OR500LCDRM1U shares the CST135UC2's 0601 firmware family; its dump lists commands and upsrw. The
        # CST135UC2's descriptor has no UPS.Input.*VoltageTransfer (its transfer points sit under UPS.Output,
        # which cps-hid.c maps nowhere), so input.transfer.* are not writable there.
        (hid_sim.cyberpower_cst135uc2, OR500LCDRM1U, {"input.transfer.high", "input.transfer.low"}),
    ],
    ids=["apc", "tripplite", "cyberpower-0601"],
)
def test_commands_and_rw_types_match_the_dump(
    unit: Callable[[], hid_sim.SimulatedUnit], dump: str, not_in_descriptor: set[str]
) -> None:
    """The commands of the dump's upscmd listing, and its upsrw variables with their lengths."""
    driver, state = make_driver(hid_sim.HidUpsSimulator(unit()))
    asyncio.run(start(driver))
    text = (DDL / dump).read_text()
    assert state.commands() == sorted(upscmd_listing(text))
    writable = {name: length for name, length in upsrw_listing(text).items() if name not in not_in_descriptor}
    assert {v.name: v.aux for v in state.variables() if v.is_writable} == writable


def test_status_synthesis_follows_nut_order() -> None:
    assert synthesize_status({"online": True}) == ["OL"]
    assert synthesize_status({}) == ["OB"]
    assert synthesize_status({"dischrg": True, "lowbatt": True}) == ["OB", "DISCHRG", "LB"]
    assert synthesize_status({"online": True, "dischrg": True}) == ["OL", "DISCHRG"]
    assert synthesize_status({"online": True, "dischrg": True}, onlinedischarge=True) == ["OB", "DISCHRG"]
    assert synthesize_status({"online": True, "chrg": True, "fullycharged": True}) == ["OL"]
    assert synthesize_status({"dischrg": True, "depleted": True, "timelimitexp": True}) == ["OB", "LB"]
    every = {"online": True, "overload": True, "replacebatt": True, "trim": True, "boost": True}
    every |= {"bypassauto": True, "off": True, "cal": True, "shutdownimm": True}
    assert synthesize_status(every) == ["OL", "LB", "OVER", "RB", "TRIM", "BOOST", "BYPASS", "OFF", "CAL"]


def test_quick_poll_sees_an_outage_and_the_full_walk_waits_for_pollfreq() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_es_850g2())
    clock = Clock()
    driver, state = make_driver(simulator, clock, pollfreq="30")
    asyncio.run(start(driver))
    simulator.set(f"{PS}.PresentStatus.ACPresent", 0)
    simulator.set(f"{PS}.PresentStatus.Discharging", 1)
    simulator.set(f"{PS}.Discharging", 1)  # the ES series also reports it straight under PowerSummary
    simulator.set(f"{PS}.RemainingCapacity", 80)
    clock.now = 2
    asyncio.run(driver.update())
    assert state.get("ups.status") == "OB DISCHRG"
    assert state.get("battery.charge") == "100"  # not a quick-poll variable: waits for the full walk
    clock.now = 31
    asyncio.run(driver.update())
    assert state.get("battery.charge") == "80"


def test_interrupt_events_update_between_full_walks_and_pollonly_ignores_them() -> None:
    # interruptsize 1 reads only the report ID byte of each packet: the value never arrives.
    cases: list[tuple[dict[str, str | bool], str]] = [({}, "55"), ({"pollonly": True}, "100")]
    cases.append(({"interruptsize": "1"}, "100"))
    for options, expected in cases:
        simulator = hid_sim.HidUpsSimulator(hid_sim.cyberpower_cp1500pfclcd())
        driver, state = make_driver(simulator, **options)
        asyncio.run(start(driver))
        # The UPS reports 55 % on the interrupt pipe; battery.charge is not read by the quick walk.
        simulator.set(f"{PS}.RemainingCapacity", 55)
        simulator.send_input(f"{PS}.RemainingCapacity")
        simulator.set(f"{PS}.RemainingCapacity", 100)
        asyncio.run(driver.update())
        assert state.get("battery.charge") == expected, options


def test_commands_write_nut_values_to_the_reports() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.cyberpower_cp1500pfclcd())
    driver, state = make_driver(simulator, offdelay="45", ondelay="90")
    asyncio.run(start(driver))
    assert state.get("ups.delay.shutdown") == "45" and state.get("ups.delay.start") == "90"
    assert asyncio.run(driver.instcmd("shutdown.return", None)) == STAT_HANDLED
    assert simulator.writes[-2:] == [("UPS.Output.DelayBeforeStartup", 90), ("UPS.Output.DelayBeforeShutdown", 45)]
    assert asyncio.run(driver.instcmd("shutdown.stop", None)) == STAT_HANDLED
    assert simulator.writes[-1] == ("UPS.Output.DelayBeforeShutdown", -1)
    assert asyncio.run(driver.instcmd("shutdown.stayoff", None)) == STAT_HANDLED
    assert ("UPS.Output.DelayBeforeStartup", -1) in simulator.writes
    assert asyncio.run(driver.instcmd("load.off", None)) == STAT_HANDLED
    assert simulator.writes[-1] == ("UPS.Output.DelayBeforeShutdown", 0)
    assert asyncio.run(driver.instcmd("beeper.disable", None)) == STAT_HANDLED
    assert simulator.writes[-1] == (f"{PS}.AudibleAlarmControl", 1)
    assert asyncio.run(driver.instcmd("test.battery.start.quick", None)) == STAT_HANDLED
    assert simulator.writes[-1] == ("UPS.Output.Test", 1)
    assert asyncio.run(driver.instcmd("load.off.delay", "nonsense")) == STAT_INVALID
    assert asyncio.run(driver.instcmd("calibrate.start", None)) == STAT_UNKNOWN


def test_killpower_sends_shutdown_return_or_falls_back_to_load_off_delay() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_es_850g2())
    driver, _ = make_driver(simulator, offdelay="60")
    asyncio.run(start(driver))
    asyncio.run(driver.shutdown())
    # The ES 850G2 has no DelayBeforeStartup: NUT's order ends at shutdown.reboot (DelayBeforeReboot = 10).
    assert simulator.writes[-1] == (f"{PS}.DelayBeforeReboot", 10)


def test_setvar_writes_the_device_or_keeps_a_driver_setting() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_es_850g2())
    driver, state = make_driver(simulator)
    asyncio.run(start(driver))
    assert asyncio.run(driver.setvar("battery.charge.low", "25")) == STAT_HANDLED
    assert simulator.values[f"{PS}.RemainingCapacityLimit"] == 25
    assert asyncio.run(driver.setvar("input.sensitivity", "high")) == STAT_HANDLED
    assert simulator.values["UPS.Input.APCSensitivity"] == 2
    assert asyncio.run(driver.setvar("input.sensitivity", "extreme")) == STAT_INVALID
    assert asyncio.run(driver.setvar("ups.delay.shutdown", "90")) == STAT_HANDLED
    assert state.get("ups.delay.shutdown") == "90"
    assert asyncio.run(driver.setvar("battery.charge", "1")) == STAT_UNKNOWN
    asyncio.run(driver.update())  # a SET makes the next update a full walk that re-reads semi-static values
    assert state.get("battery.charge.low") == "25"


def test_a_lying_descriptor_is_a_device_error_not_a_crash() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_es_850g2())
    simulator.unit = replace(simulator.unit, descriptor=simulator.unit.descriptor[:-5])
    driver, _ = make_driver(simulator)
    with pytest.raises(DeviceError, match="unusable HID report descriptor"):
        asyncio.run(driver.open())


def test_a_stalled_report_is_skipped_and_a_gone_device_raises() -> None:
    simulator = hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_es_850g2())
    driver, state = make_driver(simulator)
    asyncio.run(start(driver))
    simulator.stalled_reports.add(0x0C)  # RemainingCapacity / RunTimeToEmpty
    simulator.set(f"{PS}.PresentStatus.ACPresent", 0)
    driver._data_changed = True
    asyncio.run(driver.update())
    assert state.get("ups.status") == "OB"
    simulator.plugged = False
    with pytest.raises(DeviceError):
        asyncio.run(driver.update())


def test_matching_and_the_vendor_product_table() -> None:
    apc = UsbIdentity(0x051D, 0x0002)
    assert subdriver_for(apc, productid_given=False) is APC
    odd_apc = UsbIdentity(0x051D, 0x1234)
    assert subdriver_for(odd_apc, productid_given=False) is None
    assert subdriver_for(odd_apc, productid_given=True) is APC
    assert subdriver_for(apc, productid_given=False, wanted="mge") is None
    # tripplite_usb's unit is refused even when productid is given (tripplite_claim)
    assert subdriver_for(UsbIdentity(0x09AE, 0x0001), productid_given=True) is None
    assert subdriver_for(UsbIdentity(0x09AE, 0x9999), productid_given=True) is TRIPPLITE
    # HP makes many USB devices: an unlisted HP product goes to the first subdriver in NUT's order, mge
    assert subdriver_for(UsbIdentity(0x03F0, 0x1FE6), productid_given=False) is EATON
    assert subdriver_for(UsbIdentity(0x03F0, 0x1F06), productid_given=False) is TRIPPLITE
    assert subdriver_for(UsbIdentity(0x03F0, 0x4242), productid_given=False) is None
    assert subdriver_for(UsbIdentity(0x03F0, 0x4242), productid_given=True) is EATON
    table = device_table()
    assert (0x0764, 0x0501, "CyberPower HID 0.6") in table
    assert (0x0463, 0xFFFF, "MGE HID 1.46") in table
    assert (0x09AE, 0x3024, "TrippLite HID 0.84") in table


def test_the_replayed_bk650m2_ch_is_ol_dischrg_unless_told_onlinedischarge(caplog: pytest.LogCaptureFixture) -> None:
    """The BK650M2-CH's own reports say OL+DISCHRG while on mains; its owner needed ``onlinedischarge`` to see OB.

    As NUT 2.8.0 did for him (the dump's comment), the driver names the option once, and with it reports OB.
    """
    for flag, status in ((False, "OL DISCHRG"), (True, "OB DISCHRG")):
        caplog.clear()
        driver, state = make_driver(hid_sim.HidUpsSimulator(hid_sim.apc_back_ups_bk650m2_ch()), onlinedischarge=flag)
        asyncio.run(start(driver))
        asyncio.run(driver.update())
        assert state.get("ups.status") == status
        hints = [r for r in caplog.records if "onlinedischarge" in r.getMessage()]
        assert len(hints) == (0 if flag else 1)
