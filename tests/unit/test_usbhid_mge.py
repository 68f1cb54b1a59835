"""usbhid-ups with NUT 2.8.0's mge-hid.c restated: the Eaton 5P 650 simulator against its dump, ABM, outlets,
vendor alarms, model names; and the driver mechanisms the restatement needs (conversions with device state)."""

from __future__ import annotations

import asyncio
import time

import pytest

from appliance.drivers.base import DriverState
from appliance.drivers.hid_subdrivers import EATON, subdriver_for
from appliance.drivers.hid_subdrivers.mge import (
    BATTERY_VOLTAGE,
    BATTERY_VOLTAGE_NOMINAL,
    DATE,
    DEFAULT,
    DEFAULT_OFFLINE,
    EATON_5P,
    ECO_THRESHOLD,
    ECO_YES_NO,
    EVOLUTION,
    EVOLUTION_650,
    NOMINAL_OUTPUT_VOLTAGE,
    PEGASUS,
    PULSAR_M,
    REALPOWER,
    THREE_S,
    TIME,
    MgeQuirks,
    model_name,
)
from appliance.drivers.hid_subdrivers.model import (
    Conversion,
    DeviceFields,
    HidFlag,
    HidVariable,
    Published,
    Quirks,
    Subdriver,
    Withdraw,
)
from appliance.drivers.usb_transport import UsbIdentity
from appliance.drivers.usbhid_ups import UsbhidUps
from appliance.protocol.driver_socket import STAT_HANDLED, STAT_INVALID, STAT_UNKNOWN
from tests import hid_sim
from tests.hid_sim_eaton import BATTERY, CHARGER, INPUT, OUTLET, OUTPUT, eaton_5p650
from tests.unit.test_usbhid_ups import CORE, Clock, dump_values, make_driver, start

PS = "UPS.PowerSummary"


class ModeQuirks(Quirks):
    """Device state for the mechanism test: a mode read from one field changes how other rows read."""

    def __init__(self, identity: UsbIdentity) -> None:
        super().__init__(identity)
        self.enabled: bool | None = None

    def model(self, product: str, device: DeviceFields) -> str | None:
        return f"{product} {device.value('UPS.Flow.ConfigApparentPower'):.0f}"


def _remember(quirks: Quirks, value: float, published: Published) -> str | Withdraw | None:
    assert isinstance(quirks, ModeQuirks)
    quirks.enabled = value == 1
    return None


def _mode_text(quirks: Quirks, value: float, published: Published) -> str | Withdraw | None:
    assert isinstance(quirks, ModeQuirks)
    if not quirks.enabled:
        return Withdraw.VARIABLE
    return {1: "one", 2: "two"}.get(int(value))


def _online_when_enabled(quirks: Quirks, value: float, bits: dict[str, bool]) -> None:
    assert isinstance(quirks, ModeQuirks)
    bits["online"] = bool(value) and bool(quirks.enabled)


def _mechanism_unit() -> hid_sim.SimulatedUnit:
    mode = Conversion("mode", {1: "one", 2: "two", 3: "three"}, device_text=_mode_text)
    subdriver = Subdriver(
        name="mechanism",
        vendor_ids=frozenset({0x0463}),
        products={0x0463: frozenset({0xFFFF})},
        usages={0xFFFF0087: "ABMEnable", 0xFFFF0094: "Mode"},
        variables=(
            HidVariable("x.mode", f"{CHARGER}.ABMEnable", conversion=Conversion("enabled", device_text=_remember)),
            HidVariable("x.mode", f"{CHARGER}.Mode", conversion=mode),
            HidVariable("x.choice", f"{CHARGER}.Mode", conversion=mode, writable=True, enum=True),
        ),
        flags=(HidFlag("UPS.PowerSummary.PresentStatus.ACPresent", "online", device_bits=_online_when_enabled),),
        commands=(),
        settings=(),
        default_mfr="x",
        quirks=ModeQuirks,
    )
    builder = hid_sim.DescriptorBuilder(subdriver.names)
    with builder.collection("UPS", 0x01):
        with builder.collection("PowerSummary"), builder.collection("PresentStatus", 0x02):
            builder.field("ACPresent", size=1, high=1)
        with builder.collection("BatterySystem"), builder.collection("Charger"):
            builder.field("ABMEnable", high=1)
            builder.field("Mode", high=7)
        with builder.collection("Flow"):
            builder.field("ConfigApparentPower", size=16, high=0xFFFF)
    return hid_sim.SimulatedUnit(
        identity=UsbIdentity(0x0463, 0xFFFF, "X", "Box", None, "001", "002", "003"),
        descriptor=builder.bytes(),
        values={
            "UPS.PowerSummary.PresentStatus.ACPresent": 1,
            f"{CHARGER}.ABMEnable": 1,
            f"{CHARGER}.Mode": 2,
            "UPS.Flow.ConfigApparentPower": 650,
        },
        strings={},
        subdriver=subdriver,
    )


