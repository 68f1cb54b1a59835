"""The Megatec dialect table and the nutdrv_qx driver over the ``megatec://`` simulator.

Golden vectors restate NUT 2.8.0's own test table for megatec (nutdrv_qx_megatec.c, ``testing[]``) and the
reply layouts of its qx2nut table."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.dev_file import Assignment, parse_dev_file
from appliance.drivers.nutdrv_qx import (
    NutdrvQx,
    RuntimeModel,
    battery_charge,
    battery_levels,
    battery_packs,
    parse_runtimecal,
)
from appliance.drivers.qx_megatec import MEGATEC, CommandError, Delays, parse_reply, status_from_bits
from appliance.nutconf.schema import driver_schema
from appliance.protocol.driver_socket import STAT_FAILED, STAT_HANDLED, STAT_INVALID
from tests.megatec_sim import SIMULATORS, MegatecUps, register_url_handler
from tests.nut_reference import ddl_dumps

Q1, RATINGS, IDENTITY = MEGATEC.queries
MEGATEC_VARIABLES = {column.var for query in MEGATEC.queries for column in query.columns}


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
        ("00000100", "230.0", "230.0", "OL CAL"),
        ("10000010", "0.0", "230.0", "OB FSD"),
    ],
)
def test_status_bits(bits: str, vi: str, vo: str, status: str) -> None:
    values = status_from_bits(bits, vi, vo)
    assert values is not None and values["ups.status"] == status


@pytest.mark.parametrize(
    ("bits", "vi", "vo"),
    [
        ("00100000", "230.0", "100.0"),  # bypass/boost/buck with the output far too low
        ("00100000", "100.0", "230.0"),  # ... or far too high
        ("10100000", "0.0", "230.0"),  # ... or no input at all
        ("x0000000", "230.0", "230.0"),  # a bit NUT reads every poll is garbage
        ("000001?0", "230.0", "230.0"),
        ("0000", "230.0", "230.0"),  # missing bits
    ],
)
def test_status_bits_that_fail_the_poll_as_in_nut(bits: str, vi: str, vo: str) -> None:
    assert status_from_bits(bits, vi, vo) is None


def test_ignoresab_drops_the_shutdown_active_bit() -> None:
    assert status_from_bits("00000010", "230.0", "230.0", ignore_sab=True) == {
        "ups.type": "online",
        "ups.beeper.status": "disabled",
        "ups.status": "OL",
    }
    assert status_from_bits("000000?0", "230.0", "230.0", ignore_sab=True) is not None


def test_status_bits_alarms_type_and_beeper() -> None:
    values = status_from_bits("00011011", "230.0", "230.0")
    assert values is not None
    assert values["ups.alarm"] == "UPS selftest failed! Shutdown imminent!"
    assert values["ups.type"] == "offline / line interactive"
    assert values["ups.beeper.status"] == "enabled"
    assert status_from_bits("0000x00y", "230.0", "230.0") == {"ups.status": "OL"}  # bits NUT reads seldom: skipped


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
    async def go(qx: NutdrvQx) -> list[int]:
        await qx.open()
        await qx.initinfo()
        results = [await qx.instcmd("test.battery.start", "300"), await qx.instcmd("test.battery.start", "30")]
        results += [await qx.setvar("ups.delay.shutdown", "5"), await qx.setvar("ups.delay.shutdown", "45")]
        results += [await qx.setvar("ups.delay.start", "299"), await qx.instcmd("shutdown.return", None)]
        await qx.shutdown()  # -k takes the delays from ups.conf again, as NUT's does
        return results

    qx = driver(offdelay="130", ondelay="600")
    assert asyncio.run(go(qx)) == [STAT_HANDLED, STAT_FAILED, STAT_INVALID, STAT_HANDLED, STAT_HANDLED, STAT_HANDLED]
    commands = [line for line in ups.received if line not in ("Q1", "F", "I")]
    assert commands == ["T05", "S.7R0004", "C", "S02R0010"]
    assert (qx.state.get("ups.delay.shutdown"), qx.state.get("ups.delay.start")) == ("120", "600")


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("ups.delay.shutdown", "12", 12),
        ("ups.delay.shutdown", "59", 54),
        ("ups.delay.shutdown", "61", 60),
        ("ups.delay.shutdown", "600", 600),
        ("ups.delay.start", "0", 0),
        ("ups.delay.start", "179", 120),
        ("ups.delay.start", "599940", 599940),
    ],
)
def test_delays_are_truncated_as_the_ups_takes_them(name: str, value: str, kept: int) -> None:
    assert Delays().set(name, value) == kept


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ups.delay.shutdown", "11"),
        ("ups.delay.shutdown", "601"),
        ("ups.delay.start", "599941"),
        ("ups.delay.start", "-1"),
    ],
)
def test_delays_out_of_range(name: str, value: str) -> None:
    with pytest.raises(CommandError):
        Delays().set(name, value)


def test_a_refused_command_is_a_failure(ups: MegatecUps) -> None:
    async def go() -> int:
        qx = driver()
        await qx.open()
        ups.respond = lambda line: line.encode() + b"\r"  # type: ignore[method-assign]  # echoes everything now
        return await qx.instcmd("test.battery.start.deep", None)

    assert asyncio.run(go()) == STAT_FAILED


def test_runtime_model_follows_nuts_formulas() -> None:
    model = RuntimeModel.from_options("240,100,720,50", None, None)
    assert model.exponent == pytest.approx(1.585, abs=1e-3) and model.nominal == pytest.approx(240)
    model.start(50, now=1000.0)
    assert model.update(1000.0, online=False, load=50, voltage_fraction=1.0) == ("50", "360")
    # 30 s on battery at the previous effective load (0.5 ** 1.585 = 1/3): 120 - 10 = 110 s at full load left
    assert model.update(1030.0, online=False, load=50, voltage_fraction=1.0) == ("46", "330")
    # 4320 s on line recharge 240 * 4320 / 43200 = 24 s
    assert model.update(5350.0, online=True, load=50, voltage_fraction=1.0) == ("56", "402")
    # the voltage says less than the model: the voltage wins (an aged battery)
    assert model.update(5350.0, online=True, load=50, voltage_fraction=0.2) == ("20", "144")
    # an idle UPS is taken as idleload (10 %), and there is no runtime without a load
    assert model.update(5350.0, online=True, load=1, voltage_fraction=None) == ("20", "480")
    assert model.update(5350.0, online=True, load=None, voltage_fraction=None) == ("20", None)


def test_runtime_model_options() -> None:
    model = RuntimeModel.from_options("300,80,900,40", "3600", "25")
    assert (model.chargetime, model.idleload) == (3600, 0.25)
    schema = driver_schema("nutdrv_qx")
    assert schema is not None
    for option, value in [
        ("runtimecal", "240,100,720"),
        ("runtimecal", "720,100,240,50"),
        ("runtimecal", "240,100,720,100"),
        ("runtimecal", "240,120,720,50"),
        ("chargetime", "0"),
        ("idleload", "0"),
        ("idleload", "101"),
        ("protocol", "voltronic"),
        ("cablepower", "sideways"),
        ("offdelay", "5"),
    ]:
        check = schema[option].check
        assert check is not None and check(value), (option, value)
    assert parse_runtimecal(" 240, 100, 720, 50") == (240, 100, 720, 50)


def test_the_driver_estimates_runtime_on_an_injected_clock(ups: MegatecUps) -> None:
    now = [100.0]
    qx = NutdrvQx(
        DriverConfig(ups="ups", port="megatec://ups", options={"runtimecal": "240,100,720,50"}),
        DriverState(),
        clock=lambda: now[0],
    )

    async def go() -> list[tuple[str | None, str | None]]:
        await qx.open()
        await qx.initinfo()
        seen = [(qx.state.get("battery.charge"), qx.state.get("battery.runtime"))]
        ups.q1 = "(000.0 000.0 230.0 050 00.0 22.7 30.0 10000000"
        now[0] += 60  # drained at the last update's load (14 %, taken as the 10 % idle load): 6 s
        await qx.update()
        now[0] += 60  # then at 50 %: 20 s
        await qx.update()
        seen += [(qx.state.get("battery.charge"), qx.state.get("battery.runtime"))]
        return seen

    # 22.7 V between 20.8 and 26.0 V: 37 % (36.5 exactly, the model's 87.7 s at full load); 14 % load counts as
    # the idle 10 %; then 87.7 - 6 - 20 = 61.7 s at full load, 185 s at 50 %
    assert asyncio.run(go()) == [("37", "877"), ("26", "185")]


@pytest.mark.parametrize(("reply", "result"), [("ACK", STAT_HANDLED), ("ack", STAT_HANDLED), ("NAK", STAT_FAILED)])
def test_an_acknowledging_unit(reply: str, result: int, ups: MegatecUps) -> None:
    ups.command_reply = reply

    async def go() -> int:
        qx = driver()
        await qx.open()
        return await qx.instcmd("beeper.toggle", None)

    assert asyncio.run(go()) == result


def test_a_command_on_a_lost_port_fails(ups: MegatecUps) -> None:
    async def go() -> int:
        qx = driver()
        await qx.open()
        assert qx.port is not None
        qx.port.close()
        return await qx.instcmd("load.on", None)

    assert asyncio.run(go()) == STAT_FAILED


MEGATEC_DUMPS = [
    path
    for path in ddl_dumps("*/*nutdrv_qx*.dev")
    if "driver.version.data: Megatec" in path.read_text(errors="replace")
]


def _megatec_unit(dump: dict[str, str]) -> MegatecUps:
    """A simulated unit whose Q1/F/I replies carry a DDL dump's values (a column the dump lacks is dashes)."""

    def field(name: str, width: int, decimals: int) -> str:
        """The value in ``width`` characters with as many of ``decimals`` as fit."""
        if (value := dump.get(name)) is None:
            return "-" * width
        texts = (f"{float(value):0{width}.{places}f}" for places in range(decimals, -1, -1))
        return next(text for text in texts if len(text) <= width)

    status = dump["ups.status"].split()
    bits = [
        "OB" in status,
        "LB" in status,
        bool({"TRIM", "BOOST", "BYPASS"} & set(status)),
        "ups.alarm" in dump,
        dump.get("ups.type") == "offline / line interactive",
        "CAL" in status,
        "FSD" in status,
        dump.get("ups.beeper.status") == "enabled",
    ]
    q1 = " ".join(
        [
            "(" + field("input.voltage", 5, 1),
            field("input.voltage.fault", 5, 1),
            field("output.voltage", 5, 1),
            field("ups.load", 3, 0),
            field("input.frequency", 4, 1),
            field("battery.voltage", 4, 2),
            field("ups.temperature", 4, 1),
            "".join("1" if bit else "0" for bit in bits),
        ]
    )
    ratings = "#" + " ".join(
        [
            field("input.voltage.nominal", 5, 1),
            field("input.current.nominal", 3, 1),
            field("battery.voltage.nominal", 5, 2),
            field("input.frequency.nominal", 4, 1),
        ]
    )
    names = [(dump.get(name) or "").ljust(width) for name, width in (("device.mfr", 15), ("device.model", 10))]
    identity = "#" + " ".join([*names, (dump.get("ups.firmware") or "").ljust(10)])
    return MegatecUps(q1=q1, f=ratings, i=identity)


