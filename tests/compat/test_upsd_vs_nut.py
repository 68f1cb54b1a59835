"""Side by side: Debian's upsd 2.8.0 and ours, fed by the SAME Debian dummy-ups driver socket, must answer the
same conversation with the same bytes, line by line (valid requests and every error we can provoke)."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nut_reference import DDL, HAVE_NUT, NutReference, free_port, start_nut_dummy

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's nut-server is not installed")

ROOT = Path(__file__).resolve().parents[2]
DUMP = DDL / "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"
USERS = {
    "admin": {"password": "secret", "actions": "SET", "instcmds": "ALL"},
    "fsduser": {"password": "f", "actions": "FSD"},
    "monuser": {"password": "monpass", "upsmon": "primary"},
    "viewer": {"password": "look", "upsmon": "secondary"},
    "cmdonly": {"password": "c", "instcmds": "beeper.disable"},
}

# Each conversation runs on a fresh connection to both servers.
CONVERSATIONS: list[list[str]] = [
    ["VER", "NETVER", "PROTVER", "HELP", "ver", "VER extra", "HELP me", "BOGUS", "list"],
    ["LIST UPS", "LIST VAR ups", "list var UPS", "LIST RW ups", "LIST CMD ups", "LIST VAR nope", "LIST VAR"],
    ["LIST ENUM ups ups.mfr", "LIST RANGE ups ups.mfr", "LIST ENUM ups nosuch.var", "LIST ENUM ups", "LIST FOO ups"],
    ["LIST CLIENT ups", "LIST CLIENT nope", "LIST CLIENT"],
    ["GET VAR ups ups.status", "GET VAR ups battery.charge", "GET VAR ups nosuch.var", "GET VAR nope ups.status"],
    ["GET VAR ups server.version", "GET VAR any server.info", "GET VAR ups server.nope", "GET VAR ups"],
    ["GET TYPE ups ups.mfr", "GET TYPE ups battery.charge", "GET TYPE ups nosuch", "GET TYPE nope x"],
    ["GET DESC ups ups.status", "GET DESC ups battery.charge", "GET DESC ups made.up", "GET CMDDESC ups load.off"],
    ["GET CMDDESC ups made.up", "GET UPSDESC ups", "GET UPSDESC nope", "GET NUMLOGINS ups", "GET NUMLOGINS nope"],
    ["GET", "GET FOO ups x", "GET NUMLOGINS", "GET TRACKING", "GET TRACKING abc"],
    ["LOGIN ups", "PRIMARY ups", "FSD ups", "SET VAR ups ups.mfr x", "INSTCMD ups load.off", "MASTER ups"],
    ["USERNAME admin", "LOGIN ups", "USERNAME again", "PASSWORD secret", "PASSWORD again", "LOGIN ups"],
    ["USERNAME admin", "PASSWORD wrong", "LOGIN ups", "SET VAR ups ups.delay.shutdown 30", "INSTCMD ups load.off"],
    ["USERNAME viewer", "PASSWORD look", "LOGIN ups", "LOGIN ups", "PRIMARY ups", "FSD ups", "SET VAR ups x 1"],
    ["USERNAME monuser", "PASSWORD monpass", "LOGIN nope", "LOGIN ups", "GET NUMLOGINS ups", "LIST CLIENT ups"],
    ["USERNAME monuser", "PASSWORD monpass", "PRIMARY ups", "MASTER ups", "PRIMARY nope", "PRIMARY", "LOGIN"],
    ["USERNAME admin", "PASSWORD secret", "SET VAR ups nosuch 1", "SET VAR ups ups.delay.shutdown", "SET VAR"],
    ["USERNAME admin", "PASSWORD secret", "SET VAR nope ups.mfr x", "SET FOO ups", "SET TRACKING MAYBE"],
    ["USERNAME admin", "PASSWORD secret", 'SET VAR ups ups.delay.shutdown "a very long value for a short string"'],
    ["USERNAME admin", "PASSWORD secret", "INSTCMD ups nosuch.cmd", "INSTCMD nope load.off", "INSTCMD ups"],
    ["USERNAME cmdonly", "PASSWORD c", "INSTCMD ups load.off", "SET VAR ups ups.delay.shutdown 20"],
    ["SET TRACKING ON", "GET TRACKING", "GET TRACKING 1234", "SET TRACKING OFF", "GET TRACKING 1234"],
    ["USERNAME fsduser", "PASSWORD f", "FSD nope", "FSD ups", "GET VAR ups ups.status", "LIST VAR ups", "FSD"],
    ["STARTTLS", "LOGOUT extra", "LOGOUT", "VER"],
    ['GET VAR ups "ups.status"', "GET VAR ups ups.status # comment", 'GET VAR ups "ups#status"', "GET VAR ups x"],
    ["", "   ", "\t", "GET  VAR   ups   ups.mfr"],
]


class Conversation:
    """A raw line-based connection; :func:`exchange` talks on several at once."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.data = b""
        self.closed = False

    def send(self, line: str) -> None:
        """Send one request line (nothing once the server hung up)."""
        try:
            self.sock.sendall(line.encode() + b"\n")
        except OSError:  # the server closed the connection (after LOGOUT)
            self.closed = True

    def receive(self) -> None:
        """Read what has arrived (the socket is readable)."""
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:  # closed after LOGOUT with a request of ours still unread
            chunk = b""
        self.data += chunk
        self.closed = not chunk

    def has_whole_reply(self) -> bool:
        """A whole line arrived, and the END LIST of a BEGIN LIST (or the server hung up)."""
        if self.closed:
            return True
        if not self.data.endswith(b"\n"):
            return False
        lines = self.data.splitlines()
        return not lines[0].startswith(b"BEGIN LIST") or lines[-1].startswith(b"END LIST")

    def take(self) -> list[str]:
        """The lines read so far."""
        data, self.data = self.data, b""
        return data.decode("latin-1").splitlines()

    def close(self) -> None:
        self.sock.close()