def test_conversions_with_device_state_withdraw_enumerate_and_decide_bits() -> None:
    simulator = hid_sim.HidUpsSimulator(_mechanism_unit())
    clock = Clock()
    driver, state = make_driver(simulator, clock)
    driver._subdriver_for = lambda identity: simulator.unit.subdriver  # type: ignore[method-assign]
    asyncio.run(start(driver))
    assert state.get("ups.model") == "Box 650"  # the quirks' model hook read a field before the walk
    # The first x.mode row published nothing, so the second (same name) was bound too, as NUT does.
    assert state.get("x.mode") == "two"
    assert state.get("ups.status") == "OL"
    assert [v.enums for v in state.variables() if v.name == "x.choice"] == [["one", "two"]]  # "three" has no text
    assert asyncio.run(driver.setvar("x.choice", "one")) == STAT_HANDLED
    assert simulator.writes == [(f"{CHARGER}.Mode", 1)]
    assert asyncio.run(driver.setvar("x.choice", "four")) == STAT_INVALID
    # NUT's setvar takes the first bound row of a name: here the one that only remembers the state.
    assert asyncio.run(driver.setvar("x.mode", "one")) == STAT_UNKNOWN
    simulator.set(f"{CHARGER}.ABMEnable", 0)
    clock.now = 31
    asyncio.run(driver.update())
    assert "x.mode" not in state  # withdrawn by the conversion
    assert state.get("ups.status") == "OB"  # the bit rule saw the new state


# -- the Eaton 5P 650 ------------------------------------------------------------------------------------

DUMP_5P = "Eaton/Eaton__5P_650__usbhid-ups__2.7.4__01.dev"


def start_5p(**options: str | bool) -> tuple[hid_sim.HidUpsSimulator, UsbhidUps, DriverState, Clock]:
    simulator = hid_sim.HidUpsSimulator(eaton_5p650())
    clock = Clock()
    driver, state = make_driver(simulator, clock, **options)
    asyncio.run(start(driver))
    return simulator, driver, state, clock


def full_walk(driver: UsbhidUps, clock: Clock) -> None:
    clock.now += 31
    asyncio.run(driver.update())


def test_the_5p_publishes_its_dump() -> None:
    """Every variable of the 2.7.4 dump with its value, and nothing else: MGE HID 1.46 (NUT 2.8.0) gives this
    unit the same variables as the dump's MGE HID 1.39 (the rows that changed between them, the computed
    ups.realpower and the PowerConverter online rule, do not apply to a unit with ActivePower and no
    Input.[1].PresentStatus.Used)."""
    expected = {k: v for k, v in dump_values(DUMP_5P).items() if not k.startswith(CORE)}
    _, _, state, _ = start_5p()
    assert {v.name: v.value for v in state.variables() if not v.name.startswith(CORE)} == expected


