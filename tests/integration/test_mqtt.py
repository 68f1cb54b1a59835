"""MQTT telemetry and Prometheus metrics of ``appliance run``, against Debian's Mosquitto and Debian's NUT clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_upsd_real_clients import Stack, start_stack, stop_stack
from tests.mosquitto import MOSQUITTO, Broker, Subscriber, start_broker
from tests.nut_reference import HAVE_NUT, free_port

pytestmark = [
    pytest.mark.skipif(not HAVE_NUT, reason="Debian's NUT clients are not installed"),
    pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="Debian's mosquitto is not installed"),
]

HOST = socket.gethostname().split(".")[0]
BASE = f"nut/{HOST}"
UPS = f"{BASE}/ups"


def mqtt_table(broker: Broker, extra: str = "") -> str:
    table = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n{extra}'
    if broker.tls:
        table += f'tls_ca = "{broker.tls[0]}"\n'
    return table


def upsrw(stack: Stack, var: str, value: str) -> None:
    subprocess.run(
        ["upsrw", "-s", f"{var}={value}", "-u", "admin", "-p", "secret", stack.address], check=True,
        capture_output=True, timeout=20,
    )  # fmt: skip


def upsc(stack: Stack, var: str) -> str:
    return subprocess.run(["upsc", stack.address, var], capture_output=True, text=True, timeout=20).stdout.strip()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = start_broker(tmp_path / "broker")
    yield running
    running.stop()


def start_with(tmp_path: Path, toml: str) -> Stack:
    confdir = tmp_path / "appliance"
    confdir.mkdir(parents=True)
    (confdir / "appliance.toml").write_text(toml)
    return start_stack(confdir)


def test_state_is_retained_and_every_change_is_pushed_with_its_event(broker: Broker, tmp_path: Path) -> None:
    stack = start_with(tmp_path, mqtt_table(broker))
    sub = Subscriber(broker, "nut/#")
    try:
        assert sub.wait_for(f"{BASE}/availability") == "online"
        sub.wait_for(f"{UPS}/status", "OL")
        assert sub.wait_for(f"{UPS}/battery.charge") == "100"
        assert sub.wait_for(f"{UPS}/connected") == "ON"
        snapshot = json.loads(sub.wait_for(f"{UPS}/json"))
        assert snapshot["ups.status"] == "OL" and snapshot["stale"] is False
        published = len(sub.log)
        changed = time.time()
        upsrw(stack, "ups.status", "OB DISCHRG")
        sub.wait_for(f"{UPS}/status", "OB DISCHRG", timeout=5)
        event = json.loads(sub.wait_for(f"{UPS}/event", timeout=5))
        assert event["type"] == "ONBATT" and event["ups"] == "ups"
        arrived = next(t for t, topic, p in sub.log if topic == f"{UPS}/status" and p == "OB DISCHRG")
        assert arrived - changed < 1.0
        new = [topic for _, topic, _ in sub.log[published:]]
        assert f"{UPS}/battery.charge" not in new  # only changed values are published
        upsrw(stack, "ups.status", "OB DISCHRG LB")
        sub.wait_for(f"{UPS}/status", "OB DISCHRG LB")
        wait_event(sub, "LOWBATT")
    finally:
        sub.close()
        assert stop_stack(stack) == 0
    # a clean stop says offline
    sub = Subscriber(broker, f"{BASE}/availability")
    try:
        assert sub.wait_for(f"{BASE}/availability") == "offline"
    finally:
        sub.close()


def wait_event(sub: Subscriber, kind: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(t == f"{UPS}/event" and json.loads(p)["type"] == kind for _, t, p in sub.log):
        assert time.monotonic() < deadline, f"no {kind} event"
        time.sleep(0.02)


def test_home_assistant_discovery_describes_one_device_per_ups(broker: Broker, tmp_path: Path) -> None:
    stack = start_with(tmp_path, mqtt_table(broker, 'commands = true\ncommand_user = "admin"\n'))
    sub = Subscriber(broker, "homeassistant/#")
    try:
        serial = upsc(stack, "ups.serial")
        node = f"nut_{serial}"
        charge = json.loads(sub.wait_for(f"homeassistant/sensor/{node}/battery_charge/config"))
        assert charge["device_class"] == "battery" and charge["unit_of_measurement"] == "%"
        assert charge["state_topic"] == f"{UPS}/battery.charge" and charge["device"]["identifiers"] == [node]
        assert charge["availability"] == [{"topic": f"{BASE}/availability"}]
        online = json.loads(sub.wait_for(f"homeassistant/binary_sensor/{node}/online/config"))
        assert online["device_class"] == "power" and online["state_topic"] == f"{UPS}/status"
        for name, device_class in (("low_battery", "battery"), ("replace_battery", "problem")):
            config = json.loads(sub.wait_for(f"homeassistant/binary_sensor/{node}/{name}/config"))
            assert config["device_class"] == device_class
        connectivity = json.loads(sub.wait_for(f"homeassistant/binary_sensor/{node}/connectivity/config"))
        assert connectivity["state_topic"] == f"{UPS}/connected"
        button = json.loads(sub.wait_for(f"homeassistant/button/{node}/cmd_load_off/config"))
        assert button["command_topic"] == f"{UPS}/command" and button["payload_press"] == "load.off"
        runtime = json.loads(sub.wait_for(f"homeassistant/sensor/{node}/battery_runtime/config"))
        assert runtime["device_class"] == "duration" and runtime["unit_of_measurement"] == "s"
    finally:
        sub.close()
        stop_stack(stack)


def test_commands_go_through_upsds_access_rules(broker: Broker, tmp_path: Path) -> None:
    stack = start_with(tmp_path, mqtt_table(broker, 'commands = true\ncommand_user = "monuser"\n'))
    sub = Subscriber(broker, f"{UPS}/command/result")
    try:
        wait_subscribed(broker)
        publish(broker, f"{UPS}/command", '{"command": "load.off", "id": "7"}')
        result = json.loads(sub.wait_for(f"{UPS}/command/result"))
        assert result == {"command": "load.off", "id": "7", "result": "ERR ACCESS-DENIED"}  # monuser may not
    finally:
        sub.close()
        stop_stack(stack)
    stack = start_with(tmp_path / "admin", mqtt_table(broker, 'commands = true\ncommand_user = "admin"\n'))
    sub = Subscriber(broker, f"{UPS}/command/result")
    try:
        wait_subscribed(broker)
        publish(broker, f"{UPS}/command", "load.off")
        assert json.loads(sub.wait_for(f"{UPS}/command/result"))["result"] == "SUCCESS"
        sub.last.clear()
        publish(broker, f"{UPS}/command", '{"set": "ups.delay.shutdown", "value": "45"}')
        assert json.loads(sub.wait_for(f"{UPS}/command/result"))["result"] == "SUCCESS"
        assert (
            subprocess.run(["upsc", stack.address, "ups.delay.shutdown"], capture_output=True, text=True).stdout
            == "45\n"
        )
        sub.last.clear()
        publish(broker, f"{UPS}/command", '{"command": ')
        assert json.loads(sub.wait_for(f"{UPS}/command/result"))["result"].startswith("ERR INVALID-ARGUMENT")
        assert subprocess.run(["upsc", stack.address, "ups.status"], capture_output=True).returncode == 0
    finally:
        sub.close()
        stop_stack(stack)


def wait_subscribed(broker: Broker) -> None:
    """The publisher subscribes to its command topic once connected: wait until it says online."""
    sub = Subscriber(broker, f"{BASE}/availability")
    try:
        sub.wait_for(f"{BASE}/availability", "online")
    finally:
        sub.close()
    time.sleep(0.3)


def publish(broker: Broker, topic: str, payload: str) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", topic, "-m", payload, "-q", "1"], check=True)


def test_killed_appliance_leaves_its_last_will(broker: Broker, tmp_path: Path) -> None:
    stack = start_with(tmp_path, mqtt_table(broker, 'protocol = "3.1.1"\n'))  # the older protocol, too
    sub = Subscriber(broker, f"{BASE}/availability")
    try:
        sub.wait_for(f"{BASE}/availability", "online")
        stack.proc.send_signal(signal.SIGKILL)
        stack.proc.wait()
        sub.wait_for(f"{BASE}/availability", "offline", timeout=5)
    finally:
        sub.close()


def test_broker_restart_gets_the_true_state_within_a_second_or_so(broker: Broker, tmp_path: Path) -> None:
    stack = start_with(tmp_path, mqtt_table(broker))
    try:
        sub = Subscriber(broker, f"{UPS}/status")
        sub.wait_for(f"{UPS}/status", "OL")
        sub.close()
        broker.stop()  # no persistence: the broker forgets every retained message
        upsrw(stack, "ups.status", "OB DISCHRG")  # changes while the broker is away
        assert subprocess.run(["upsc", stack.address, "ups.status"], capture_output=True, text=True).stdout.startswith(
            "OB"
        )
        time.sleep(2)
        broker.start()
        back = time.monotonic()
        deadline = back + 5
        while True:  # a fresh subscriber sees the true state as soon as the appliance has republished it
            sub = Subscriber(broker, f"{UPS}/status")
            try:
                with_state = sub.wait_for(f"{UPS}/status", timeout=0.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "the broker never got the state back"
            finally:
                sub.close()
        assert with_state == "OB DISCHRG"
        assert time.monotonic() - back < 3.0
    finally:
        stop_stack(stack)


def test_tls_and_passwords_and_a_wrong_password(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker", users={"appliance": "right", "reader": "r"}, tls=True)
    try:
        stack = start_with(tmp_path, mqtt_table(broker, 'username = "appliance"\npassword = "right"\n'))
        sub = Subscriber(broker, f"{UPS}/status", user=("reader", "r"))
        try:
            assert sub.wait_for(f"{UPS}/status") == "OL"
        finally:
            sub.close()
            stop_stack(stack)
        stack = start_with(tmp_path / "wrong", mqtt_table(broker, 'username = "appliance"\npassword = "wrong"\n'))
        try:
            time.sleep(3)  # several retries
            assert upsc(stack, "ups.status") == "OL"  # the NUT side is unaffected
        finally:
            stop_stack(stack)
        log = (stack.confdir / "run.log").read_text()
        assert log.count("refused the connection") == 1 and "Traceback" not in log
    finally:
        broker.stop()


def test_prometheus_metrics(tmp_path: Path) -> None:
    port = free_port()
    stack = start_with(tmp_path, f'[metrics]\nlisten = "127.0.0.1"\nport = {port}\n')
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'network_ups_tools_battery_charge{ups="ups"} 100.0' in body
        assert 'network_ups_tools_ups_status{flag="OL",ups="ups"} 1.0' in body
        assert 'network_ups_tools_ups_status{flag="OB",ups="ups"} 0.0' in body
        assert 'network_ups_tools_data_stale{ups="ups"} 0.0' in body
        upsrw(stack, "ups.status", "OB")
        # upsd's OK means "passed to the driver"; the change reaches the metrics a moment later.
        deadline = time.monotonic() + 5
        while 'network_ups_tools_ups_status{flag="OB",ups="ups"} 1.0' not in body:
            assert time.monotonic() < deadline, body
            time.sleep(0.02)
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
    finally:
        stop_stack(stack)


def test_a_ups_removed_from_ups_conf_takes_its_entities_along(broker: Broker, tmp_path: Path) -> None:
    confdir = tmp_path / "appliance"
    confdir.mkdir()
    (confdir / "appliance.toml").write_text(mqtt_table(broker))
    stack = start_stack(confdir, extra_ups_conf=f"[second]\n  driver = dummy-ups\n  port = {confdir / 'ups.dev'}\n")
    sub = Subscriber(broker, "#")
    try:
        sub.wait_for(f"{BASE}/second/status", "OL")
        deadline = time.monotonic() + 10  # the discovery messages may come after the state (a loaded machine)
        while not any(t.startswith("homeassistant/") and "second" in t and p for t, p in list(sub.last.items())):
            assert time.monotonic() < deadline, "no discovery for the second UPS"
            time.sleep(0.02)
        # every retained topic of the second UPS (its events are not retained: nothing to clear there)
        second = [t for t, p in list(sub.last.items()) if p and ("/second/" in t or "_second" in t)]
        second = [t for t in second if not t.endswith("/event")]
        (confdir / "ups.conf").write_text((confdir / "ups.conf").read_text().split("[second]")[0])
        stack.proc.send_signal(signal.SIGHUP)
        for topic in second:  # cleared: an empty retained message removes the entity in Home Assistant
            sub.wait_for(topic, "", timeout=5)
        assert sub.last[f"{UPS}/status"] == "OL"
    finally:
        sub.close()
        stop_stack(stack)


def test_broker_down_at_start_then_up(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker", free_port())
    broker.directory.mkdir()
    stack = start_with(tmp_path, mqtt_table(broker))  # nothing listens on the broker's port yet
    try:
        time.sleep(2)
        assert upsc(stack, "ups.status") == "OL"
        broker.start()
        up = time.monotonic()
        sub = Subscriber(broker, f"{UPS}/status")
        try:
            assert sub.wait_for(f"{UPS}/status", timeout=5) == "OL"
            assert time.monotonic() - up < 3
        finally:
            sub.close()
    finally:
        stop_stack(stack)
        broker.stop()
    log = (stack.confdir / "run.log").read_text()
    assert log.count("cannot be reached") == 1 and "Traceback" not in log


def test_an_untrusted_broker_certificate_is_refused_clearly(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker", tls=True)
    other_ca = start_broker(tmp_path / "other", tls=True)  # a CA that did not sign the broker's certificate
    other_ca.stop()
    try:
        assert other_ca.tls is not None
        toml = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ntls_ca = "{other_ca.tls[0]}"\n'
        stack = start_with(tmp_path, toml)
        try:
            time.sleep(3)
            assert upsc(stack, "ups.status") == "OL"
        finally:
            stop_stack(stack)
        log = (stack.confdir / "run.log").read_text()
        assert log.count("certificate is not trusted") == 1 and "Traceback" not in log
    finally:
        broker.stop()
