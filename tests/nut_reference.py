"""Debian's real NUT 2.8.0 server as a test peer: ``/lib/nut/upsd`` fed by ``/lib/nut/dummy-ups``.

Usage (any test, any helper)::

    from tests.nut_reference import start_nut_dummy, ADMIN

    def test_something(tmp_path):
        with start_nut_dummy(tmp_path, DDL / "APC/some.dev") as nut:
            ...  # talk to nut.host:nut.port; the UPS is called nut.ups ("ups" unless you said otherwise)

:func:`start_nut_dummy` writes ups.conf, upsd.conf (``LISTEN 127.0.0.1 <free port>``) and upsd.users into
``tmp_path``, starts one dummy-ups per device file and upsd (both ``-F -u root``, with ``NUT_CONFPATH`` and
``NUT_STATEPATH`` set to ``tmp_path``), and returns once upsd answers ``LIST VAR`` for every UPS. The returned
:class:`NutReference` stops exactly the processes it started (by pid) on :meth:`NutReference.stop` or when its
``with`` block ends; :meth:`NutReference.stop_driver` stops only the drivers (upsd then says
``DRIVER-NOT-CONNECTED``). Process output goes to ``tmp_path/<name>.log``; a start failure raises with that log.

Default accounts (:data:`DEFAULT_USERS`): ``admin``/``secret`` (``actions = SET``, ``instcmds = ALL``) and
``monuser``/``monpass`` (``upsmon primary``). Pass ``users=`` to use your own upsd.users sections.

The module is skipped-safe: :data:`HAVE_NUT` says whether the binaries exist; tests should
``pytest.mark.skipif(not HAVE_NUT, ...)``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

UPSD = "/lib/nut/upsd"
DUMMY_UPS = "/lib/nut/dummy-ups"
HAVE_NUT = os.access(UPSD, os.X_OK) and os.access(DUMMY_UPS, os.X_OK)
# shared/ sits beside the checkout (../shared from the repo root), on developers' machines and in CI.
DDL = Path(__file__).resolve().parents[2] / "shared" / "ddl"

ADMIN = ("admin", "secret")
MONITOR = ("monuser", "monpass")
DEFAULT_USERS: dict[str, dict[str, str]] = {
    ADMIN[0]: {"password": ADMIN[1], "actions": "SET", "instcmds": "ALL"},
    MONITOR[0]: {"password": MONITOR[1], "upsmon": "primary"},
}
START_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, release)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class NutReference:
    """A running Debian upsd + dummy-ups set; stop it with :meth:`stop` (idempotent) or a ``with`` block."""

    host: str
    port: int
    ups: str
    workdir: Path
    upsd: subprocess.Popen[bytes] | None = None
    drivers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """Environment for running other NUT binaries against this config (NUT_CONFPATH, NUT_STATEPATH)."""
        return {**os.environ, "NUT_CONFPATH": str(self.workdir), "NUT_STATEPATH": str(self.workdir)}

    def address(self, ups: str | None = None) -> str:
        """``ups@127.0.0.1:port`` for the command-line tools."""
        return f"{ups or self.ups}@{self.host}:{self.port}"

    @property
    def pids(self) -> list[int]:
        """Pids of the processes this reference started and that still run."""
        return [p.pid for p in [*self.drivers, self.upsd] if p is not None and p.poll() is None]

    def stop_driver(self) -> None:
        """Stop the dummy-ups drivers only (upsd keeps running and reports the driver gone)."""
        for proc in self.drivers:
            _stop(proc)

    def stop(self) -> None:
        """Stop upsd and the drivers started here, by pid, waiting for each to exit."""
        if self.upsd is not None:
            _stop(self.upsd)
        self.stop_driver()

    def __enter__(self) -> NutReference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def debian_upsd(confdir: Path) -> Iterator[int]:
    """Debian's upsd on a free loopback port (MAXAGE 5), reading ``confdir`` and its drivers' sockets; yields the
    port. ups.conf and upsd.users must already be in ``confdir``."""
    port = free_port()
    (confdir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nMAXAGE 5\n")
    env = {"NUT_CONFPATH": str(confdir), "NUT_STATEPATH": str(confdir), "PATH": "/usr/bin:/bin"}
    with (confdir / "upsd.log").open("wb") as log:
        proc = subprocess.Popen([UPSD, "-F", "-u", "root"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield port
    finally:
        _stop(proc)


def _section(name: str, values: Mapping[str, str]) -> str:
    lines = [f"[{name}]"] + [f'  {key} = "{value}"' for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _log_tail(workdir: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in workdir.glob("*.log"))


def _wait_until(check: Callable[[], bool], deadline: float, what: str, workdir: Path) -> None:
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"NUT reference: {what} not ready after {START_TIMEOUT}s\n{_log_tail(workdir)}")


def upsd_serves(port: int, upses: list[str]) -> bool:
    """True once upsd has every driver's full dump (upsd shows ``ups.status: WAIT`` until DUMPDONE)."""
    for ups in upses:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET VAR {ups} ups.status\n".encode())
                reply = sock.makefile("rb").readline()
        except OSError:
            return False
        if not reply.startswith(b"VAR ") or reply.rstrip().endswith(b'"WAIT"'):
            return False
    return True


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def start_nut_dummy(
    tmp_path: Path,
    dev_file: str | Path | Mapping[str, str | Path],
    users: Mapping[str, Mapping[str, str]] = DEFAULT_USERS,
    ups: str = "ups",
    desc: str | None = None,
) -> NutReference:
    """Start Debian's dummy-ups (one per device) and upsd in ``tmp_path``; see the module docstring.

    ``dev_file`` is one dump (served as ``ups``, or the name given by ``ups``) or {ups name: dump} for several.
    ``desc`` becomes ups.conf's ``desc`` for every UPS (what ``upsc -L`` shows).
    """
    if not HAVE_NUT:
        raise RuntimeError(f"NUT reference binaries missing: {UPSD}, {DUMMY_UPS}")
    devices = dict(dev_file) if isinstance(dev_file, Mapping) else {ups: dev_file}
    workdir = Path(tmp_path)
    workdir.mkdir(parents=True, exist_ok=True)
    ups_conf = []
    for name, path in devices.items():
        local = workdir / f"{name}{Path(path).suffix or '.dev'}"
        shutil.copyfile(path, local)
        values = {"driver": "dummy-ups", "port": str(local.resolve())}
        if desc is not None:
            values["desc"] = desc
        ups_conf.append(_section(name, values))
    port = free_port()
    _write(workdir / "ups.conf", "\n".join(ups_conf))
    _write(workdir / "upsd.conf", f"LISTEN 127.0.0.1 {port}\n")
    _write(workdir / "upsd.users", "\n".join(_section(name, values) for name, values in users.items()))
    reference = NutReference("127.0.0.1", port, next(iter(devices)), workdir)
    env = reference.env
    deadline = time.monotonic() + START_TIMEOUT
    try:
        for name in devices:
            reference.drivers.append(
                _spawn([DUMMY_UPS, "-a", name, "-u", "root", "-F"], env, workdir / f"dummy-ups-{name}.log")
            )
            _wait_until((workdir / f"dummy-ups-{name}").exists, deadline, f"dummy-ups {name}", workdir)
        reference.upsd = _spawn([UPSD, "-u", "root", "-F"], env, workdir / "upsd.log")
        _wait_until(lambda: upsd_serves(port, list(devices)), deadline, "upsd", workdir)
    except BaseException:
        reference.stop()
        raise
    return reference


def start_nut_dummies(
    workdir: Path,
    dev_files: list[str | Path],
    users: Mapping[str, Mapping[str, str]] = DEFAULT_USERS,
    desc: str | None = None,
) -> list[NutReference]:
    """One independent reference per dump (in ``workdir/0``, ``workdir/1``...), started side by side.

    NUT takes two seconds to start whatever the machine (dummy-ups sleeps a second before it makes its socket,
    upsd a second more before it serves): a module wanting several starts them all at once.
    """
    with ThreadPoolExecutor(max(len(dev_files), 1)) as pool:
        starts = [
            pool.submit(start_nut_dummy, workdir / str(n), dev_file, users, desc=desc)
            for n, dev_file in enumerate(dev_files)
        ]
    references = [start.result() for start in starts if start.exception() is None]
    failures = [error for start in starts if (error := start.exception()) is not None]
    if failures:
        for reference in references:
            reference.stop()
        raise failures[0]
    return references


def ddl_dumps(*patterns: str) -> list[Path]:
    """Device dumps from the shared DDL matching glob ``patterns`` (relative to the DDL root), sorted."""
    found: set[Path] = set()
    for pattern in patterns:
        found.update(DDL.glob(pattern))
    return sorted(found)