def exchange(conversations: list[Conversation], request: str | None, wait: float = 2.0) -> list[list[str]]:
    """Send ``request`` on every conversation at once and read until each has a whole reply, or until ``wait``
    seconds passed for those without one (a request some server does not answer). ``None`` sends nothing and
    gathers whatever arrives within ``wait``."""
    for conversation in conversations:
        if request is not None and not conversation.closed:
            conversation.send(request)
    deadline = time.monotonic() + wait
    pending = list(conversations)
    while pending and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([c.sock for c in pending], [], [], left)
        for conversation in pending:
            if conversation.sock in readable:
                conversation.receive()
        pending = [c for c in pending if not (c.closed or (request is not None and c.has_whole_reply()))]
    return [conversation.take() for conversation in conversations]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NutReference, int]]:
    tmp = tmp_path_factory.mktemp("side-by-side")
    nut = start_nut_dummy(tmp / "nut", DUMP, users=USERS, desc="Side by side")
    ours_dir = tmp / "ours"
    ours_dir.mkdir()
    port = free_port()
    (ours_dir / "ups.conf").write_text((nut.workdir / "ups.conf").read_text())
    (ours_dir / "upsd.users").write_text((nut.workdir / "upsd.users").read_text())
    (ours_dir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    env = {**os.environ, "NUT_CONFPATH": str(ours_dir), "NUT_STATEPATH": str(nut.workdir)}
    log = (ours_dir / "upsd.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "upsd", "-F"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                probe = Conversation(port)
                [reply] = exchange([probe], "GET VAR ups ups.status")
                probe.close()
                if reply and reply[0].startswith("VAR") and "WAIT" not in reply[0]:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (ours_dir / "upsd.log").read_text()
            time.sleep(0.1)
        yield nut, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        nut.stop()


def _normalise(lines: list[str]) -> list[str]:
    # Tracking ids are random UUIDs on both sides.
    return [" ".join("<uuid>" if len(w) == 36 and w.count("-") == 4 else w for w in line.split(" ")) for line in lines]


@pytest.mark.parametrize("script", CONVERSATIONS, ids=[c[0] or "blank" for c in CONVERSATIONS])
def test_same_conversation_same_replies(servers: tuple[NutReference, int], script: list[str]) -> None:
    nut, our_port = servers
    theirs, ours = Conversation(nut.port), Conversation(our_port)
    try:
        for request in script:
            expected, got = map(_normalise, exchange([theirs, ours], request))
            assert got == expected, f"request {request!r}"
        # Anything a server sent after its whole reply came with the next request's; after the last one, wait.
        expected, got = exchange([theirs, ours], None, wait=0.3)
        assert got == expected, "after the last request"
    finally:
        theirs.close()
        ours.close()