def test_the_5p_writable_variables_and_commands() -> None:
    _, _, state, _ = start_5p()
    writable = {v.name: (v.aux, v.enums) for v in state.variables() if v.is_writable}
    assert writable["output.voltage.nominal"] == (3, ["200", "208", "220", "230", "240"])
    assert writable["ups.shutdown"] == (10, ["disabled", "enabled"])
    assert writable["battery.protection"] == (5, [])  # yes/no rows have no enum in NUT (no HU_FLAG_ENUM)
    assert writable["outlet.1.delay.start"] == (5, [])
    assert writable["outlet.2.desc"] == (20, [])
    assert "outlet.2.switchable" not in writable  # the Eco-control (RW) row is for Protection Station/ECO only
    assert state.commands() == [
        "beeper.disable",
        "beeper.enable",
        "beeper.mute",
        "beeper.off",
        "beeper.on",
        "load.off",
        "load.off.delay",
        "load.on",
        "load.on.delay",
        "outlet.1.load.off",
        "outlet.1.load.on",
        "outlet.2.load.off",
        "outlet.2.load.on",
        "shutdown.return",
        "shutdown.stayoff",
        "shutdown.stop",
        "test.battery.start.deep",
        "test.battery.start.quick",
        "test.battery.stop",
    ]


@pytest.mark.parametrize(
    ("mode", "on_battery", "charger", "status"),
    [
        (1, False, "charging", "OL CHRG"),
        (3, False, "floating", "OL CHRG"),
        (4, False, "resting", "OL"),
        (2, True, "discharging", "OB DISCHRG"),
        (6, False, "off", "OL"),
        (5, False, "floating", "OL"),  # "ABM not activated": NUT publishes nothing, the last value stays
    ],
)
def test_abm_charger_mode_gives_the_charger_status_and_chrg_dischrg(
    mode: int, on_battery: bool, charger: str, status: str
) -> None:
    simulator, driver, state, _ = start_5p()
    # The legacy bits say the opposite: with ABM on, NUT ignores them and follows the charger's mode.
    simulator.set(f"{CHARGER}.Mode", mode)
    simulator.set(f"{PS}.PresentStatus.ACPresent", 0 if on_battery else 1)
    simulator.set(f"{PS}.PresentStatus.Charging", 1 if on_battery else 0)
    simulator.set(f"{PS}.PresentStatus.Discharging", 0 if on_battery else 1)
    asyncio.run(driver.update())  # a quick poll reads them all (HU_FLAG_QUICK_POLL rows)
    assert state.get("ups.status") == status
    assert state.get("battery.charger.status") == charger


def test_with_abm_off_the_legacy_bits_count_and_the_charger_status_goes() -> None:
    simulator, driver, state, _ = start_5p()
    assert state.get("battery.charger.status") == "floating"
    simulator.set(f"{CHARGER}.ABMEnable", 0)
    simulator.set(f"{CHARGER}.Mode", 6)
    asyncio.run(driver.update())
    assert "battery.charger.status" not in state
    assert state.get("ups.status") == "OL CHRG"  # PresentStatus.Charging = 1
    simulator.set(f"{PS}.PresentStatus.ACPresent", 0)
    simulator.set(f"{PS}.PresentStatus.Charging", 0)
    simulator.set(f"{PS}.PresentStatus.Discharging", 1)
    asyncio.run(driver.update())
    assert state.get("ups.status") == "OB DISCHRG"


def test_outlet_commands_write_the_outlet_delays() -> None:
    simulator, driver, _, _ = start_5p()
    for command, path in (
        ("outlet.1.load.off", f"{OUTLET}.[2].DelayBeforeShutdown"),
        ("outlet.1.load.on", f"{OUTLET}.[2].DelayBeforeStartup"),
        ("outlet.2.load.off", f"{OUTLET}.[3].DelayBeforeShutdown"),
        ("outlet.2.load.on", f"{OUTLET}.[3].DelayBeforeStartup"),
    ):
        assert asyncio.run(driver.instcmd(command, None)) == STAT_HANDLED
        assert simulator.writes[-1] == (path, 0)
    # mge-hid.c's beeper.off disables the beeper (1), where the other vendors mute it
    assert asyncio.run(driver.instcmd("beeper.off", None)) == STAT_HANDLED
    assert simulator.writes[-1] == (f"{PS}.AudibleAlarmControl", 1)
    assert asyncio.run(driver.instcmd("beeper.mute", None)) == STAT_HANDLED
    assert simulator.writes[-1] == (f"{PS}.AudibleAlarmControl", 3)


