"""tripplite_usb: framing, numbers, every protocol against its DDL dump, commands on the wire, bad answers.

The driver runs its real pyusb code against the simulated units of tests/tripplite_sim.py on the fake backend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from appliance.drivers import runner
from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.runner import DriverRunner, DriverSettings
from appliance.drivers.tripplite_usb import (
    Model,
    TrippliteUsb,
    battery_charge,
    checksum,
    decode_status,
    frame,
    hex_number,
    hexascdump,
)
from appliance.protocol.driver_socket import STAT_FAILED, STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN
from tests.fake_usb import FakeBackend
from tests.tripplite_sim import FIXTURES, TrippliteSim, ddl_values, parse_frame

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


class Waits:
    """The pauses the driver asked for (instead of sleeping)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def driver_class(backend: FakeBackend, waits: Callable[[float], None] = lambda _: None) -> type[TrippliteUsb]:
    """tripplite_usb on the fake bus, with instant pauses."""
    return type("SimulatedTrippliteUsb", (TrippliteUsb,), {"usb_backend": backend, "pause": staticmethod(waits)})


def started(sim: TrippliteSim, **options: str | bool) -> tuple[TrippliteUsb, DriverState]:
    """A driver opened and initialised on ``sim``, polled once."""
    state = DriverState()
    driver = driver_class(FakeBackend(sim))(DriverConfig(ups="tl", port="auto", options=dict(options)), state)

    async def start() -> None:
        await driver.open()
        await driver.initinfo()
        await driver.update()

    run(start())
    return driver, state


# -- framing and numbers ------------------------------------------------------------------------


def test_frames_match_the_captured_wire_bytes() -> None:
    assert frame(b"\0") == bytes.fromhex("3A00FF0D00000000")  # protocol query
    assert frame(b"S") == bytes.fromhex("3A53AC0D00000000")
    assert frame(b"W\0") == bytes.fromhex("3A5700A80D000000")
    assert frame(b"N\x00\x40") == bytes.fromhex("3A4E0040710D0000")
    assert checksum(b"\xff\xff") == 1  # the sum wraps modulo 256
    with pytest.raises(ValueError, match="1 to 4 bytes"):
        frame(b"TOOLONG")
    # The simulated unit checks frames with its own code: every frame the driver builds passes.
    for payload in (b"\0", b"S", b"W\0", b"N05", b"K\x01\x01", b"J\xff\xff"):
        assert parse_frame(frame(payload)) == payload
    assert parse_frame(bytes.fromhex("3A53AD0D00000000")) is None  # bad checksum


@pytest.mark.parametrize(
    ("data", "value"),
    [(b"0CBA", 3258), (b"7B", 123), (b" 1f", 31), (b"0x1F", 31), (b"XX", 0), (b"12\x0034", 18), (b"-A", -10)],
)
def test_hex_numbers_are_read_as_strtol_does(data: bytes, value: int) -> None:
    assert hex_number(data) == value


def test_hexascdump_prints_as_nut_does() -> None:
    assert hexascdump(bytes.fromhex("3130383358580d")) == "31 30 38 33 58 58 0d '1083XX.'"
    assert hexascdump(bytes.fromhex("01040000640000")) == "01 04 00 00 64 00 00 '....d..'"


def test_battery_charge_follows_the_square_root_curve() -> None:
    assert battery_charge(13.4, 11.0, 13.4) == 100
    assert battery_charge(11.0, 11.0, 13.4) == 10
    assert battery_charge(12.2, 11.0, 13.4) == 70  # 100 * sqrt(0.5)
    assert battery_charge(13.0, 11.0, 13.4) == 91


@pytest.mark.parametrize(
    ("protocol", "answer", "tokens", "test_status", "stale"),
    [
        (0x1001, b"S10", ["OL"], None, False),
        (0x1001, b"S11", ["OB"], None, False),
        (0x1001, b"S12", ["BYPASS"], None, False),
        (0x1001, b"S03", ["LB"], None, False),  # '3' is only logged
        (0x1001, b"S1?", [], None, True),
        (0x3003, b"S10\0\1", ["OB"], "Battery OK", False),
        (0x3003, b"S22\0\0", ["CAL", "OL", "RB"], None, False),
        (0x3003, b"S05\0\4", ["OVER", "OFF", "LB"], "Battery fail - overcurrent?", False),
        (0x2001, b"S12\0\0", ["CAL", "OL"], None, False),
        (0x2001, b"S20\0\0", ["OL"], "Battery OK", True),  # RB exists on 3003 only
        (0x3005, b"S\x00\x01\0\x01", ["OB", "LB"], "Battery bad - replace", False),  # binary digits
        (0x3005, b"S\x01\x09\0\x00", ["OL"], None, True),
    ],
)
def test_status_answers(protocol: int, answer: bytes, tokens: list[str], test_status: str | None, stale: bool) -> None:
    status = decode_status(answer.ljust(8, b"\0"), Model(protocol))
    assert status.tokens == tokens
    assert status.test_status == test_status
    assert bool(status.problems) is stale


