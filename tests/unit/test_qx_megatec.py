"""The Megatec dialect table and the nutdrv_qx driver over the ``megatec://`` simulator.

Golden vectors restate NUT 2.8.0's own test table for megatec (nutdrv_qx_megatec.c, ``testing[]``) and the
reply layouts of its qx2nut table."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.nutdrv_qx import NutdrvQx
from appliance.drivers.qx_megatec import (
    MEGATEC,
    CommandError,
    Delays,
    battery_charge,
    battery_levels,
    battery_packs,
    parse_reply,
    status_from_bits,
)
from appliance.protocol.driver_socket import STAT_FAILED, STAT_HANDLED, STAT_INVALID
from tests.megatec_sim import SIMULATORS, MegatecUps, register_url_handler

Q1, RATINGS, IDENTITY = MEGATEC.queries


def test_q1_golden_vector() -> None:
    values = parse_reply(Q1, "(215.0 195.0 230.0 014 49.0 22.7 30.0 00000000\r")
    assert values == {
        "input.voltage": "215.0",
        "input.voltage.fault": "195.0",
        "output.voltage": "230.0",
        "ups.load": "14",
        "input.frequency": "49.0",
        "battery.voltage": "22.70",
        "ups.temperature": "30.0",
    }


def test_f_and_i_golden_vectors() -> None:
    assert parse_reply(RATINGS, "#230.0 004 24.00 50.0\r") == {
        "input.voltage.nominal": "230",
        "input.current.nominal": "4.0",
        "battery.voltage.nominal": "24.0",
        "input.frequency.nominal": "50",
    }
    assert parse_reply(IDENTITY, "#NOT_A_LIVE_UPS  TESTING    TESTING   \r") == {
        "device.mfr": "NOT_A_LIVE_UPS",
        "device.model": "TESTING",
        "ups.firmware": "TESTING",
    }


@pytest.mark.parametrize(
    "reply",
    ["Q1\r", "(215.0 195.0 230.0\r", "#215.0 195.0 230.0 014 49.0 22.7 30.0 00000000\r", "", "\x00\xff garbage\r"],
)
def test_echo_short_or_wrong_replies_are_no_reply(reply: str) -> None:
    assert parse_reply(Q1, reply) is None


def test_a_non_numeric_column_is_left_out() -> None:
    values = parse_reply(Q1, "(215.0 ----- 230.0 014 49.0 22.7 --.- 00000000\r")
    assert values is not None and "input.voltage.fault" not in values and "ups.temperature" not in values


@pytest.mark.parametrize(
    ("bits", "vi", "vo", "status"),
    [
        ("00000000", "230.0", "230.0", "OL"),
        ("10000000", "0.0", "230.0", "OB"),
        ("11000000", "0.0", "230.0", "OB LB"),
        ("00100000", "250.0", "230.0", "OL TRIM"),
        ("00100000", "230.0", "230.0", "OL BYPASS"),
        ("00100000", "200.0", "230.0", "OL BOOST"),
        ("00100000", "230.0", "100.0", "OL"),  # output far too low: NUT ignores the bit
        ("00000100", "230.0", "230.0", "OL CAL"),
        ("10000010", "0.0", "230.0", "OB FSD"),
    ],
)
def test_status_bits(bits: str, vi: str, vo: str, status: str) -> None:
    assert status_from_bits(bits, vi, vo)["ups.status"] == status


def test_status_bits_alarms_type_and_beeper() -> None:
    values = status_from_bits("00011011", "230.0", "230.0")
    assert values["ups.alarm"] == "UPS selftest failed! Shutdown imminent!"
    assert values["ups.type"] == "offline / line interactive"
    assert values["ups.beeper.status"] == "enabled"
    assert "ups.type" not in status_from_bits("0000x000", "230.0", "230.0")  # a bit that is not 0/1 is skipped


def test_battery_guesstimation() -> None:
    assert battery_levels(24.0) == pytest.approx((20.8, 26.0))
    assert battery_charge(22.7, 20.8, 26.0) == "37"
    assert battery_charge(30.0, 20.8, 26.0) == "100" and battery_charge(10.0, 20.8, 26.0) == "0"
    assert battery_packs(2.27, 24.0) == 12  # a per-cell voltage
    assert battery_packs(22.7, 24.0) == 1
    assert battery_packs(5.0, 240.0) == 48
    assert battery_packs(50.0, 24.0) == 0.5


@pytest.mark.parametrize(
    ("command", "delays", "param", "wire"),
    [
        ("shutdown.return", Delays(30, 180), None, "S.5R0003\r"),
        ("shutdown.return", Delays(30, 0), None, "S.5\r"),
        ("shutdown.return", Delays(120, 600), None, "S02R0010\r"),
        ("shutdown.stayoff", Delays(30, 180), None, "S.5R0000\r"),
        ("shutdown.stayoff", Delays(600, 180), None, "S10R0000\r"),
        ("test.battery.start", Delays(), None, "T10\r"),
        ("test.battery.start", Delays(), "120", "T02\r"),
        ("load.off", Delays(), None, "S00R0000\r"),
        ("beeper.toggle", Delays(), None, "Q\r"),
        ("test.battery.stop", Delays(), None, "CT\r"),
    ],
)
def test_command_wire_strings(command: str, delays: Delays, param: str | None, wire: str) -> None:
    assert MEGATEC.commands[command](delays, param) == wire


@pytest.mark.parametrize("param", ["59", "5941", "ten"])
def test_battery_test_time_out_of_range(param: str) -> None:
    with pytest.raises(CommandError):
        MEGATEC.commands["test.battery.start"](Delays(), param)


@pytest.fixture
def ups() -> Iterator[MegatecUps]:
    register_url_handler()
    SIMULATORS["ups"] = unit = MegatecUps()
    yield unit
    SIMULATORS.clear()


def driver(**options: str) -> NutdrvQx:
    return NutdrvQx(DriverConfig(ups="ups", port="megatec://ups", options=dict(options)), DriverState())


def test_the_driver_publishes_what_the_unit_says(ups: MegatecUps) -> None:
    async def go() -> DriverState:
        qx = driver(protocol="megatec")
        await qx.open()
        await qx.initinfo()
        ups.q1 = "(000.0 000.0 230.0 014 00.0 21.0 30.0 11000001"
        await qx.update()
        return qx.state

    state = asyncio.run(go())
    assert state.get("ups.status") == "OB LB"
    assert state.get("battery.charge") == "4"
    assert state.get("device.model") == "TESTING" and state.get("input.voltage.nominal") == "230"
    assert state.get("ups.beeper.status") == "enabled"
    assert set(state.commands()) == set(MEGATEC.commands)


def test_an_unsupported_identity_query_is_skipped(ups: MegatecUps) -> None:
    ups.i = None  # the unit echoes I

    async def go() -> DriverState:
        qx = driver()
        await qx.open()
        await qx.initinfo()
        return qx.state

    state = asyncio.run(go())
    assert state.get("device.mfr") is None and state.get("ups.status") == "OL"


def test_a_silent_or_garbled_unit_goes_stale_and_comes_back(ups: MegatecUps, caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        qx = driver()
        await qx.open()
        await qx.initinfo()
        ups.silent = True
        for _ in range(3):
            with pytest.raises(DeviceError):
                await qx.update()
        ups.silent, ups.q1 = False, "(garbage"
        with pytest.raises(DeviceError):
            await qx.update()
        ups.q1 = "(215.0 195.0 230.0 014 49.0 22.7 30.0 10000000"
        assert await qx.update() is None
        assert qx.state.get("ups.status") == "OB"

    asyncio.run(go())
    assert sum("no valid reply" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 1


def test_commands_setvar_and_killpower_on_the_wire(ups: MegatecUps) -> None:
    async def go() -> list[int]:
        qx = driver(offdelay="120", ondelay="600")
        await qx.open()
        results = [await qx.instcmd("test.battery.start", "300"), await qx.instcmd("test.battery.start", "30")]
        results.append(await qx.setvar("ups.delay.shutdown", "5"))
        results.append(await qx.setvar("ups.delay.shutdown", "60"))
        await qx.shutdown()
        return results

    assert asyncio.run(go()) == [STAT_HANDLED, STAT_INVALID, STAT_INVALID, STAT_HANDLED]
    assert ups.received[-3:] == ["T05", "C", "S01R0010"]


def test_a_refused_command_is_a_failure(ups: MegatecUps) -> None:
    async def go() -> int:
        qx = driver()
        await qx.open()
        ups.respond = lambda line: line.encode() + b"\r"  # type: ignore[method-assign]  # echoes everything now
        return await qx.instcmd("test.battery.start.deep", None)

    assert asyncio.run(go()) == STAT_FAILED
