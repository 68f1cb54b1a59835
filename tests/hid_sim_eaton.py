"""A second Eaton HID simulator: the Eaton 5P 650 of nut-ddl's ``Eaton__5P_650__usbhid-ups__2.7.4__01.dev``.

No 5P report descriptor is published, so this one is built (with :class:`tests.hid_sim.DescriptorBuilder`) from
mge-hid.c's usage paths for every variable of the dump, with the unit's values: online, the charger in ABM
"floating" mode, PowerShare outlets 1 and 2 switchable and on, the Flow.[1]/[4] nominal values and thresholds.
It also carries the status and alarm fields mge-hid.c reads (all clear) and the outlets' DelayBefore* fields of
the outlet commands, so tests can change them.
"""

from __future__ import annotations

from appliance.drivers.hid_subdrivers import EATON
from appliance.drivers.usb_transport import UsbIdentity
from tests.hid_sim import HERTZ, PS, SECOND, STRING_BASE, VA, VOLT, DescriptorBuilder, SimulatedUnit

AMPERE = 0x00100001
CHARGER = "UPS.BatterySystem.Charger"
BATTERY = "UPS.BatterySystem.Battery"
INPUT = "UPS.PowerConverter.Input"
OUTPUT = "UPS.PowerConverter.Output"
OUTLET = "UPS.OutletSystem.Outlet"
PS_STATUS = (
    "ACPresent",
    "Charging",
    "Discharging",
    "BelowRemainingCapacityLimit",
    "Overload",
    "NeedReplacement",
    "ShutdownImminent",
    "Good",
    "Switchable",
    "FanFailure",
    "InternalFailure",
    "OverTemperature",
    "EmergencyStop",
    "ConfigurationFailure",
)
"""The PowerSummary status bits, each also an Input field (the 5P reports changes on the interrupt pipe)."""


def _bits(builder: DescriptorBuilder, names: tuple[str, ...], with_input: bool = False) -> None:
    with builder.collection("PresentStatus", 0x02):
        for name in names:
            builder.field(name, size=1, high=1, with_input=with_input)


def _volts(builder: DescriptorBuilder, name: str, exponent: int = 7) -> None:
    """A voltage field: NUT adds 7 to a Volt exponent, so 7 reads whole volts and 6 tenths."""
    builder.field(name, size=16, high=0xFFFF, unit=VOLT, exponent=exponent)


def _outlet(builder: DescriptorBuilder, index: int) -> None:
    """Outlet.[index]: the main outlet (1) or PowerShare outlet index-1, with its timers and status."""
    with builder.collection("Outlet", 0x80 + index):
        builder.field("OutletID", high=255)
        if index > 1:
            builder.field("RemainingCapacityLimit", high=100)
            for name in ("ShutdownTimer", "StartupTimer"):
                builder.field(name, size=16, high=0xFFFF, unit=SECOND)
            for name in ("DelayBeforeShutdown", "DelayBeforeStartup"):
                builder.field(name, size=16, low=-1, high=0x7FFF, unit=SECOND)
        _bits(builder, ("Switchable", "SwitchOn/Off") if index > 1 else ("Switchable",))


