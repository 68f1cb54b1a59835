"""Our whole stack (``appliance run``: our dummy-ups + our upsd) against real clients: Debian's upsc, upsrw,
upscmd and upsmon, PyNUTClient, aionut, a TLS client that verifies the certificate, and abusive peers."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.nut_reference import DDL, HAVE_NUT, free_port, upsd_serves

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's nut-client is not installed")

ROOT = Path(__file__).resolve().parents[2]
DUMP = DDL / "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"
USERS = """[admin]
  password = secret
  actions = SET
  actions = FSD
  instcmds = ALL
[monuser]
  password = secret
  upsmon secondary
[primary]
  password = pri
  upsmon primary
"""


@dataclass
class Stack:
    """A running ``appliance run`` on its own config dir and port."""

    confdir: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"ups@127.0.0.1:{self.port}"


def _wait_serving(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not upsd_serves(port, ["ups"]):
        assert time.monotonic() < deadline, f"our stack is not serving on port {port}"
        time.sleep(0.1)


def start_stack(confdir: Path, extra_upsd_conf: str = "", extra_ups_conf: str = "") -> Stack:
    confdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (confdir / "ups.dev").write_bytes(DUMP.read_bytes())
    (confdir / "ups.conf").write_text(
        f'[ups]\n  driver = dummy-ups\n  port = {confdir / "ups.dev"}\n  desc = "Rack"\n{extra_ups_conf}'
    )
    (confdir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n{extra_upsd_conf}")
    (confdir / "upsd.users").write_text(USERS)
    env = {**os.environ, "NUT_CONFPATH": str(confdir), "NUT_STATEPATH": str(confdir)}
    log = (confdir / "run.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "run"], env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        _wait_serving(port)
    except AssertionError:
        proc.kill()
        raise AssertionError((confdir / "run.log").read_text()) from None
    return Stack(confdir, port, proc)


def stop_stack(stack: Stack) -> int:
    stack.proc.send_signal(signal.SIGTERM)
    return stack.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    assert stop_stack(running) == 0


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=30)


def test_debian_upsc_reads_everything(stack: Stack) -> None:
    out = run("upsc", stack.address).stdout
    assert "device.model: Smart-UPS 1000" in out or "ups.model: Smart-UPS 1000" in out
    assert run("upsc", stack.address, "ups.status").stdout.strip().startswith("OL")
    assert run("upsc", "-L", f"127.0.0.1:{stack.port}").stdout.strip() == "ups: Rack"
    missing = run("upsc", f"nope@127.0.0.1:{stack.port}")
    assert missing.returncode == 1 and "Error: Unknown UPS" in missing.stderr


def test_debian_upsrw_and_upscmd_with_tracking(stack: Stack) -> None:
    changed = run("upsrw", "-s", "ups.delay.shutdown=77", "-u", "admin", "-p", "secret", "-w", stack.address)
    assert changed.returncode == 0 and "SUCCESS" in changed.stdout + changed.stderr
    assert run("upsc", stack.address, "ups.delay.shutdown").stdout.strip() == "77"
    commands = run("upscmd", "-l", stack.address).stdout
    assert "load.off" in commands
    done = run("upscmd", "-u", "admin", "-p", "secret", "-w", stack.address, "load.off")
    assert done.returncode == 0 and "SUCCESS" in done.stdout + done.stderr
    denied = run("upsrw", "-s", "ups.delay.shutdown=5", "-u", "monuser", "-p", "secret", stack.address)
    assert denied.returncode != 0 and "ERR ACCESS-DENIED" in denied.stderr


def test_pynutclient_and_aionut(stack: Stack) -> None:
    import aionut  # type: ignore[import-not-found]
    from PyNUTClient.PyNUT import PyNUTClient

    client = PyNUTClient(host="127.0.0.1", port=stack.port, login="admin", password="secret")
    assert client.GetUPSList()[b"ups"] == b"Rack"
    assert client.GetUPSVars("ups")[b"battery.charge"] == b"100"

    async def scenario() -> dict[str, str]:
        nut = aionut.AIONUTClient(host="127.0.0.1", port=stack.port, username="monuser", password="secret")
        try:
            return await nut.list_vars("ups")
        finally:
            nut.shutdown()

    assert asyncio.run(scenario())["ups.status"].startswith("OL")


def test_synology_convention_and_debian_upsmon_secondary_sees_fsd(stack: Stack, tmp_path: Path) -> None:
    marker = tmp_path / "shutdown-ran"
    notes = tmp_path / "notify.log"
    conf = tmp_path / "upsmon.conf"
    conf.write_text(
        f"MONITOR {stack.address} 1 monuser secret secondary\n"
        f'SHUTDOWNCMD "/bin/touch {marker}"\nNOTIFYCMD "/bin/sh -c \'echo $NOTIFYTYPE >> {notes}\'"\n'
        "NOTIFYFLAG FSD SYSLOG+EXEC\nNOTIFYFLAG SHUTDOWN SYSLOG+EXEC\nPOLLFREQ 1\nPOLLFREQALERT 1\nFINALDELAY 0\n"
    )
    conf.chmod(0o600)
    env = {**os.environ, "NUT_CONFPATH": str(tmp_path), "NUT_STATEPATH": str(tmp_path)}
    script = "mount -t tmpfs tmpfs /run/nut && exec /lib/nut/upsmon -F -u root"
    upsmon = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        while "127.0.0.1" not in run("upsc", "-c", stack.address).stdout:
            assert time.monotonic() < deadline, "upsmon never logged in"
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", stack.port)) as sock:
            sock.sendall(b"USERNAME primary\nPASSWORD pri\nLOGIN ups\nPRIMARY ups\nFSD ups\n")
            reader = sock.makefile("rb")
            assert [reader.readline() for _ in range(5)][-1] == b"OK FSD-SET\n"
            deadline = time.monotonic() + 20
            while not marker.exists():
                assert time.monotonic() < deadline, "the secondary never ran SHUTDOWNCMD"
                time.sleep(0.2)
        assert run("upsc", stack.address, "ups.status").stdout.startswith("FSD")
        assert "FSD" in notes.read_text()
    finally:
        upsmon.terminate()
        upsmon.wait(timeout=10)


def test_tls_with_a_verified_self_signed_certificate(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "upsd.pem").write_text(cert.read_text() + key.read_text())
    stack = start_stack(tmp_path / "conf", f"CERTFILE {tmp_path / 'upsd.pem'}\n")
    try:
        context = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", stack.port)) as raw:
            raw.sendall(b"STARTTLS\n")
            assert raw.recv(100) == b"OK STARTTLS\n"
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET VAR ups ups.mfr\nSTARTTLS\n")
                reader = tls.makefile("rb")
                assert reader.readline() == b'VAR ups ups.mfr "American Power Conversion"\n'
                assert reader.readline() == b"ERR ALREADY-SSL-MODE\n"
        wrong = ssl.create_default_context()  # the system CAs do not know our certificate
        with socket.create_connection(("127.0.0.1", stack.port)) as raw:
            raw.sendall(b"STARTTLS\n")
            raw.recv(100)
            with pytest.raises(ssl.SSLCertVerificationError):
                wrong.wrap_socket(raw, server_hostname="localhost")
    finally:
        assert stop_stack(stack) == 0


def test_abusive_connections_leave_a_good_client_served(stack: Stack) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    abusers: list[socket.socket] = []
    try:
        for i in range(1000):
            sock = socket.create_connection(("127.0.0.1", stack.port))
            kind = i % 4
            if kind == 0:
                sock.sendall(b"GET VAR ups ups.status\n" * 200)  # flood, never read (slow reader)
            elif kind == 1:
                sock.sendall(b"A" * 20000)  # over-long line: must be cut off
            elif kind == 2:
                sock.sendall(bytes(range(256)) * 4)  # binary garbage
            abusers.append(sock)  # kind 3: half-open, silent
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as good:
            for _ in range(20):
                good.sendall(b"GET VAR ups battery.charge\n")
                assert good.recv(200) == b'VAR ups battery.charge "100"\n'
        assert time.monotonic() - start < 3.0
    finally:
        for sock in abusers:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert stack.proc.poll() is None
