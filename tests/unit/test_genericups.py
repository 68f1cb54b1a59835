"""genericups through pyserial's own code, on a URL handler (``fakemodem://NAME``) with settable modem lines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from serial.serialutil import SerialBase, SerialException

from appliance.drivers import runner
from appliance.drivers.base import DeviceError, DriverConfig, DriverState
from appliance.drivers.genericups import BREAK_SECONDS, GenericUps
from appliance.drivers.runner import DriverRunner, DriverSettings
from tests.serial_url import register_scheme, unregister_scheme


@dataclass
class FakeModem:
    """The far end of the cable: inputs the test sets, outputs the driver sets (every change recorded)."""

    cts: bool = False
    cd: bool = False
    ri: bool = False
    dsr: bool = False
    dtr: bool = False
    rts: bool = False
    present: bool = True
    outputs: list[tuple[bool, bool]] = field(default_factory=list)
    breaks: list[bool] = field(default_factory=list)

    def check(self) -> None:
        if not self.present:
            raise SerialException("device disconnected")


MODEMS: dict[str, FakeModem] = {}


class FakeModemSerial(SerialBase):
    """pyserial port class for ``fakemodem://NAME``: applies pre-open DTR/RTS on open, like serialposix."""

    modem: FakeModem

    def open(self) -> None:
        name = str(self.portstr).split("://", 1)[1]
        modem = MODEMS.get(name)
        if modem is None or not modem.present:
            raise SerialException(f"could not open port {self.portstr}: no such device")
        self.modem = modem
        self.is_open = True
        self._update_dtr_state()
        self._update_rts_state()

    def close(self) -> None:
        self.is_open = False

    def _reconfigure_port(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        self.modem.check()
        self.modem.dtr = self._dtr_state
        self.modem.outputs.append((self.modem.dtr, self.modem.rts))

    def _update_rts_state(self) -> None:
        self.modem.check()
        self.modem.rts = self._rts_state
        self.modem.outputs.append((self.modem.dtr, self.modem.rts))

    def _update_break_state(self) -> None:
        self.modem.breaks.append(self._break_state)

    @property
    def cts(self) -> bool:
        self.modem.check()
        return self.modem.cts

    @property
    def dsr(self) -> bool:
        self.modem.check()
        return self.modem.dsr

    @property
    def ri(self) -> bool:
        self.modem.check()
        return self.modem.ri

    @property
    def cd(self) -> bool:
        self.modem.check()
        return self.modem.cd


@pytest.fixture(autouse=True)
def fakemodem_scheme() -> Iterator[None]:
    """Register ``fakemodem://`` with pyserial."""
    register_scheme("fakemodem", FakeModemSerial)
    yield
    unregister_scheme("fakemodem")
    MODEMS.clear()


def make(modem: FakeModem, **options: str) -> GenericUps:
    MODEMS["ups"] = modem
    config = DriverConfig(ups="ups", port="fakemodem://ups", options={"debounce": "0", **options})
    return GenericUps(config, DriverState())


async def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def started(driver: GenericUps) -> GenericUps:
    await driver.open()
    await driver.initinfo()
    await driver.update()
    return driver


def test_cable_power_is_set_without_a_glitch_and_status_published() -> None:
    modem = FakeModem(ri=False, cd=False)

    async def go() -> None:
        driver = await started(make(modem, upstype="1"))
        try:
            assert driver.state.get("ups.status") == "OL"
            assert driver.state.get("ups.mfr") == "APC"
            assert driver.state.get("ups.model") == "Back-UPS"
        finally:
            await driver.close()

    asyncio.run(go())
    # type 1: cable power on DTR only; RTS must never have been raised on the way
    assert (modem.dtr, modem.rts) == (True, False)
    assert all(not rts for _, rts in modem.outputs)


def test_line_changes_reach_status_without_waiting_for_a_poll() -> None:
    modem = FakeModem()

    async def go() -> None:
        driver = await started(make(modem, upstype="1"))
        try:
            modem.ri = True  # type 1: OL = -RNG
            await wait_for(lambda: driver.state.get("ups.status") == "OB", timeout=0.5)
            modem.cd = True  # LB = CD
            await wait_for(lambda: driver.state.get("ups.status") == "LB OB", timeout=0.5)
            modem.ri = modem.cd = False
            await wait_for(lambda: driver.state.get("ups.status") == "OL", timeout=0.5)
        finally:
            await driver.close()

    asyncio.run(go())


def test_debounce_holds_a_change_and_drops_a_glitch() -> None:
    modem = FakeModem()

    async def go() -> None:
        driver = await started(make(modem, upstype="1", debounce="40"))
        try:
            started_at = time.monotonic()
            modem.ri = True
            await wait_for(lambda: driver.state.get("ups.status") == "OB")
            assert time.monotonic() - started_at >= 0.04
            driver.take_reading(("OL",))
            driver.take_reading(("OB",))  # back within the settle time: a glitch
            await asyncio.sleep(0.1)
            assert driver.state.get("ups.status") == "OB"
        finally:
            await driver.close()

    asyncio.run(go())


def test_identity_overrides() -> None:
    async def go() -> GenericUps:
        driver = await started(make(FakeModem(cts=True), upstype="4", mfr="ACME", model="Box", serial="S1", LB="none"))
        await driver.close()
        return driver

    driver = asyncio.run(go())
    assert [driver.state.get(f"ups.{n}") for n in ("mfr", "model", "serial", "status")] == ["ACME", "Box", "S1", "OL"]


@pytest.mark.parametrize(
    ("upstype", "extra", "lines"),
    [("2", {}, (True, True)), ("1", {}, (False, True)), ("4", {}, (False, False)), ("4", {"SD": "DTR"}, (True, False))],
)
def test_shutdown_sets_exactly_the_sd_lines(upstype: str, extra: dict[str, str], lines: tuple[bool, bool]) -> None:
    modem = FakeModem()
    held: list[float] = []

    async def hold(seconds: float) -> None:
        held.append(seconds)

    async def go() -> None:
        driver = await started(make(modem, upstype=upstype, sdtime="3", **extra))
        driver.sleep = hold
        await driver.shutdown()
        await driver.close()

    asyncio.run(go())
    assert (modem.dtr, modem.rts) == lines
    assert held == [3]


def test_shutdown_by_break_holds_it_five_seconds() -> None:
    modem = FakeModem()
    held: list[float] = []

    async def hold(seconds: float) -> None:
        held.append(seconds)
        assert modem.breaks == [True]

    async def go() -> None:
        driver = await started(make(modem, upstype="11"))
        driver.sleep = hold
        await driver.shutdown()
        await driver.close()

    asyncio.run(go())
    assert modem.breaks == [True, False]
    assert held == [BREAK_SECONDS]


def test_type_without_shutdown_refuses() -> None:
    async def go() -> None:
        driver = await started(make(FakeModem(), upstype="8"))
        try:
            with pytest.raises(DeviceError, match="No shutdown command defined"):
                await driver.shutdown()
        finally:
            await driver.close()

    asyncio.run(go())


def test_port_that_cannot_open_names_the_port() -> None:
    driver = GenericUps(DriverConfig(ups="u", port="fakemodem://absent", options={"upstype": "1"}), DriverState())
    with pytest.raises(DeviceError, match=r"port fakemodem://absent: can't open"):
        asyncio.run(driver.open())


def test_lost_port_goes_stale_and_comes_back() -> None:
    modem = FakeModem()
    MODEMS["ups"] = modem
    settings = DriverSettings(
        driver="genericups",
        ups="ups",
        port="fakemodem://ups",
        options={"upstype": "1", "debounce": "0"},
        pollinterval=1,
        retrydelay=0.05,
    )

    async def go() -> None:
        driver_runner = DriverRunner(settings, GenericUps)
        assert await driver_runner.start_device()
        await driver_runner.poll_once()
        loop = asyncio.create_task(driver_runner.run_loop())
        try:
            state = driver_runner.state
            assert state.data_ok
            modem.present = False
            await wait_for(lambda: not state.data_ok, timeout=0.5)  # at once, not at the next poll
            modem.present, modem.ri = True, True
            await wait_for(lambda: state.data_ok and state.get("ups.status") == "OB", timeout=5)
        finally:
            driver_runner.stop()
            await loop
            await driver_runner.driver.close()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("upstype=24", "upstype: unknown UPS type '24'"),
        ("OL=DTR", "OL='DTR': DTR is an output line"),
        ("SD=XYZ", "SD='XYZ': no line XYZ"),
        ("sdtime=soon", "sdtime='soon'"),
        ("debounce=x", "debounce='x'"),
    ],
)
def test_bad_option_is_a_clear_error(option: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["genericups", "-s", "u", "-x", "port=fakemodem://ups", "-x", "upstype=1", "-x", option]
    assert runner.main(argv) == 1
    assert message in capsys.readouterr().err