# -- every protocol against the dump it was built from --------------------------------------------

# What we publish beyond or unlike the dump: values the older NUT behind a dump did not publish (each derived by
# hand from the answer bytes), and where NUT 2.8.0, which we follow, differs from that older driver. None: a
# variable of the dump that 2.8.0 no longer publishes.
DUMP_DIFFERENCES: dict[int, dict[str, str | None]] = {
    0x3005: {  # 2.7.2 could not read 3005 answers yet
        "ups.status": "OL",  # S: s[4] = 0, s[1] = 1 (binary)
        "battery.voltage": "13.90",  # D bytes 3-4 = 0x008b = 139 -> 13.9 V on a 12 V battery
        "battery.charge": "100",  # 13.9 V >= battery_max
        "input.voltage": "121",  # D bytes 1-2 = 0x0079
        "input.voltage.minimum": "116",  # M = 0x0074, 0x007f
        "input.voltage.maximum": "127",
        "ups.load": "0",  # L byte 1
        "ups.temperature": "32",  # T byte 1 = 0x20, binary (NUT 2.8.0 reads it as hex ASCII: 0)
        "ups.debug.L": None,  # 2.8.0 prints L only for 0004 and unknown protocols
    },
    0x3003: {
        "battery.charge": "100",  # 13.5 V per block is above battery_max; 2.2.2 used another curve
        "input.voltage.maximum": "268",  # 2.8.0 scales the minimum/maximum to the 230 V range
        "ups.debug.M": None,  # printed only when M is longer than 4 digits
        "ups.vendorid": "09ae",
        "ups.productid": "0001",
    },
    0x2001: {"ups.id": "65535"},  # 2.8.0 asks 2001 units for U
    0x1001: {
        # 2.8.0 reads V[1] = '2' as 230 V; the 2.7.2 development build behind the dump said 240 V,
        # and every voltage scales with it.
        "input.voltage.nominal": "230",
        "input.voltage": "241.44",
        "output.voltage": "216.6",
    },
    0x0004: {  # a 2006 dump (see the fixture): most of this was not published then
        "battery.voltage": "41.10",  # D says 13.7 V per block; the 2006 driver printed 40.50
        "ups.debug.T": "36 38 30 32 35 38 0d '680258.'",  # built (see the fixture)
        "ups.debug.P": "31 35 30 58 58 58 0d '150XXX.'",
        "ups.debug.V": "31 30 36 58 58 58 0d '106XXX.'",
        "ups.debug.L": "31 31 58 58 58 58 0d '11XXXX.'",
        "battery.charge": "100",
        "battery.test.status": "Battery OK",
        "input.frequency": "60.0",
        "input.voltage.maximum": "121",  # M = "00" "79"
        "input.voltage.minimum": "  0",  # NUT's %3ld
        "ups.temperature": "16.8",  # 0x68 * 0.3636 - 21
        "ups.debug.load_banks": "0",
        "ups.firmware.aux": "protocol 0004",
        "ups.vendorid": "09ae",
        "ups.productid": "0001",
    },
}


@pytest.mark.parametrize("protocol", [0x3005, 0x3003, 0x2001, 0x1001, 0x0004])
def test_each_protocol_publishes_what_its_dump_shows(protocol: int) -> None:
    fixture = FIXTURES[protocol]
    assert fixture.dump is not None
    _, state = started(TrippliteSim(fixture))
    expected: dict[str, str | None] = {
        name: value for name, value in ddl_values(fixture.dump).items() if not name.startswith(("driver.", "device."))
    }
    expected.update(DUMP_DIFFERENCES[protocol])
    published = {variable.name: variable.value for variable in state.variables()}
    assert published == {name: value for name, value in expected.items() if value is not None}


