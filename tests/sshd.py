"""A real OpenSSH server (Debian's sshd) for tests: its own host key, root login with one client key."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


@dataclass
class SshServer:
    """A configured sshd: start it with :meth:`argv` (in any network namespace)."""

    dir: Path
    address: str
    port: int

    @property
    def client_key(self) -> Path:
        return self.dir / "client_key"

    @property
    def pid_file(self) -> Path:
        return self.dir / "sshd.pid"

    def argv(self) -> list[str]:
        return [str(SSHD), "-D", "-e", "-f", str(self.dir / "sshd_config")]

    def wait_started(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.pid_file.exists():
            assert time.monotonic() < deadline, "sshd did not start"
            time.sleep(0.05)

    def kill_command(self) -> str:
        """A shell command that stops the listening daemon (the host "goes down"; sessions go on)."""
        return f"kill $(cat {self.pid_file})"


def configure_sshd(directory: Path, address: str, port: int) -> SshServer:
    """Make host and client keys and an sshd_config in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / name)], check=True, timeout=30
        )
    shutil.copy(directory / "client_key.pub", directory / "authorized_keys")
    server = SshServer(directory, address, port)
    (directory / "sshd_config").write_text(
        f"ListenAddress {address}\nPort {port}\nHostKey {directory / 'host_key'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\nPidFile {server.pid_file}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    return server
