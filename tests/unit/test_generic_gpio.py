"""generic_gpio on gpiozero's MockFactory: rules to status on edges, debounce, charge, shutdown line, bad input."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from appliance.drivers import runner
from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.generic_gpio import GenericGpio, GpiozeroLines

# found, not imported: importing lgpio makes a FIFO in the working directory (appliance.drivers.generic_gpio)
NO_LGPIO = importlib.util.find_spec("lgpio") is None
CYBERSHIELD = "OL=^0;OB=0;LB=3;RB=1;DISCHRG=0&^6;BYPASS=6;"


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    old = Device.pin_factory
    Device.pin_factory = mock = MockFactory()
    yield mock
    mock.reset()
    Device.pin_factory = old


def idle(factory: MockFactory) -> None:
    """The UPS holds every open-collector output low (claiming a mock pin resets it to its pull level)."""
    for line in (0, 1, 3, 6):
        factory.pin(line).drive_low()


def make(state: DriverState | None = None, **options: str | bool) -> GenericGpio:
    config = DriverConfig(ups="ups", port="gpiochip0", options={"rules": CYBERSHIELD, "debounce": "0", **options})
    return GenericGpio(config, state or DriverState())


async def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


async def started(driver: GenericGpio, factory: MockFactory | None = None) -> GenericGpio:
    """open, initinfo and a first update; with ``factory``, the UPS lines idle low once claimed."""
    await driver.open()
    if factory is not None:
        idle(factory)
    await driver.initinfo()
    await driver.update()
    return driver


def test_edges_update_status_at_once(factory: MockFactory) -> None:
    async def go() -> None:
        driver = await started(make(mfr="CyberPower", model="CSN27U12V"), factory)
        status = lambda: driver.state.get("ups.status")  # noqa: E731
        try:
            assert status() == "OL"
            assert driver.state.get("device.mfr") == "CyberPower"
            factory.pin(0).drive_high()  # on battery
            await wait_for(lambda: status() == "OB DISCHRG", timeout=0.1)
            assert driver.state.get("battery.charger.status") == "discharging"
            factory.pin(3).drive_high()
            await wait_for(lambda: status() == "OB LB DISCHRG", timeout=0.1)
            factory.pin(6).drive_high()  # battery missing: BYPASS, no longer discharging
            await wait_for(lambda: status() == "OB LB BYPASS", timeout=0.1)
            assert "battery.charger.status" not in driver.state
            factory.pin(0).drive_low()
            factory.pin(3).drive_low()
            factory.pin(6).drive_low()
            await wait_for(lambda: status() == "OL", timeout=0.1)
        finally:
            await driver.close()

    asyncio.run(go())


def test_debounce_waits_for_a_stable_level(factory: MockFactory) -> None:
    async def go() -> None:
        driver = await started(make(debounce="40"), factory)
        try:
            began = time.monotonic()
            factory.pin(0).drive_high()
            assert driver.state.get("ups.status") == "OL"
            await wait_for(lambda: driver.state.get("ups.status") == "OB DISCHRG")
            assert time.monotonic() - began >= 0.04
            factory.pin(1).drive_high()
            factory.pin(1).drive_low()  # a bounce
            await asyncio.sleep(0.1)
            assert driver.state.get("ups.status") == "OB DISCHRG"
        finally:
            await driver.close()

    asyncio.run(go())


def test_charge_low_and_active_low(factory: MockFactory) -> None:
    state = DriverState()
    state.set_info("battery.charge.low", "20")  # what default.battery.charge.low gives

    async def go() -> None:
        driver = await started(make(state, pull="up", active_low=True))
        try:
            # pulled up and inverted: every line reads 0, as in the wired-OR idle case
            assert state.get("ups.status") == "OL"
            assert state.get("battery.charge") == "100"
            factory.pin(3).drive_low()  # open collector pulls the LB line low: asserted
            await wait_for(lambda: state.get("ups.status") == "OL LB")
            assert state.get("battery.charge") == "20"
        finally:
            await driver.close()

    asyncio.run(go())


def test_shutdown_line_is_held_high(factory: MockFactory) -> None:
    held: list[tuple[float, bool]] = []

    async def go() -> None:
        driver = await started(make(sdline="17", sdtime="2"))

        async def hold(seconds: float) -> None:
            held.append((seconds, factory.pin(17).state))

        driver.sleep = hold
        try:
            assert factory.pin(17).state is False
            await driver.shutdown()
        finally:
            await driver.close()

    asyncio.run(go())
    assert held == [(2, True)]


def test_no_shutdown_line_refuses(factory: MockFactory) -> None:
    async def go() -> None:
        driver = await started(make())
        try:
            with pytest.raises(DeviceError, match="set sdline"):
                await driver.shutdown()
        finally:
            await driver.close()

    asyncio.run(go())


def test_shutdown_line_that_is_an_input_is_refused(factory: MockFactory) -> None:
    with pytest.raises(DeviceError, match="sdline=3: line 3 is an input"):
        asyncio.run(make(sdline="3").open())


def test_gpiozero_pin_factory_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    old = Device.pin_factory
    Device.pin_factory = None
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    try:

        async def go() -> None:
            driver = await started(make())
            try:
                assert isinstance(driver.lines, GpiozeroLines)
                assert isinstance(driver.lines.devices[0].pin_factory, MockFactory)
            finally:
                await driver.close()

        asyncio.run(go())
    finally:
        if Device.pin_factory is not None:
            Device.pin_factory.close()
        Device.pin_factory = old


@pytest.mark.skipif(NO_LGPIO, reason="lgpio publishes wheels for x86-64 and aarch64 up to CPython 3.12 only")
def test_a_chip_port_is_opened_through_lgpio_and_a_missing_chip_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No pin factory chosen: the gpiochip is opened through the real lgpio (this machine has no GPIO chip)."""
    assert Device.pin_factory is None
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.chdir(tmp_path)
    driver = make()
    driver.config.port = "/dev/gpiochip57"
    with pytest.raises(DeviceError, match=r"^port /dev/gpiochip57: can't use the GPIO lines: .*gpiochip"):
        asyncio.run(driver.open())
    assert driver.lines is None
    assert list(tmp_path.iterdir()) == []  # lgpio's notification pipe went to a private directory


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("rules=OL=^0;OB=0", "rules: incomplete at position"),
        ("rules=OL=^0;OB=0&&1;", "rules: syntax error at position 11"),
        ("pull=sideways", "pull='sideways'"),
        ("sdline=x", "sdline='x'"),
    ],
)
def test_bad_option_is_a_clear_error(option: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generic_gpio", "-s", "u", "-x", "port=gpiochip0", "-x", f"rules={CYBERSHIELD}", "-x", option]
    assert runner.main(argv) == 1
    assert message in capsys.readouterr().err
