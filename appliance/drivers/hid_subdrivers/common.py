"""What the usbhid-ups subdrivers share: NUT's standard conversions (libhid.c/usbhid-ups.c) and row builders."""

from __future__ import annotations

from appliance.drivers.hid_subdrivers.model import (
    DEFAULT_OFFDELAY,
    DEFAULT_ONDELAY,
    DEFAULT_RW_LENGTH,
    Conversion,
    HidCommand,
    HidFlag,
    HidVariable,
    Poll,
    ServerSetting,
)


def _hid_date(value: float) -> str:
    """The HID PDC date (((year-1980) << 9) | month << 5 | day) as NUT writes it."""
    number = int(value)
    if number == 0:
        return "not set"
    return f"{1980 + (number >> 9):04d}/{(number >> 5) & 0x0F:02d}/{number & 0x1F:02d}"


def _hid_date_number(text: str) -> float | None:
    try:
        year, month, day = (int(part) for part in text.split("/"))
    except ValueError:
        return None
    if year - 1980 > 127 or year < 1980 or not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    return float(((year - 1980) << 9) | (month << 5) | day)


def _kelvin_to_celsius(value: float) -> str:
    """Kelvin to °C, except values already in °C (some firmware), as NUT checks: 273-373 means Kelvin."""
    celsius = value - 273.15 if 273 <= value <= 373 else value
    return f"{celsius:.1f}"


def _on_off_number(text: str) -> float | None:
    return {"off": 0.0, "on": 1.0}.get(text)


BEEPER = Conversion("beeper", {1: "disabled", 2: "enabled", 3: "muted"})
TEST_RESULT = Conversion(
    "test result",
    {
        1: "Done and passed",
        2: "Done and warning",
        3: "Done and error",
        4: "Aborted",
        5: "In progress",
        6: "No test initiated",
        7: "Test scheduled",
    },
)
YES_NO = Conversion("yes/no", {0: "no", 1: "yes"})
ON_OFF = Conversion("on/off", {0: "off", 1: "on"}, from_text=_on_off_number)
HID_DATE = Conversion("date", to_text=_hid_date, from_text=_hid_date_number)
KELVIN = Conversion("Kelvin", to_text=_kelvin_to_celsius)
STRING_INDEX = Conversion("string", string_index=True)


def number_or_none(text: str | None) -> float | None:
    """A published or user-given text as a number; None when absent or not a number."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


PS = "UPS.PowerSummary"
PRESENT = f"{PS}.PresentStatus"

FLAG_OF_USAGE = {
    "ACPresent": "online",
    "Discharging": "dischrg",
    "Charging": "chrg",
    "BelowRemainingCapacityLimit": "lowbatt",
    "ShutdownImminent": "shutdownimm",
    "Overload": "overload",
    "NeedReplacement": "replacebatt",
    "RemainingTimeLimitExpired": "timelimitexp",
    "FullyCharged": "fullycharged",
    "FullyDischarged": "depleted",
    "Buck": "trim",
    "Boost": "boost",
    "VoltageOutOfRange": "vrange",
    "FrequencyOutOfRange": "frange",
    "OverTemperature": "overheat",
    "InternalFailure": "commfault",
    "AwaitingPower": "awaitingpower",
}
"""The status bit each standard usage sets (usbhid-ups.c's *_info tables, all set by 1 and cleared by 0)."""


def status_rows(prefix: str, poll_quick: tuple[str, ...], others: tuple[str, ...]) -> tuple[HidFlag, ...]:
    """BOOL rows for standard usages under ``prefix``: ``poll_quick`` ones every poll, ``others`` on full walks."""
    rows = [HidFlag(f"{prefix}.{usage}", FLAG_OF_USAGE[usage], poll=Poll.QUICK) for usage in poll_quick]
    rows += [HidFlag(f"{prefix}.{usage}", FLAG_OF_USAGE[usage]) for usage in others]
    return tuple(rows)


def beeper_commands(path: str) -> tuple[HidCommand, ...]:
    """NUT's five beeper commands on an AudibleAlarmControl field (1 disabled, 2 enabled, 3 muted)."""
    return (
        HidCommand("beeper.on", path, "2"),
        HidCommand("beeper.off", path, "3"),
        HidCommand("beeper.enable", path, "2"),
        HidCommand("beeper.disable", path, "1"),
        HidCommand("beeper.mute", path, "3"),
    )


def test_commands(path: str) -> tuple[HidCommand, ...]:
    """The battery test commands on a Test field (1 quick, 2 deep, 3 stop)."""
    return (
        HidCommand("test.battery.start.quick", path, "1"),
        HidCommand("test.battery.start.deep", path, "2"),
        HidCommand("test.battery.stop", path, "3"),
    )


def delay_rows(
    collection: str, usage_prefix: str = ""
) -> tuple[tuple[HidVariable, ...], tuple[HidCommand, ...], tuple[ServerSetting, ...]]:
    """Timers, delay commands and delay settings for a collection's DelayBefore* usages.

    ``usage_prefix`` names vendor copies of the usages (APC's ``APCDelayBeforeShutdown``...).
    """
    startup, shutdown, reboot = (
        f"{collection}.{usage_prefix}DelayBefore{what}" for what in ("Startup", "Shutdown", "Reboot")
    )
    variables = (
        HidVariable("ups.timer.start", startup, poll=Poll.QUICK),
        HidVariable("ups.timer.shutdown", shutdown, poll=Poll.QUICK),
        HidVariable("ups.timer.reboot", reboot, poll=Poll.QUICK),
    )
    commands = (
        HidCommand("load.off.delay", shutdown, "offdelay"),
        HidCommand("load.on.delay", startup, "ondelay"),
        HidCommand("shutdown.stop", shutdown, "-1"),
        HidCommand("shutdown.reboot", reboot, "10"),
    )
    delays = (
        ServerSetting("ups.delay.start", startup, str(DEFAULT_ONDELAY), "ondelay"),
        ServerSetting("ups.delay.shutdown", shutdown, str(DEFAULT_OFFDELAY), "offdelay"),
    )
    return variables, commands, delays


def rw(name: str, path: str, fmt: str = "%.0f", length: int = DEFAULT_RW_LENGTH, **kwargs: object) -> HidVariable:
    """A writable variable (RW STRING of ``length``), read at start and after changes (HU_FLAG_SEMI_STATIC)."""
    return HidVariable(name, path, fmt, writable=True, length=length, poll=Poll.SEMI_STATIC, **kwargs)  # type: ignore[arg-type]