def eaton_5p650() -> SimulatedUnit:
    """Eaton 5P 650 (0463:ffff), online, charger floating, as in its nut-ddl dump (2.7.4, "MGE HID 1.39")."""
    builder = DescriptorBuilder(EATON.names)
    with builder.collection("UPS", 0x01):
        with builder.collection("PowerSummary"):
            for name in ("iDeviceChemistry", "iVersion", "iModel"):
                builder.field(name)
            builder.field("RemainingCapacity", high=100, with_input=True)
            builder.field("RunTimeToEmpty", size=16, high=0xFFFF, unit=SECOND, with_input=True)
            builder.field("RemainingCapacityLimitSetting", high=100)
            builder.field("RestartLevel", high=100)
            builder.field("PercentLoad", high=200)
            builder.field("AudibleAlarmControl", low=1, high=3)
            _volts(builder, "Voltage", exponent=6)
            _volts(builder, "ConfigVoltage")
            for name in ("DelayBeforeShutdown", "DelayBeforeStartup"):
                builder.field(name, size=16, low=-1, high=0x7FFF, unit=SECOND)
            _bits(builder, PS_STATUS, with_input=True)
        with builder.collection("BatterySystem"):
            with builder.collection("Battery"):
                builder.field("DesignCapacity", size=16, high=0xFFFF)
                builder.field("DeepDischargeProtection", high=1)
                builder.field("Test", low=1, high=7)
                builder.field("TestPeriod", size=32, high=0x7FFFFFFF, unit=SECOND)
                _bits(builder, ("Present", "VoltageTooHigh"))
            with builder.collection("Charger"):
                builder.field("ABMEnable", high=1)
                builder.field("Mode", high=7)
                _bits(builder, ("InternalFailure", "VoltageTooHigh", "VoltageTooLow"))
        with builder.collection("PowerConverter"):
            builder.field("ConverterType", high=5)
            with builder.collection("Input", 0x81):
                _volts(builder, "Voltage", exponent=6)
                builder.field("Current", size=16, high=0xFFFF, unit=AMPERE, exponent=-2)
                builder.field("Frequency", size=16, high=0xFFFF, unit=HERTZ, exponent=-1)
                builder.field("AutomaticRestart", high=1)
                _bits(builder, ("Buck", "Boost", "VoltageOutOfRange", "FrequencyOutOfRange", "WiringFault"))
            with builder.collection("Input", 0x83):
                builder.field("EnergySaving", high=1)
                builder.field("ConfigPercentLoad", high=100)
                builder.field("ShutdownTimer", size=16, high=0xFFFF, unit=SECOND)
                builder.field("StartOnBattery", high=1)
            with builder.collection("Output"):
                _volts(builder, "Voltage", exponent=6)
                builder.field("Current", size=16, high=0xFFFF, unit=AMPERE, exponent=-2)
                builder.field("Frequency", size=16, high=0xFFFF, unit=HERTZ, exponent=-1)
                builder.field("ApparentPower", size=16, high=0xFFFF, unit=VA, exponent=7)
                builder.field("ActivePower", size=16, high=0xFFFF, unit=VA, exponent=7)
                builder.field("PowerFactor", high=100)
                builder.field("Efficiency", high=100)
                builder.field("ForcedReboot", high=1)
                for name in ("LowVoltageTransfer", "HighVoltageTransfer"):
                    _volts(builder, name)
                for name in ("LowVoltageBoostTransfer", "HighVoltageBuckTransfer"):
                    _volts(builder, name)
                for name in ("SensitivityMode", "ExtendedVoltageMode", "ExtendedFrequencyMode"):
                    builder.field(name, high=2)
                _bits(builder, ("ShortCircuit",))
        for index in (1, 4):
            with builder.collection("Flow", 0x80 + index):
                _volts(builder, "ConfigVoltage")
                builder.field("ConfigFrequency", high=255, unit=HERTZ)
                if index == 4:
                    builder.field("ConfigApparentPower", size=16, high=0xFFFF, unit=VA, exponent=7)
                    builder.field("ConfigActivePower", size=16, high=0xFFFF, unit=VA, exponent=7)
                    builder.field("ConfigPercentLoad", high=255)
        with builder.collection("OutletSystem"):
            for index in (1, 2, 3):
                _outlet(builder, index)
    return SimulatedUnit(
        identity=UsbIdentity(0x0463, 0xFFFF, "EATON", "Eaton 5P", "G114L41071", "001", "006", "005"),
        descriptor=builder.bytes(),
        values={
            f"{PS}.iDeviceChemistry": STRING_BASE + 1,
            f"{PS}.iVersion": STRING_BASE + 2,
            f"{PS}.iModel": STRING_BASE + 3,
            f"{PS}.RemainingCapacity": 100,
            f"{PS}.RunTimeToEmpty": 1575,
            f"{PS}.RemainingCapacityLimitSetting": 20,
            f"{PS}.RestartLevel": 0,
            f"{PS}.PercentLoad": 21,
            f"{PS}.AudibleAlarmControl": 2,
            f"{PS}.Voltage": 13.7,
            f"{PS}.ConfigVoltage": 12,
            f"{PS}.DelayBeforeShutdown": 0,
            f"{PS}.DelayBeforeStartup": 0,
            f"{PS}.PresentStatus.ACPresent": 1,
            f"{PS}.PresentStatus.Charging": 1,
            f"{PS}.PresentStatus.Good": 1,
            f"{PS}.PresentStatus.Switchable": 1,
            f"{BATTERY}.DesignCapacity": 9 * 3600,  # A.s: 9 Ah
            f"{BATTERY}.DeepDischargeProtection": 1,
            f"{BATTERY}.Test": 1,
            f"{BATTERY}.TestPeriod": 2592000,
            f"{BATTERY}.PresentStatus.Present": 1,
            f"{CHARGER}.ABMEnable": 1,
            f"{CHARGER}.Mode": 3,  # floating
            "UPS.PowerConverter.ConverterType": 1,
            f"{INPUT}.[1].Voltage": 235.9,
            f"{INPUT}.[1].Current": 0.7,
            f"{INPUT}.[1].Frequency": 49.9,
            f"{INPUT}.[1].AutomaticRestart": 1,
            f"{INPUT}.[3].EnergySaving": 0,
            f"{INPUT}.[3].ConfigPercentLoad": 5,
            f"{INPUT}.[3].ShutdownTimer": 300,
            f"{INPUT}.[3].StartOnBattery": 1,
            f"{OUTPUT}.Voltage": 235.9,
            f"{OUTPUT}.Current": 0.6,
            f"{OUTPUT}.Frequency": 49.9,
            f"{OUTPUT}.ApparentPower": 142,
            f"{OUTPUT}.ActivePower": 76,
            f"{OUTPUT}.PowerFactor": 53,
            f"{OUTPUT}.Efficiency": 86,
            f"{OUTPUT}.ForcedReboot": 1,
            f"{OUTPUT}.LowVoltageTransfer": 160,
            f"{OUTPUT}.HighVoltageTransfer": 294,
            f"{OUTPUT}.LowVoltageBoostTransfer": 184,
            f"{OUTPUT}.HighVoltageBuckTransfer": 265,
            "UPS.Flow.[1].ConfigVoltage": 230,
            "UPS.Flow.[1].ConfigFrequency": 50,
            "UPS.Flow.[4].ConfigVoltage": 230,
            "UPS.Flow.[4].ConfigFrequency": 50,
            "UPS.Flow.[4].ConfigApparentPower": 650,
            "UPS.Flow.[4].ConfigActivePower": 420,
            "UPS.Flow.[4].ConfigPercentLoad": 105,
            f"{OUTLET}.[1].OutletID": 0,
            **{f"{OUTLET}.[{n + 1}].OutletID": n for n in (1, 2)},
            **{f"{OUTLET}.[{n + 1}].ShutdownTimer": 65535 for n in (1, 2)},
            **{f"{OUTLET}.[{n + 1}].StartupTimer": 3 * n for n in (1, 2)},
            **{f"{OUTLET}.[{n + 1}].PresentStatus.{bit}": 1 for n in (1, 2) for bit in ("Switchable", "SwitchOn/Off")},
        },
        strings={STRING_BASE + 1: "PbAc", STRING_BASE + 2: "02.14.0026", STRING_BASE + 3: "650"},
        subdriver=EATON,
    )
