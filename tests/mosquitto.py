"""Debian's Mosquitto broker for tests: free port, optional password file and TLS, restartable."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.nut_reference import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1; returns (ca, cert, key)."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
            "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return ca, cert, key


@dataclass
class Broker:
    """One mosquitto process; :meth:`restart` keeps its port and settings."""

    directory: Path
    port: int
    users: dict[str, str] = field(default_factory=dict)
    tls: tuple[Path, Path, Path] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        anonymous = "false" if self.users else "true"
        conf = [f"listener {self.port} 127.0.0.1", "persistence false", f"allow_anonymous {anonymous}"]
        if os.geteuid() == 0:
            conf.append("user root")  # as root mosquitto would drop to its own user, who cannot read our tmp files
        if self.users:
            passwords = self.directory / "passwords"
            passwords.unlink(missing_ok=True)
            for user, password in self.users.items():
                flags = ["-b", "-c"] if not passwords.exists() else ["-b"]
                subprocess.run(["mosquitto_passwd", *flags, str(passwords), user, password], check=True, timeout=30)
            passwords.chmod(0o600)
            conf.append(f"password_file {passwords}")
        if self.tls:
            ca, cert, key = self.tls
            conf += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        (self.directory / "mosquitto.conf").write_text("\n".join(conf) + "\n")
        log = (self.directory / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, (self.directory / "mosquitto.log").read_text()
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_broker(directory: Path, users: dict[str, str] | None = None, tls: bool = False) -> Broker:
    """Start a broker in ``directory`` on a free port."""
    directory.mkdir(parents=True, exist_ok=True)
    broker = Broker(directory, free_port(), users or {}, make_tls(directory) if tls else None)
    broker.start()
    return broker


class Subscriber:
    """A paho client in the test that records the last payload of every topic, and every event."""

    def __init__(self, broker: Broker, topic: str = "#", user: tuple[str, str] | None = None) -> None:
        self.last: dict[str, str] = {}
        self.log: list[tuple[float, str, str]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user:
            self.client.username_pw_set(*user)
        if broker.tls:
            self.client.tls_set(ca_certs=str(broker.tls[0]))
        self.client.on_message = self._message
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _message(self, _: mqtt.Client, __: object, message: mqtt.MQTTMessage) -> None:
        payload = message.payload.decode()
        self.last[message.topic] = payload
        self.log.append((time.time(), message.topic, payload))

    def wait_for(self, topic: str, payload: str | None = None, timeout: float = 10.0) -> str:
        """The payload of ``topic`` once it is there (and equals ``payload`` when given)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.last.get(topic)
            if value is not None and (payload is None or value == payload):
                return value
            assert time.monotonic() < deadline, f"{topic}: {value!r}; seen: {sorted(self.last)[:40]}"
            time.sleep(0.02)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