def test_protocol_3017_reads_ascii_smart_answers() -> None:
    sim = TrippliteSim(FIXTURES[0x3017])
    _, state = started(sim)
    assert state.get("ups.firmware.aux") == "protocol 3017"
    assert state.get("input.voltage.nominal") == "230"
    assert state.get("input.voltage") == "235"  # 0x7B = 123 in 120 V units, scaled to 230
    assert state.get("battery.voltage") == "27.20"  # 13.6 V per 12 V block, 24 V battery
    assert state.get("input.voltage.minimum") == "228"
    assert state.get("input.voltage.maximum") == "239"
    assert state.get("input.frequency") == "50.0"
    assert state.get("input.frequency.nominal") == "50"
    assert state.get("ups.temperature") == "29.5"
    assert state.get("ups.load") == "20"
    assert state.get("ups.id") == "7"
    assert state.get("outlet.1.switch") == "1" and state.get("outlet.2.switchable") == "0"
    assert state.has_command("test.battery.start") and state.has_command("load.off")


def test_init_and_poll_send_nuts_command_sequence() -> None:
    sim = TrippliteSim(FIXTURES[0x3005])
    started(sim)
    init = ["0", "W", "S", "P", "F", "V", "V", "U"]  # NUT asks for V twice
    assert sim.letters() == [*init, "S", "D", "M", "T", "L", "D", "V", "M", "T", "P"]
    assert sim.bad_frames == []
    omnivs = TrippliteSim(FIXTURES[0x1001])
    started(omnivs)
    assert omnivs.letters() == ["0", "W", "S", "P", "F", "V", "V", "S", "B", "L"]  # no U, no D/M/T
    smartpro = TrippliteSim(FIXTURES[0x3003])
    started(smartpro)
    assert smartpro.letters()[:2] == ["0", "S"]  # SMARTPRO has no watchdog


def test_an_unknown_protocol_is_dumped_and_not_interpreted() -> None:
    sim = TrippliteSim(FIXTURES[0x3003])
    sim.answers[b"\0"] = b"\x40\x01XXXX\r"
    _, state = started(sim)
    assert state.get("ups.firmware.aux") == "protocol 4001"
    assert state.get("ups.debug.0") == "40 01 58 58 58 58 0d '..XXXX.'"
    assert state.get("ups.debug.L") == "32 34 58 58 58 58 0d '24XXXX.'"
    assert state.get("ups.status") == ""  # only s[1] is read, and '1' adds nothing
    for variable in ("battery.charge", "input.voltage", "ups.load", "battery.test.status"):
        assert state.get(variable) is None


def test_options_battery_range_and_offdelay() -> None:
    _, state = started(TrippliteSim(FIXTURES[0x3003]), battery_min="12.0", battery_max="14.0", offdelay="30")
    assert state.get("battery.charge") == " 86"  # 13.5 V on a 12.0-14.0 scale, printed as NUT's %3d
    assert state.get("ups.delay.shutdown") == "30"
    variable = state.variable("ups.delay.shutdown")
    assert variable is not None and variable.flags == {"RW", "STRING"} and variable.aux == 3


# -- commands on the wire ---------------------------------------------------------------------------


def sent_frames(sim: TrippliteSim, since: int) -> list[bytes]:
    return [data for _, _, data in sim.sent_reports[since:]]


def test_commands_send_nuts_bytes() -> None:
    sim = TrippliteSim(FIXTURES[0x3003])
    waits = Waits()
    state = DriverState()
    driver = driver_class(FakeBackend(sim), waits)(DriverConfig(ups="tl", port="auto"), state)

    async def scenario() -> None:
        await driver.open()
        await driver.initinfo()
        mark = len(sim.sent_reports)
        assert await driver.instcmd("load.off", None) == STAT_HANDLED
        assert sent_frames(sim, mark) == [frame(b"N05"), frame(b"K00")]
        mark = len(sim.sent_reports)
        assert await driver.setvar("outlet.2.switch", "off") == STAT_HANDLED
        assert sent_frames(sim, mark) == [frame(b"N05"), frame(b"K20")]
        assert state.get("outlet.2.switch") == "0"
        assert await driver.setvar("outlet.9.switch", "on") == STAT_UNKNOWN
        mark = len(sim.sent_reports)
        waits.seconds.clear()
        assert await driver.instcmd("shutdown.return", None) == STAT_HANDLED
        assert sent_frames(sim, mark) == [frame(b"N\x00\x40"), frame(b"G")]
        assert 2.0 in waits.seconds
        for command, letter in (("test.battery.start", b"A"), ("reset.input.minmax", b"Z")):
            mark = len(sim.sent_reports)
            assert await driver.instcmd(command, None) == STAT_HANDLED
            assert sent_frames(sim, mark) == [frame(letter)]
        mark = len(sim.sent_reports)
        assert await driver.setvar("ups.id", "42") == STAT_HANDLED
        assert sent_frames(sim, mark) == [frame(b"J\x00\x2a")]
        assert state.get("ups.id") == "42"
        assert await driver.setvar("ups.delay.shutdown", "300") == STAT_HANDLED
        mark = len(sim.sent_reports)
        await driver.shutdown()
        assert sent_frames(sim, mark) == [frame(b"N\x01\x2c"), frame(b"G")]
        assert await driver.setvar("ups.delay.shutdown", "soon") == STAT_INVALID
        assert await driver.instcmd("shutdown.stayoff", None) == STAT_UNKNOWN

    run(scenario())


