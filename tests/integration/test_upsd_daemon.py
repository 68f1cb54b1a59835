"""``appliance run`` on its embedded default and ``appliance upsd`` as a drop-in for NUT's daemon."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.nut_reference import DDL, free_port

ROOT = Path(__file__).resolve().parents[2]
DUMP = DDL / "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"


def appliance(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "appliance", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,  # type: ignore[arg-type]
    )


def request(port: int, *lines: str) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall("".join(line + "\n" for line in lines).encode())
        reader = sock.makefile("r")
        return [reader.readline().rstrip("\n") for _ in lines]


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_embedded_default_serves_a_simulated_ups_with_printed_credentials() -> None:
    port = free_port()
    proc = appliance("run", "--port", str(port), env={"NUT_CONFPATH": ""})
    try:
        assert proc.stdout is not None
        banner = "".join(proc.stdout.readline() for _ in range(3))
        found = re.search(r"admin user (\S+) / (\S+)", banner)
        assert found and "read-only user monuser / secret" in banner, banner
        user, password = found.groups()
        wait_for(lambda: request(port, "GET VAR ups ups.status")[0].startswith('VAR ups ups.status "O'))
        assert request(port, "LIST UPS")[0] == "BEGIN LIST UPS"
        assert request(port, "GET UPSDESC ups") == ['UPSDESC ups "Simulated UPS (appliance default)"']
        assert request(port, f"USERNAME {user}", f"PASSWORD {password}", "SET VAR ups ups.delay.shutdown 42") == [
            "OK",
            "OK",
            "OK",
        ]
        wait_for(lambda: request(port, "GET VAR ups ups.delay.shutdown") == ['VAR ups ups.delay.shutdown "42"'])
        assert request(port, "USERNAME monuser", "PASSWORD secret", "SET VAR ups ups.delay.shutdown 1")[2] == (
            "ERR ACCESS-DENIED"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_upsd_refuses_to_start_without_a_ups(tmp_path: Path) -> None:
    env = {"NUT_CONFPATH": str(tmp_path), "NUT_STATEPATH": str(tmp_path)}
    missing = appliance("upsd", "-F", env=env)
    out, _ = missing.communicate(timeout=20)
    assert missing.returncode == 1 and "ups.conf" in out and "Traceback" not in out
    (tmp_path / "ups.conf").write_text("# nothing yet\n")
    empty = appliance("upsd", "-F", env=env)
    out, _ = empty.communicate(timeout=20)
    assert empty.returncode == 1 and "at least one UPS must be defined" in out
    port = free_port()
    (tmp_path / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nALLOW_NO_DEVICE true\n")
    allowed = appliance("upsd", "-F", env=env)
    try:
        wait_for(lambda: request(port, "LIST UPS") == ["BEGIN LIST UPS"])
    finally:
        allowed.send_signal(signal.SIGTERM)
        assert allowed.wait(timeout=15) == 0


def test_config_error_is_reported_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "ups.conf").write_text("[ups]\n  driver = dummy-ups\n  port = x.dev\n")
    (tmp_path / "upsd.conf").write_text("LISTEN 127.0.0.1 3493\nMAXAGE soon\n")
    proc = appliance("upsd", env={"NUT_CONFPATH": str(tmp_path), "NUT_STATEPATH": str(tmp_path)})
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert f"{tmp_path / 'upsd.conf'}:2: MAXAGE: 'soon' is not a whole number" in out


def test_driver_after_upsd_then_reload_and_stop_through_the_pid_file(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "a.dev").write_bytes(DUMP.read_bytes())
    (tmp_path / "ups.conf").write_text(f"[ups]\n  driver = dummy-ups\n  port = {tmp_path / 'a.dev'}\n")
    (tmp_path / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    env = {"NUT_CONFPATH": str(tmp_path), "NUT_STATEPATH": str(tmp_path)}
    upsd = appliance("upsd", "-FF", env=env)
    driver = None
    try:
        wait_for(lambda: request(port, "GET VAR ups ups.status") == ["ERR DRIVER-NOT-CONNECTED"])
        driver = appliance("driver", "-a", "ups", env=env)
        wait_for(lambda: request(port, "GET VAR ups battery.charge") == ['VAR ups battery.charge "100"'])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as kept:
            # a second UPS appears in ups.conf; SIGHUP (-c reload) adds it without dropping clients
            with (tmp_path / "ups.conf").open("a") as conf:
                conf.write(f'[second]\n  driver = dummy-ups\n  port = {tmp_path / "a.dev"}\n  desc = "Later"\n')
            assert appliance("upsd", "-c", "reload", env=env).wait(timeout=20) == 0
            wait_for(lambda: request(port, "GET UPSDESC second") == ['UPSDESC second "Later"'])
            kept.sendall(b"VER\n")
            assert kept.recv(100).startswith(b"Network UPS Tools upsd")
        assert appliance("upsd", "-c", "stop", env=env).wait(timeout=20) == 0
        assert upsd.wait(timeout=15) == 0
        assert not (tmp_path / "upsd.pid").exists()
    finally:
        for proc in (upsd, driver):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_ipv4_and_ipv6_listeners_and_maxconn(tmp_path: Path) -> None:
    port4, port6 = free_port(), free_port()
    (tmp_path / "a.dev").write_bytes(DUMP.read_bytes())
    (tmp_path / "ups.conf").write_text(f"[ups]\n  driver = dummy-ups\n  port = {tmp_path / 'a.dev'}\n")
    (tmp_path / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port4}\nLISTEN ::1 {port6}\nMAXCONN 3\n")
    env = {"NUT_CONFPATH": str(tmp_path), "NUT_STATEPATH": str(tmp_path)}
    upsd = appliance("upsd", env=env)
    try:
        wait_for(lambda: request(port4, "VER")[0].startswith("Network UPS Tools"))
        with socket.create_connection(("::1", port6), timeout=5) as v6:
            v6.sendall(b"LIST UPS\n")
            assert v6.recv(200).startswith(b"BEGIN LIST UPS\nUPS ups ")
            held = [socket.create_connection(("127.0.0.1", port4), timeout=5) for _ in range(2)]
            for sock in held:  # make sure the server has accepted them
                sock.sendall(b"VER\n")
                sock.recv(100)
            with socket.create_connection(("127.0.0.1", port4), timeout=5) as extra:
                try:  # past MAXCONN: closed at once, unanswered
                    extra.sendall(b"VER\n")
                    assert extra.recv(100) == b""
                except ConnectionResetError:
                    pass
            for sock in held:
                sock.close()
    finally:
        upsd.send_signal(signal.SIGTERM)
        assert upsd.wait(timeout=15) == 0