def test_outlet_settings_are_written_and_read_back() -> None:
    simulator, driver, state, _ = start_5p()
    settings = (
        ("outlet.2.delay.start", "12", f"{OUTLET}.[3].StartupTimer", 12),
        ("output.voltage.nominal", "240", "UPS.Flow.[4].ConfigVoltage", 240),
        ("input.sensitivity", "low", f"{OUTPUT}.SensitivityMode", 2),
    )
    for name, text, path, value in settings:
        assert asyncio.run(driver.setvar(name, text)) == STAT_HANDLED
        assert simulator.values[path] == value
    # NUT's driver writes any value of the table (120 too: upsd refuses it, not one of the enum choices)
    assert asyncio.run(driver.setvar("output.voltage.nominal", "250")) == STAT_INVALID
    assert asyncio.run(driver.setvar("outlet.1.desc", "NAS")) == STAT_HANDLED  # kept by the driver
    asyncio.run(driver.update())  # a full walk re-reads the semi-static settings
    assert [state.get(name) for name, *_ in settings] == ["12", "240", "low"]
    assert state.get("outlet.1.desc") == "NAS"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (f"{PS}.PresentStatus.EmergencyStop", "Emergency stop!"),
        (f"{INPUT}.[1].PresentStatus.WiringFault", "Wiring fault!"),
        (f"{PS}.PresentStatus.ConfigurationFailure", "Fatal EEPROM fault!"),
        (f"{OUTPUT}.PresentStatus.ShortCircuit", "Output short circuit!"),
    ],
)
def test_vendor_alarms_appear_in_ups_alarm_with_alarm_in_the_status(path: str, text: str) -> None:
    simulator, driver, state, clock = start_5p()
    simulator.set(path, 1)
    full_walk(driver, clock)
    assert state.get("ups.alarm") == text
    assert state.get("ups.status") == "ALARM OL CHRG"
    simulator.set(path, 0)
    full_walk(driver, clock)
    assert "ups.alarm" not in state
    assert state.get("ups.status") == "OL CHRG"


def test_vendor_alarms_come_before_the_status_bit_alarms() -> None:
    simulator, driver, state, clock = start_5p()
    simulator.set(f"{PS}.PresentStatus.EmergencyStop", 1)
    simulator.set(f"{CHARGER}.PresentStatus.InternalFailure", 1)
    simulator.set(f"{BATTERY}.PresentStatus.Present", 0)
    full_walk(driver, clock)
    assert state.get("ups.alarm") == "Emergency stop! No battery installed! Battery charger fail!"


def flag_at(path: str) -> HidFlag:
    return next(flag for flag in EATON.flags if flag.path == path)


def test_the_converter_says_online_only_while_the_ups_is_not_off() -> None:
    """Input.[1].PresentStatus.Used gives online/!online, except when PresentStatus.Good said OFF."""
    quirks = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    used = flag_at(f"{INPUT}.[1].PresentStatus.Used")
    bits: dict[str, bool] = {"online": True}
    used.apply(0, bits, quirks)
    assert bits == {"online": False}
    bits = {"off": True, "online": True}
    used.apply(0, bits, quirks)
    assert bits == {"off": True, "online": True}
    on_battery = flag_at(f"{INPUT}.[3].PresentStatus.Used")  # mge_onbatt_info: 1 clears online
    on_battery.apply(1, bits, quirks)
    assert bits["online"] is False


