"""``appliance driver`` as a process: socket life cycle, signals, pid file, -k, -c, -d, lost and found device."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.protocol.driver_socket import LineCodec

DEADLINE = 10.0


def wait_for(check: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def driver_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "appliance", "driver", *args]


@pytest.fixture
def nutdir(tmp_path: Path) -> Path:
    (tmp_path / "ups.dev").write_text("ups.status: OL\nbattery.charge: 100\n")
    (tmp_path / "ups.conf").write_text(
        "retrydelay = 1\n[sim]\n  driver = dummy-ups\n  port = ups.dev\n  override.ups.model = Fixed\n"
    )
    return tmp_path


def env_for(path: Path) -> dict[str, str]:
    return {**os.environ, "NUT_CONFPATH": str(path), "NUT_STATEPATH": str(path), "NUT_ALTPIDPATH": str(path)}


@pytest.fixture
def driver(nutdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (nutdir / "driver.log").open("wb")
    proc = subprocess.Popen(driver_cmd("-a", "sim", "-i", "1"), env=env_for(nutdir), stdout=log, stderr=log)
    try:
        wait_for(lambda: (nutdir / "dummy-ups-sim").exists() or proc.poll() is not None, "the driver socket")
        assert proc.poll() is None, (nutdir / "driver.log").read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        log.close()


class SocketClient:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(str(path))
        self.codec = LineCodec()
        self.pending: list[tuple[str, ...]] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def message(self) -> tuple[str, ...]:
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "connection closed"
            self.pending += [e for e in self.codec.receive(data) if isinstance(e, tuple)]
        return self.pending.pop(0)

    def dump(self) -> dict[str, str]:
        self.send(b"DUMPALL\n")
        values: dict[str, str] = {}
        while (message := self.message()) != ("DUMPDONE",):
            if message[0] == "SETINFO":
                values[message[1]] = message[2]
            values.setdefault("#stale", "no")
            if message[0] == "DATASTALE":
                values["#stale"] = "yes"
        return values

    def close(self) -> None:
        self.sock.close()


def test_serves_then_cleans_up_on_sigterm(nutdir: Path, driver: subprocess.Popen[bytes]) -> None:
    pid_file = nutdir / "dummy-ups-sim.pid"
    assert pid_file.read_text().strip() == str(driver.pid)
    client = SocketClient(nutdir / "dummy-ups-sim")
    values = client.dump()
    assert values["ups.status"] == "OL"
    assert values["ups.model"] == "Fixed"
    assert values["driver.parameter.pollinterval"] == "1"
    assert values["#stale"] == "no"
    client.send(b"GETPID\n")
    assert client.message() == ("PID", str(driver.pid))
    client.close()
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(5) == 0
    assert not (nutdir / "dummy-ups-sim").exists()
    assert not pid_file.exists()


def test_garbage_on_the_socket_does_not_stop_the_driver(nutdir: Path, driver: subprocess.Popen[bytes]) -> None:
    client = SocketClient(nutdir / "dummy-ups-sim")
    client.send(os.urandom(4096).replace(b'"', b"'") + b"\n" + b"A" * 200_000 + b"\nBOGUS\n\x00\x00\n")
    client.send(b"PING\n")
    assert client.message() == ("PONG",)
    client.close()
    again = SocketClient(nutdir / "dummy-ups-sim")
    assert again.dump()["ups.status"] == "OL"


def test_file_changes_are_broadcast_and_a_lost_file_goes_stale_then_recovers(
    nutdir: Path, driver: subprocess.Popen[bytes]
) -> None:
    client = SocketClient(nutdir / "dummy-ups-sim")
    client.dump()
    data = nutdir / "ups.dev"
    data.write_text("ups.status: OB LB\nbattery.charge: 10\n")
    os.utime(data, ns=(1, 1))
    seen: list[tuple[str, ...]] = []
    while ("SETINFO", "ups.status", "OB LB") not in seen:
        seen.append(client.message())
    data.unlink()
    while client.message() != ("DATASTALE",):
        pass
    data.write_text("ups.status: OL\n")
    while client.message() != ("DATAOK",):
        pass
    assert driver.poll() is None
    log = (nutdir / "driver.log").read_text()
    assert log.count("data marked stale") == 1


def test_control_signal_exit_through_the_pid_file(nutdir: Path, driver: subprocess.Popen[bytes]) -> None:
    result = subprocess.run(driver_cmd("-a", "sim", "-c", "exit"), env=env_for(nutdir), capture_output=True)
    assert result.returncode == 0, result.stderr
    assert driver.wait(5) == 0


def test_a_second_instance_replaces_the_first(nutdir: Path, driver: subprocess.Popen[bytes]) -> None:
    second = subprocess.Popen(driver_cmd("-a", "sim"), env=env_for(nutdir), stderr=subprocess.PIPE)
    try:
        assert driver.wait(5) == 0
        wait_for(lambda: (nutdir / "dummy-ups-sim.pid").exists(), "the new pid file")
        wait_for(lambda: (nutdir / "dummy-ups-sim.pid").read_text().strip() == str(second.pid), "the new pid")
    finally:
        second.terminate()
        second.wait(5)


def test_killpower_dump_and_errors(nutdir: Path) -> None:
    env = env_for(nutdir)
    assert subprocess.run(driver_cmd("-a", "sim", "-k"), env=env).returncode == 0
    dump = subprocess.run(driver_cmd("-a", "sim", "-d", "1"), env=env, capture_output=True, text=True)
    assert dump.returncode == 0
    assert "ups.status: OL\n" in dump.stdout
    assert "driver.name: dummy-ups\n" in dump.stdout
    bad = subprocess.run(driver_cmd("-a", "nosuch"), env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "Section nosuch not found" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = subprocess.run(
        driver_cmd("dummy-ups", "-s", "x", "-x", "port=/nonexistent.dev"), env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert "/nonexistent.dev" in missing.stderr
    assert "Traceback" not in missing.stderr