@pytest.mark.parametrize("path", MEGATEC_DUMPS, ids=lambda path: path.stem)
def test_ddl_megatec_dumps_are_reproduced(path: Path, ups: MegatecUps) -> None:
    dump = {
        e.name: e.value for e in parse_dev_file(path.read_text(errors="replace")).entries if isinstance(e, Assignment)
    }
    SIMULATORS["ups"] = _megatec_unit(dump)
    state = DriverState()
    for name in ("battery.voltage.low", "battery.voltage.high"):  # the user's levels (ups.conf default.*)
        state.set_info(name, dump[name])

    async def go() -> None:
        qx = NutdrvQx(DriverConfig(ups="ups", port="megatec://ups"), state)
        await qx.open()
        await qx.initinfo()

    asyncio.run(go())
    compared = {name for name in MEGATEC_VARIABLES if name in dump} | {"ups.status"}
    if "battery.runtime" not in dump:  # a dump made with runtimecal has the model's charge
        compared.add("battery.charge")
    for name in sorted(compared):
        ours, theirs = state.get(name), dump[name]
        assert ours is not None, name
        if name in ("ups.status", "ups.type", "ups.beeper.status", "device.mfr", "device.model", "ups.firmware"):
            assert ours == theirs, name
        else:
            assert float(ours) == pytest.approx(float(theirs)), name
    assert len(compared) >= 10