def test_model_names_and_types() -> None:
    assert model_name("Eaton 5P", "650") == ("5P 650", EATON_5P)
    assert model_name("ELLIPSE", "650") == ("ellipse 650", DEFAULT_OFFLINE)
    assert model_name("Evolution", "S 1250") == ("Evolution S 1250", EVOLUTION + 4)
    assert model_name("EX", "3000 XL") == ("EX 3000 XL", PULSAR_M + 2)  # NUT gives it the 3000's type
    assert model_name("Protection Station", "650") == ("Protection Station 650", PEGASUS)
    assert model_name("5E 650i", "650") == ("5E 650i 650", DEFAULT)  # not listed: joined, line-interactive


class Fields:
    """DeviceFields from a dict."""

    def __init__(self, values: dict[str, float], texts: dict[str, str]) -> None:
        self.values, self.texts = values, texts

    def value(self, path: str) -> float | None:
        return self.values.get(path)

    def text(self, path: str) -> str:
        return self.texts.get(path, "")


def test_format_model_uses_imodel_then_the_va_rating_and_leaves_dell_alone() -> None:
    quirks = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    assert quirks.model("Evolution", Fields({}, {f"{PS}.iModel": "650"})) == "Evolution 650"
    assert quirks.model_type == EVOLUTION_650
    rating = {"UPS.Flow.[4].ConfigApparentPower": 1500.0}
    assert quirks.model("Ellipse MAX", Fields(rating, {})) == "Ellipse MAX 1500"
    assert quirks.model("Nameless", Fields({}, {})) == "Nameless"
    assert quirks.model("", Fields({}, {f"{PS}.iModel": "500"})) == "unknown 500"
    dell = MgeQuirks(UsbIdentity(0x047C, 0xFFFF))
    assert dell.model("Dell UPS Tower 1920W HV", Fields(rating, {f"{PS}.iModel": "x"})) == "Dell UPS Tower 1920W HV"


def conversion_text(conversion: Conversion, quirks: MgeQuirks, value: float, **published: str) -> object:
    return conversion.text_on(quirks, value, lambda name: published.get(name.replace(".", "_")))


def test_series_dependent_battery_voltages() -> None:
    quirks = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    assert conversion_text(BATTERY_VOLTAGE, quirks, 13.7) is None  # line-interactive default: not the battery
    assert conversion_text(BATTERY_VOLTAGE_NOMINAL, quirks, 24) is None
    quirks.model_type = EVOLUTION_650
    assert conversion_text(BATTERY_VOLTAGE, quirks, 13.66) == "13.7"
    assert conversion_text(BATTERY_VOLTAGE_NOMINAL, quirks, 24) == "12"  # the Evolution 650 reports it wrong
    quirks.model_type = EATON_5P
    assert conversion_text(BATTERY_VOLTAGE_NOMINAL, quirks, 24) == "24"


def test_eco_control_rows_are_for_protection_station_ellipse_eco_and_non_european_3s() -> None:
    quirks = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    assert conversion_text(ECO_THRESHOLD, quirks, 25) is None
    assert ECO_YES_NO.number_on(quirks, "yes", lambda name: None) is None
    quirks.model_type = PEGASUS
    assert ECO_THRESHOLD.choices(quirks, lambda name: None) == ["10", "25", "60"]
    assert conversion_text(ECO_YES_NO, quirks, 1) == "yes"
    assert ECO_YES_NO.number_on(quirks, "yes", lambda name: None) == 1
    assert ECO_YES_NO.number_on(quirks, "maybe", lambda name: None) == 0  # NUT: anything but "yes" is no
    # NUT means to leave out the European 3S 700 (country 0) but its family mask makes every 3S a Pegasus
    quirks.model_type, quirks.country = THREE_S, 0
    assert conversion_text(ECO_THRESHOLD, quirks, 25) == "25"
    quirks.model_type = EATON_5P
    assert conversion_text(ECO_YES_NO, quirks, 1) is None


