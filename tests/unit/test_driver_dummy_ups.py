"""dummy-ups driver logic with a fake clock: NUT's flags, modes, TIMER replay, re-reading, SET and commands."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.dummy_ups import DEFAULT_SEQUENCE, DummyUps, guess_mode
from appliance.protocol.driver_socket import STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, text: str, name: str = "ups.dev", **options: str) -> tuple[DummyUps, FakeClock]:
    (tmp_path / name).write_text(text)
    clock = FakeClock()
    config = DriverConfig(ups="ups", port=name, options=dict(options), config_dir=tmp_path)
    return DummyUps(config, DriverState(), clock), clock


def start(driver: DummyUps) -> float | None:
    async def go() -> float | None:
        await driver.open()
        await driver.initinfo()
        return await driver.update()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("port", "mode", "expected"),
    [
        ("x.dev", None, "dummy-once"),
        ("x.seq", None, "dummy-loop"),
        ("x.txt", None, "dummy"),
        ("ups@host:3493", None, "repeater"),
        ("x.dev", "dummy-loop", "dummy-loop"),
        ("x.seq", "dummy-once", "dummy-once"),
        ("x.dev", "dummy", "dummy-loop"),
        ("x.dev", "repeater", "repeater"),
    ],
)
def test_mode_is_guessed_as_nut_does(port: str, mode: str | None, expected: str) -> None:
    assert guess_mode(port, mode) == expected


def test_variables_get_nut_dummy_flags(tmp_path: Path) -> None:
    driver, _ = make(tmp_path, "battery.charge: 90\nups.beeper.status: enabled\nups.status: OB LB\ndriver.name: x\n")
    start(driver)
    state = driver.state
    assert state.get("driver.parameter.mode") == "dummy-once"
    assert state.variable("battery.charge").flags == {"RW"}
    beeper = state.variable("ups.beeper.status")
    assert (beeper.flags, beeper.aux) == ({"RW", "STRING"}, 32)
    assert (state.variable("ups.mfr").value, state.variable("ups.mfr").aux) == ("Dummy Manufacturer", 32)
    assert state.variable("ups.status").value == "OB LB"
    assert state.variable("ups.status").flags == {"RW", "STRING"}
    assert state.get("driver.name") is None  # the driver.* lines of a dump are not ours to publish
    assert state.commands() == ["load.off"]


def test_annotations_add_commands_enums_ranges_and_lengths(tmp_path: Path) -> None:
    text = (
        "output.voltage.nominal: 230\nups.delay.shutdown: 20\nups.id: abc\n"
        '#RW:output.voltage.nominal:ENUM:"220"\n#RW:output.voltage.nominal:ENUM:"230"\n'
        '#RW:ups.delay.shutdown:RANGE:"0" "600"\n#RW:ups.id:STRING:8\n#CMD:shutdown.return\n'
    )
    driver, _ = make(tmp_path, text)
    start(driver)
    state = driver.state
    assert state.variable("output.voltage.nominal").enums == ["220", "230"]
    delay = state.variable("ups.delay.shutdown")
    assert (delay.ranges, delay.flags) == ([(0, 600)], {"RW", "NUMBER"})
    assert (state.variable("ups.id").aux, state.variable("ups.id").flags) == (8, {"RW", "STRING"})
    assert state.commands() == ["load.off", "shutdown.return"]

    def setvar(name: str, value: str) -> int:
        return asyncio.run(driver.setvar(name, value))

    assert setvar("output.voltage.nominal", "240") == STAT_INVALID
    assert setvar("output.voltage.nominal", "220") == STAT_HANDLED
    assert setvar("ups.delay.shutdown", "601") == STAT_INVALID
    assert setvar("ups.delay.shutdown", "soon") == STAT_INVALID
    assert setvar("ups.delay.shutdown", "60") == STAT_HANDLED
    assert setvar("ups.id", "123456789") == STAT_INVALID
    assert state.get("output.voltage.nominal") == "220"
    assert state.get("ups.delay.shutdown") == "60"


def test_set_creates_changes_and_deletes_like_nut(tmp_path: Path) -> None:
    driver, _ = make(tmp_path, "ups.load: 10\n")
    start(driver)
    state = driver.state
    assert asyncio.run(driver.setvar("new.thing", "hello")) == STAT_HANDLED
    assert (state.variable("new.thing").flags, state.variable("new.thing").aux) == ({"RW", "STRING"}, 32)
    assert asyncio.run(driver.setvar("ups.status", "OB LB")) == STAT_HANDLED
    assert state.get("ups.status") == "OB LB"
    assert asyncio.run(driver.setvar("ups.load", "")) == STAT_HANDLED
    assert "ups.load" not in state
    assert asyncio.run(driver.setvar("driver.name", "evil")) == STAT_INVALID
    assert asyncio.run(driver.setvar("bad name", "x")) == STAT_INVALID


def test_commands_listed_succeed_others_are_unknown(tmp_path: Path) -> None:
    driver, _ = make(tmp_path, "ups.load: 10\n#CMD:beeper.toggle\n")
    start(driver)
    assert asyncio.run(driver.instcmd("load.off", None)) == STAT_HANDLED
    assert asyncio.run(driver.instcmd("beeper.toggle", None)) == STAT_HANDLED
    assert asyncio.run(driver.instcmd("shutdown.return", "5")) == STAT_UNKNOWN


def test_once_mode_keeps_set_values_until_the_file_changes(tmp_path: Path) -> None:
    driver, _ = make(tmp_path, "ups.load: 10\n")
    start(driver)
    asyncio.run(driver.setvar("ups.load", "99"))
    asyncio.run(driver.update())
    assert driver.state.get("ups.load") == "99"
    path = tmp_path / "ups.dev"
    path.write_text("ups.load: 11\nups.temperature: 30\n")
    os.utime(path, ns=(1, 1))  # a different mtime even within the same clock tick
    asyncio.run(driver.update())
    assert driver.state.get("ups.load") == "11"
    assert driver.state.get("ups.temperature") == "30"


def test_loop_mode_replays_timers_with_the_clock(tmp_path: Path) -> None:
    driver, clock = make(tmp_path, "ups.status: OL\nTIMER 30\nups.status: OB\nTIMER 30\n", name="ups.seq")
    assert start(driver) == 30
    assert driver.state.get("ups.status") == "OL"
    clock.now += 29
    assert asyncio.run(driver.update()) == pytest.approx(1)
    assert driver.state.get("ups.status") == "OL"
    clock.now += 1
    asyncio.run(driver.update())
    assert driver.state.get("ups.status") == "OB"
    clock.now += 30
    asyncio.run(driver.update())  # reaches the end of the file
    asyncio.run(driver.update())  # and starts again
    assert driver.state.get("ups.status") == "OL"


def test_a_missing_file_is_a_device_error(tmp_path: Path) -> None:
    config = DriverConfig(ups="ups", port="absent.dev", config_dir=tmp_path)
    driver = DummyUps(config, DriverState(), FakeClock())
    with pytest.raises(DeviceError, match=r"absent\.dev"):
        asyncio.run(driver.open())


def test_a_file_removed_later_is_a_device_error_then_recovers(tmp_path: Path) -> None:
    driver, _ = make(tmp_path, "ups.load: 10\n")
    start(driver)
    (tmp_path / "ups.dev").unlink()
    with pytest.raises(DeviceError):
        asyncio.run(driver.update())
    (tmp_path / "ups.dev").write_text("ups.load: 12\n")
    asyncio.run(driver.update())
    assert driver.state.get("ups.load") == "12"


def test_bad_lines_are_logged_with_file_and_line_and_the_rest_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    driver, _ = make(tmp_path, "ups.load: 10\n%%% junk\nups.temperature: 25\n")
    start(driver)
    assert driver.state.get("ups.temperature") == "25"
    assert f"{tmp_path / 'ups.dev'}:2" in caplog.text


def test_the_bundled_simulation_loads(tmp_path: Path) -> None:
    config = DriverConfig(ups="ups", port=str(DEFAULT_SEQUENCE), config_dir=tmp_path)
    driver = DummyUps(config, DriverState(), FakeClock())
    assert start(driver) == 40
    assert driver.state.get("driver.parameter.mode") == "dummy-loop"
    assert driver.state.get("ups.status") == "OL"
    assert driver.state.has_command("shutdown.return")
