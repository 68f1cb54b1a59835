"""The driver runtime's pure parts: command line, ups.conf resolution, overrides, backoff, the poll/recover loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.drivers.base import DeviceError, Driver
from appliance.drivers.dummy_ups import DummyUps
from appliance.drivers.runner import (
    Backoff,
    DriverRunner,
    DriverSettings,
    UsageError,
    parse_args,
    resolve_settings,
)


def test_parse_args_takes_nut_driver_flags() -> None:
    invocation = parse_args(
        ["dummy-ups", "-a", "ups", "-D", "-D", "-x", "mode=dummy-loop", "-x", "flagonly", "-i", "7"]
    )
    assert (invocation.driver, invocation.ups, invocation.from_config) == ("dummy-ups", "ups", True)
    assert invocation.debug == 2
    assert invocation.extra == [("mode", "dummy-loop"), ("flagonly", True)]
    assert invocation.pollinterval == 7
    assert parse_args(["-s", "u", "-k", "-F", "-B", "-u", "nut"]).killpower


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-i", "0"], "invalid pollinterval"),
        (["-Z"], "option -Z not recognized"),
        (["-a", "ups", "extra"], "too many"),
        (["-c", "restart"], "unknown -c command"),
    ],
)
def test_parse_args_refuses_bad_input(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_args(argv)


@pytest.fixture
def confdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NUT_CONFPATH", str(tmp_path))
    monkeypatch.setenv("NUT_STATEPATH", str(tmp_path / "state"))
    monkeypatch.delenv("NUT_ALTPIDPATH", raising=False)
    (tmp_path / "ups.conf").write_text(
        "pollinterval = 5\nmaxretry = 3\nretrydelay = 1\n"
        '[sim]\n  driver = dummy-ups\n  port = sim.dev\n  desc = "Simulated"\n'
        "  mode = dummy-loop\n  override.battery.charge = 42\n  default.ups.load = 7\n  ignorelb\n"
        "[other]\n  driver = snmp-ups\n  port = 192.0.2.1\n"
    )
    return tmp_path


def test_settings_from_ups_conf(confdir: Path) -> None:
    settings, cls = resolve_settings(parse_args(["-a", "sim", "-x", "mode=dummy-once"]))
    assert cls is DummyUps
    assert (settings.driver, settings.port, settings.pollinterval) == ("dummy-ups", "sim.dev", 5)
    assert (settings.maxretry, settings.retrydelay) == (3, 1.0)
    assert settings.options == {"mode": "dummy-once"}  # -x after -a wins
    assert settings.overrides == {"battery.charge": "42"}
    assert settings.defaults == {"ups.load": "7"}
    assert settings.main_flags == ["ignorelb"]
    assert settings.socket_path == confdir / "state" / "dummy-ups-sim"
    assert settings.pid_path == confdir / "state" / "dummy-ups-sim.pid"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-a", "nope"], "Section nope not found"),
        (["-a", "other"], "no Python driver named 'snmp-ups'"),
        (["genericups", "-a", "sim"], "is for driver dummy-ups, but I'm genericups"),
        (["-a", "sim", "-x", "mode=bogus"], "unknown mode 'bogus'"),
        (["-s", "x", "-x", "port=a.dev"], "name the driver first"),
        (["dummy-ups", "-s", "x"], "must specify a port"),
        ([], "mandatory"),
    ],
)
def test_settings_errors_say_what_is_wrong(confdir: Path, argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_settings(parse_args(argv))


def test_any_error_in_ups_conf_stops_the_driver_with_file_line_and_hint(confdir: Path) -> None:
    conf = confdir / "ups.conf"
    conf.write_text(conf.read_text() + "[typo]\n  driver = dummy-ups\n  port = x.dev\n  mod = dummy-loop\n")
    with pytest.raises(
        UsageError, match=r"ups.conf:18: mod: not an option of driver dummy-ups \(did you mean 'mode'\?\)"
    ):
        resolve_settings(parse_args(["-a", "sim"]))


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    backoff = Backoff(5, cap=60)
    assert [backoff.next() for _ in range(6)] == [5, 10, 20, 40, 60, 60]
    backoff.reset()
    assert backoff.next() == 5


def test_override_is_immutable_and_default_is_not(tmp_path: Path) -> None:
    (tmp_path / "sim.dev").write_text("battery.charge: 100\nups.load: 30\n")
    settings = DriverSettings(
        driver="dummy-ups",
        ups="sim",
        port="sim.dev",
        config_dir=tmp_path,
        overrides={"battery.charge": "42"},
        defaults={"ups.load": "7"},
        options={"mode": "dummy-loop"},
    )
    runner = DriverRunner(settings, DummyUps)
    runner.publish_settings()
    assert asyncio.run(runner.start_device())
    asyncio.run(runner.poll_once())
    runner.publish_identity()
    state = runner.state
    assert state.get("battery.charge") == "42"
    assert state.variable("battery.charge").flags == frozenset()
    assert state.get("ups.load") == "30"
    assert state.get("driver.parameter.mode") == "dummy-loop"  # what the driver decided
    assert state.get("driver.parameter.port") == "sim.dev"
    assert state.get("driver.name") == "dummy-ups"
    assert state.get("device.type") == "ups"
    assert state.get("device.mfr") == "Dummy Manufacturer"
    assert state.data_ok


class Flaky(Driver):
    """A driver whose device fails on demand."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.broken = False
        self.opens = 0

    async def open(self) -> None:
        self.opens += 1
        if self.broken:
            raise DeviceError("cable unplugged")

    async def update(self) -> float | None:
        if self.broken:
            raise DeviceError("no answer")
        self.state.set_info("ups.status", "OL")
        return None


def test_a_lost_device_is_reported_once_marked_stale_and_reopened(caplog: pytest.LogCaptureFixture) -> None:
    settings = DriverSettings(driver="flaky", ups="u", port="x", pollinterval=1, retrydelay=0.01)

    async def scenario() -> None:
        runner = DriverRunner(settings, Flaky)
        driver = runner.driver
        assert isinstance(driver, Flaky)
        assert await runner.start_device()
        await runner.poll_once()
        assert runner.state.data_ok
        driver.broken = True
        loop = asyncio.create_task(runner.run_loop())
        await asyncio.sleep(0.2)
        assert not runner.state.data_ok
        assert driver.opens > 2  # it keeps trying
        driver.broken = False
        for _ in range(100):
            await asyncio.sleep(0.02)
            if runner.state.data_ok:
                break
        assert runner.state.data_ok
        runner.stop()
        await asyncio.wait_for(loop, 2)

    asyncio.run(scenario())
    assert caplog.text.count("data marked stale") == 1
    assert "communication with the device restored" in caplog.text


def test_start_gives_up_after_maxretry(caplog: pytest.LogCaptureFixture) -> None:
    settings = DriverSettings(driver="flaky", ups="u", port="x", maxretry=3, retrydelay=0.01)
    runner = DriverRunner(settings, Flaky)
    assert isinstance(runner.driver, Flaky)
    runner.driver.broken = True
    assert not asyncio.run(runner.start_device())
    assert runner.driver.opens == 3
    assert "attempt 3 of 3" in caplog.text
