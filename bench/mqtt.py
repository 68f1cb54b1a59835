"""Benchmark: a status change at the driver to the MQTT message at a subscriber — ours against a NUT bridge.

Ours: ``appliance run`` (our dummy-ups, our upsd) with ``[mqtt]`` in appliance.toml, publishing on change.
NUT: Debian's dummy-ups and upsd 2.8.0 with a poll-and-republish bridge of the usual kind (it asks upsd for
``ups.status`` every POLL seconds and publishes when it changed), run in this process. Both publish to the same
Debian Mosquitto; one subscriber timestamps what arrives.

Each sample writes ``SET ups.status ...`` straight into the driver's socket (t0: the driver has the change) and
waits for the new status on the subscriber (t1). Samples alternate OL / OB.

    .venv/bin/python bench/mqtt.py [--samples 50] [--bridge-samples 8]
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.clients.nut_client import NutClient  # noqa: E402
from tests.integration.test_upsd_real_clients import start_stack, stop_stack  # noqa: E402
from tests.mosquitto import Subscriber, start_broker  # noqa: E402
from tests.nut_reference import DDL, start_nut_dummy  # noqa: E402

POLL = 5.0  # a typical bridge's poll interval (Home Assistant's own NUT integration polls every 60 s)
DUMP = DDL / "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"


def set_status_at_driver(socket_path: Path, status: str) -> float:
    """Write the change into the driver's socket, as if the hardware had reported it; return when."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(socket_path))
        started = time.time()
        sock.sendall(f'SET ups.status "{status}"\n'.encode())
        return started


def poll_bridge(port: int, broker_port: int, topic: str, stop: threading.Event) -> None:
    """The usual NUT-to-MQTT bridge: poll upsd, publish on change."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    last = None
    with NutClient.connect("127.0.0.1", port) as nut:
        while not stop.is_set():
            status = str(nut.get_var("ups", "ups.status"))
            if status != last:
                client.publish(topic, status, qos=1, retain=True)
                last = status
            stop.wait(POLL)
    client.loop_stop()


def measure(sub: Subscriber, topic: str, socket_path: Path, samples: int, spread: float = 0.0) -> list[float]:
    """Latencies in seconds for ``samples`` alternating status changes, each after a random pause of up to
    ``spread`` seconds (against a poller, so that changes do not fall at the same point of its cycle)."""
    latencies = []
    pauses = random.Random(42)
    for number in range(samples):
        time.sleep(pauses.uniform(0, spread))
        status = "OB DISCHRG" if number % 2 == 0 else "OL"
        sub.log.clear()
        started = set_status_at_driver(socket_path, status)
        deadline = time.monotonic() + POLL * 3
        while not any(t == topic and p == status for _, t, p in sub.log):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic} never became {status}")
            time.sleep(0.0005)
        arrived = next(when for when, t, p in sub.log if t == topic and p == status)
        latencies.append(arrived - started)
        time.sleep(0.05)
    return latencies


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    """Run both and print p50/p99."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--bridge-samples", type=int, default=8)
    args = parser.parse_args()
    hostname = socket.gethostname().split(".")[0]
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp) / "broker")
        confdir = Path(tmp) / "ours"
        confdir.mkdir()
        (confdir / "appliance.toml").write_text(
            f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndiscovery = false\n'
        )
        stack = start_stack(confdir)
        nut = start_nut_dummy(Path(tmp) / "nut", DUMP)
        stop = threading.Event()
        ours_topic, bridge_topic = f"nut/{hostname}/ups/status", "bridge/ups/status"
        bridge = threading.Thread(target=poll_bridge, args=(nut.port, broker.port, bridge_topic, stop), daemon=True)
        bridge.start()
        sub = Subscriber(broker, "#")
        try:
            sub.wait_for(ours_topic)
            sub.wait_for(bridge_topic)
            ours = measure(sub, ours_topic, confdir / "dummy-ups-ups", args.samples)
            theirs = measure(sub, bridge_topic, nut.workdir / "dummy-ups-ups", args.bridge_samples, spread=POLL)
        finally:
            sub.close()
            stop.set()
            bridge.join(timeout=POLL + 2)
            stop_stack(stack)
            nut.stop()
            broker.stop()
    print("status change at the driver -> MQTT message at a subscriber (Mosquitto on loopback)")
    print(f"the bridge polls upsd every {POLL:g} s; its changes come at random points of its cycle")
    print(f"{'':<26} {'samples':>8} {'p50 ms':>9} {'p99 ms':>9}")
    for label, values in (("NUT upsd + polling bridge", theirs), ("ours (push)", ours)):
        p50, p99 = statistics.median(values) * 1000, percentile(values, 99) * 1000
        print(f"{label:<26} {len(values):>8} {p50:>9.1f} {p99:>9.1f}")
    print(f"p50 ratio NUT bridge / ours: {statistics.median(theirs) / statistics.median(ours):.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
