"""The MQTT payloads as pure functions: state topics, discovery configs, command payloads."""

from __future__ import annotations

import json

from appliance.appconf import parse_appconf
from appliance.mqtt.publisher import parse_command
from appliance.mqtt.topics import UpsSnapshot, device_identities, discovery_messages, state_messages


def snapshot(**values: str) -> UpsSnapshot:
    return UpsSnapshot("ups", {"ups.status": "OL", **values}, ["beeper.toggle"], stale=False)


def test_state_messages_carry_every_variable_status_connectivity_and_a_snapshot() -> None:
    messages = state_messages("nut/pi", snapshot(**{"battery.charge": "97"}))
    assert messages["nut/pi/ups/battery.charge"] == "97"
    assert messages["nut/pi/ups/status"] == "OL" and messages["nut/pi/ups/connected"] == "ON"
    assert json.loads(messages["nut/pi/ups/json"]) == {"battery.charge": "97", "ups.status": "OL", "stale": False}
    stale = UpsSnapshot("ups", {"ups.status": "OB"}, stale=True)
    assert state_messages("nut/pi", stale)["nut/pi/ups/status"] == "STALE"
    assert state_messages("nut/pi", stale)["nut/pi/ups/connected"] == "OFF"


def test_discovery_uses_the_serial_as_identity_and_skips_absent_variables() -> None:
    ups = snapshot(**{"ups.serial": "AS1234", "ups.load": "20"})
    configs = discovery_messages("homeassistant", "nut/pi", device_identities("pi", [ups])["ups"], ups)
    load = json.loads(configs["homeassistant/sensor/nut_AS1234/ups_load/config"])
    assert load["unit_of_measurement"] == "%" and "device_class" not in load and load["state_class"] == "measurement"
    assert not any("battery_charge" in topic for topic in configs)
    button = json.loads(configs["homeassistant/button/nut_AS1234/cmd_beeper_toggle/config"])
    assert button["payload_press"] == "beeper.toggle"
    # a blank or all-zero serial is no identity, and neither is one that two UPSes share: host and UPS name instead
    assert device_identities("pi", [snapshot(**{"ups.serial": "000000"})]) == {"ups": "pi_ups"}
    twin = UpsSnapshot("twin", {"ups.serial": "AS1234"})
    assert device_identities("pi", [ups, twin]) == {"ups": "pi_ups", "twin": "pi_twin"}


def test_command_payloads() -> None:
    assert parse_command(b"load.off") == {"command": "load.off"}
    assert parse_command(b'{"command": "test.battery.start", "param": 10, "id": "x"}') == {
        "command": "test.battery.start", "param": "10", "id": "x",
    }  # fmt: skip
    assert parse_command(b'{"set": "ups.delay.shutdown", "value": "30"}') == {
        "set": "ups.delay.shutdown",
        "value": "30",
    }
    for bad in (
        b"",
        b"two words",
        b"\xff",
        b"[1]",
        b'{"set": "x"}',
        b'{"command": "a", "set": "b", "value": "c"}',
        b"{",
    ):
        assert isinstance(parse_command(bad), str) and "INVALID-ARGUMENT" in str(parse_command(bad))


def test_mqtt_and_metrics_tables() -> None:
    conf, problems = parse_appconf('[mqtt]\nhost = "broker"\nprotocol = "3.1.1"\n[metrics]\nport = 9100\n')
    assert problems == [] and conf.mqtt is not None and conf.mqtt.host == "broker" and conf.mqtt.protocol == "3.1.1"
    assert conf.metrics is not None and conf.metrics.port == 9100
    assert parse_appconf("[mqtt]\nenabled = false\n")[0].mqtt is None
    _, problems = parse_appconf('[mqtt]\nqos = 3\nprefx = "a"\ncommands = true\ntls_cert = "c"\n', "appliance.toml")
    described = [(p.line, p.key) for p in problems]
    assert (2, "qos") in described and (3, "prefx") in described and (4, "commands") in described
    assert "did you mean 'prefix'" in str(problems[1]) and any(p.key == "tls_cert" for p in problems)