def test_binary_outlet_commands_on_3005() -> None:
    sim = TrippliteSim(FIXTURES[0x3005])
    driver, _ = started(sim)
    mark = len(sim.sent_reports)
    assert run(driver.instcmd("load.on", None)) == STAT_HANDLED
    assert sent_frames(sim, mark) == [frame(b"N\x05"), frame(b"K\x00\x01")]


def test_omnivs_has_no_outlet_or_smart_commands() -> None:
    driver, state = started(TrippliteSim(FIXTURES[0x2001]))
    assert state.commands() == ["shutdown.return"]
    assert run(driver.instcmd("load.off", None)) == STAT_UNKNOWN


def test_a_shutdown_the_unit_refuses_fails() -> None:
    sim = TrippliteSim(FIXTURES[0x2001])
    driver, _ = started(sim)
    sim.unsupported.add(b"G")  # not on battery: the unit ignores G
    assert run(driver.instcmd("shutdown.return", None)) == STAT_FAILED
    with pytest.raises(DeviceError, match="still on battery"):
        run(driver.shutdown())


# -- matching -------------------------------------------------------------------------------------


def test_matching_options_pick_the_unit() -> None:
    first = TrippliteSim(FIXTURES[0x3005], address=3, serial="A")
    second = TrippliteSim(FIXTURES[0x3003], address=4, serial="B")
    backend = FakeBackend(first, second)

    def opened(**options: str | bool) -> str | None:
        driver = driver_class(backend)(DriverConfig(ups="tl", port="auto", options=dict(options)), DriverState())
        try:
            run(driver.open())
        except DeviceError:
            return None
        identity = driver.connection.identity
        run(driver.close())
        return identity.serial if identity else None

    assert opened() == "A"
    assert opened(product=".*SMX1500.*") == "B"
    assert opened(device="004") == "B"
    assert opened(serial="b") == "B"
    assert opened(product="SMX1500XLRT2U") is None  # whole-string match
    assert opened(vendorid="ffff") == "A"  # tripplite_usb ignores vendorid, as NUT's does


def test_another_tripp_lite_product_needs_the_productid_option() -> None:
    sim = TrippliteSim(FIXTURES[0x3005])
    sim.productid = 0x0002
    backend = FakeBackend(sim)
    config = DriverConfig(ups="tl", port="auto")
    with pytest.raises(DeviceError, match="no matching USB UPS"):
        run(driver_class(backend)(config, DriverState()).open())
    config.options["productid"] = "0002"
    run(driver_class(backend)(config, DriverState()).open())


def test_upsid_takes_the_unit_with_that_unit_id() -> None:
    first, second = TrippliteSim(FIXTURES[0x3005], address=3), TrippliteSim(FIXTURES[0x3017], address=4)
    backend = FakeBackend(first, second)
    driver = driver_class(backend)(DriverConfig(ups="tl", port="auto", options={"upsid": "7"}), DriverState())
    run(driver.open())
    assert driver.connection.identity is not None and driver.connection.identity.device == "004"
    assert first.letters() == ["U"] and not first.claimed


def test_a_bad_regex_in_the_options_is_refused_before_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["tripplite_usb", "-s", "tl", "-x", "port=auto", "-x", "product=(SMART"]) == 1
    assert "product: invalid regular expression" in capsys.readouterr().err


# -- bad answers, stalls, silence: stale, logged once, never a crash --------------------------------


def runner_on(sim: TrippliteSim) -> DriverRunner:
    settings = DriverSettings(driver="tripplite_usb", ups="tl", port="auto", retrydelay=0.01)
    return DriverRunner(settings, driver_class(FakeBackend(sim)))