def test_nominal_output_voltage_choices_follow_the_first_value_and_the_series() -> None:
    online = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    assert conversion_text(NOMINAL_OUTPUT_VOLTAGE, online, 230) == "230"
    assert NOMINAL_OUTPUT_VOLTAGE.choices(online, lambda name: None) == ["200", "208", "220", "230", "240"]
    offline = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    offline.model_type = DEFAULT_OFFLINE
    assert conversion_text(NOMINAL_OUTPUT_VOLTAGE, offline, 208) == "208"
    assert NOMINAL_OUTPUT_VOLTAGE.choices(offline, lambda name: None) == ["200", "208"]
    low = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    assert conversion_text(NOMINAL_OUTPUT_VOLTAGE, low, 120) == "120"
    assert NOMINAL_OUTPUT_VOLTAGE.choices(low, lambda name: None) == ["100", "110", "120", "127"]


def test_realpower_computed_from_load_and_nominal_power() -> None:
    quirks = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    assert conversion_text(REALPOWER, quirks, 650, ups_load="14", ups_power_nominal="650") == "73"
    assert conversion_text(REALPOWER, quirks, 650, ups_load="14") is None
    # NUT 2.8.0 would give 0 here (atoi("0.53")); we use the power factor
    factor = {"output_powerfactor": "0.50"}
    assert conversion_text(REALPOWER, quirks, 650, ups_load="20", ups_power_nominal="650", **factor) == "65"


def test_ups_date_and_time_from_unix_time_and_back() -> None:
    quirks = MgeQuirks(UsbIdentity(0x0463, 0xFFFF))
    stamp = time.mktime((2024, 2, 29, 13, 5, 9, 0, 0, -1))
    assert conversion_text(DATE, quirks, stamp) == "2024/02/29"
    assert conversion_text(TIME, quirks, stamp) == "13:05:09"
    assert DATE.number_on(quirks, "2024/03/01", {"ups.time": "13:05:09"}.get) == stamp + 86400
    assert TIME.number_on(quirks, "13:06:09", {"ups.date": "2024/02/29"}.get) == stamp + 60
    assert TIME.number_on(quirks, "25:99", {"ups.date": "2024/02/29"}.get) is None
    assert conversion_text(DATE, quirks, 1e300) is None  # a lying field: nothing published, no crash


def test_usb_ids_and_claims() -> None:
    assert subdriver_for(UsbIdentity(0x0592, 0x0004), productid_given=False) is EATON  # Powerware PW 9140
    assert subdriver_for(UsbIdentity(0x04B3, 0x0001), productid_given=False) is EATON  # IBM
    assert subdriver_for(UsbIdentity(0x2B2D, 0xFFFF), productid_given=False) is EATON  # AEG
    assert subdriver_for(UsbIdentity(0x047C, 0x1234), productid_given=False) is None  # Dell: only with productid
    assert subdriver_for(UsbIdentity(0x047C, 0x1234), productid_given=True) is EATON
    # Phoenixtec's ID is liebert-hid's, except for AEG PROTECT NAS units
    assert subdriver_for(UsbIdentity(0x06DA, 0xFFFF, "Phoenixtec", "UPS"), productid_given=False) is None
    assert subdriver_for(UsbIdentity(0x06DA, 0xFFFF, "AEG", "PROTECT NAS"), productid_given=False) is EATON
    assert subdriver_for(UsbIdentity(0x06DA, 0x0002, "x", "AEG NAS"), productid_given=True) is EATON


def test_three_phase_rows() -> None:
    paths = {row.name: row.path for row in EATON.variables}
    assert paths["input.L2-L3.voltage"] == "UPS.PowerConverter.Input.[1].Phase.[23].Voltage"
    assert paths["input.bypass.L3.current"] == "UPS.PowerConverter.Input.[2].Phase.[3].Current"
    assert paths["output.L1-N.voltage"] == "UPS.PowerConverter.Output.Phase.[1].Voltage"
    assert paths["ups.L2.realpower"] == "UPS.PowerConverter.Output.Phase.[2].ActivePower"
    assert paths["input.bypass.frequency.nominal"] == "UPS.Flow.[2].ConfigFrequency"
