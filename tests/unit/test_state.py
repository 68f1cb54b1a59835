"""DeviceState: NUT's ordering, change detection, status building, and apply/dump symmetry."""

import pytest

from appliance.state import DeviceState, StateError


def make_state() -> DeviceState:
    s = DeviceState()
    s.set_info("ups.mfr", "Tripp Lite")
    s.set_info("battery.charge", "100")
    s.set_info("Ups.Delay.Shutdown", "30")
    s.set_flags("ups.delay.shutdown", ["RW", "STRING"])
    s.set_aux("ups.delay.shutdown", 10)
    s.set_info("input.transfer.low", "100")
    s.add_enum("input.transfer.low", "100")
    s.add_enum("input.transfer.low", "90")
    s.set_info("battery.charge.low", "10")
    s.add_range("battery.charge.low", 5, 50)
    s.add_command("load.off")
    s.add_command("beeper.disable")
    s.set_data_ok(True)
    return s


def test_dump_order_matches_nut() -> None:
    dump = list(make_state().dump())
    assert dump == [
        ("SETINFO", "battery.charge", "100"),
        ("SETINFO", "battery.charge.low", "10"),
        ("ADDRANGE", "battery.charge.low", "5", "50"),
        ("SETINFO", "input.transfer.low", "100"),
        ("ADDENUM", "input.transfer.low", "100"),
        ("ADDENUM", "input.transfer.low", "90"),
        ("SETINFO", "Ups.Delay.Shutdown", "30"),
        ("SETAUX", "Ups.Delay.Shutdown", "10"),
        ("SETFLAGS", "Ups.Delay.Shutdown", "RW", "STRING"),
        ("SETINFO", "ups.mfr", "Tripp Lite"),
        ("ADDCMD", "beeper.disable"),
        ("ADDCMD", "load.off"),
        ("DATAOK",),
        ("DUMPDONE",),
    ]


def test_replica_built_from_dump_dumps_the_same() -> None:
    original = make_state()
    replica = DeviceState()
    for msg in original.dump():
        if msg != ("DUMPDONE",):
            replica.apply(msg)
    assert list(replica.dump()) == list(original.dump())


def test_events_only_for_real_changes() -> None:
    s = make_state()
    seen: list[tuple[str, ...]] = []
    s.subscribe(seen.append)
    assert not s.set_info("ups.mfr", "TRIPP LITE")  # NUT compares case-insensitively
    assert s.set_info("battery.charge", "99")
    assert not s.set_data_ok(True)
    assert s.set_data_ok(False)
    assert seen == [("SETINFO", "battery.charge", "99"), ("DATASTALE",)]


def test_status_is_committed_at_once_with_alarm_first() -> None:
    s = DeviceState()
    seen: list[tuple[str, ...]] = []
    s.subscribe(seen.append)
    s.alarm_init()
    s.alarm_set("Replace battery!")
    s.alarm_commit()
    s.status_init()
    s.status_set("OB")
    s.status_set("LB")
    s.status_set("OB")
    assert "ups.status" not in s
    s.status_commit()
    assert s.get("ups.status") == "ALARM OB LB"
    assert seen[-1] == ("SETINFO", "ups.status", "ALARM OB LB")
    s.alarm_init()
    s.alarm_commit()
    assert "ups.alarm" not in s


def test_type_words() -> None:
    s = make_state()
    assert s.variable("ups.delay.shutdown").type_words == ["RW", "STRING:10"]
    assert s.variable("input.transfer.low").type_words == ["ENUM", "NUMBER"]
    assert s.variable("battery.charge").type_words == ["NUMBER"]


@pytest.mark.parametrize(
    "message",
    [(), ("BOGUS",), ("SETINFO", "x"), ("ADDENUM", "missing", "1"), ("ADDRANGE", "battery.charge", "a", "b")],
)
def test_bad_messages_raise_state_error(message: tuple[str, ...]) -> None:
    with pytest.raises(StateError):
        make_state().apply(message)