def poll_twice_after(sim: TrippliteSim, fault: Callable[[], None]) -> DriverRunner:
    """Start a runner, break the unit with ``fault``, poll twice."""
    driver_runner = runner_on(sim)

    async def scenario() -> None:
        assert await driver_runner.start_device()
        await driver_runner.poll_once()
        assert driver_runner.state.data_ok
        fault()
        await driver_runner.poll_once()
        await driver_runner.poll_once()

    run(scenario())
    return driver_runner


def lost_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "data marked stale" in r.getMessage()]


def test_a_wrong_letter_marks_the_data_stale_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    sim = TrippliteSim(FIXTURES[0x3003])
    caplog.set_level(logging.INFO)
    driver_runner = poll_twice_after(sim, lambda: sim.unsupported.add(b"L"))
    assert not driver_runner.state.data_ok
    messages = lost_messages(caplog)
    assert len(messages) == 1 and "no valid answer to 'L'" in messages[0]
    assert "(last: 54 37 32 31 46 34 30 0d 'T721F40.')" in messages[0]  # the T answer, repeated


def test_an_unknown_status_byte_publishes_what_is_known_and_goes_stale(caplog: pytest.LogCaptureFixture) -> None:
    sim = TrippliteSim(FIXTURES[0x3003])

    def garble() -> None:
        sim.answers[b"S"] = b"9" + sim.answers[b"S"][1:]

    driver_runner = poll_twice_after(sim, garble)
    assert not driver_runner.state.data_ok
    assert driver_runner.state.get("ups.status") == "OL"
    assert len(lost_messages(caplog)) == 1 and "s[1]: 0x39" in lost_messages(caplog)[0]


def test_a_stalling_unit_goes_stale(caplog: pytest.LogCaptureFixture) -> None:
    sim = TrippliteSim(FIXTURES[0x3005])
    driver_runner = poll_twice_after(sim, lambda: setattr(sim, "set_report", lambda *_: False))
    assert not driver_runner.state.data_ok
    assert len(lost_messages(caplog)) == 1 and "refused" in lost_messages(caplog)[0]


def test_a_silent_unit_goes_stale_after_three_sends(caplog: pytest.LogCaptureFixture) -> None:
    sim = TrippliteSim(FIXTURES[0x3005])
    s_frames_before_fault = 2  # init and the first poll
    driver_runner = poll_twice_after(sim, lambda: setattr(sim, "interrupt_in", lambda *_: None))
    assert not driver_runner.state.data_ok
    assert len(lost_messages(caplog)) == 1 and "no answer to 'S'" in lost_messages(caplog)[0]
    # 3 silent sends per poll, not NUT's 10 sends x 10 one-second reads.
    assert len([f for f in sim.sent_reports if f[2] == frame(b"S")]) == s_frames_before_fault + 3 + 3


def test_a_wedged_unit_goes_stale_and_is_reset_on_reconnect(caplog: pytest.LogCaptureFixture) -> None:
    sim = TrippliteSim(FIXTURES[0x3005])
    driver_runner = poll_twice_after(sim, lambda: setattr(sim, "wedged", True))
    assert not driver_runner.state.data_ok
    assert len(lost_messages(caplog)) == 1 and "did not answer" in lost_messages(caplog)[0]
    assert sim.resets == 0

    async def reconnect() -> None:
        await driver_runner._connect()

    run(reconnect())  # the runner's reconnect: close (with a reset), open, init
    assert sim.resets == 1
    run(driver_runner.poll_once())
    assert driver_runner.state.data_ok


def test_firmware_bytes_print_as_nuts_toprint() -> None:
    sim = TrippliteSim(FIXTURES[0x3003])
    sim.answers[b"F"] = b"12\xe9 4A\r"
    _, state = started(sim)
    assert state.get("ups.firmware") == "F12..4A"


def test_a_short_answer_is_no_answer(caplog: pytest.LogCaptureFixture) -> None:
    sim = TrippliteSim(FIXTURES[0x3003])

    def truncate() -> None:
        sim.interrupt_in = lambda *_: sim.current[:5] if sim.current else None  # type: ignore[method-assign]

    driver_runner = poll_twice_after(sim, truncate)
    assert not driver_runner.state.data_ok
    assert len(lost_messages(caplog)) == 1 and "no valid answer to 'S'" in lost_messages(caplog)[0]
