"""Benchmark: how fast a power failure reaches the monitors — NUT 2.8.0's upsmon against ours, same run.

Each trial starts a fresh stack on loopback: a UPS on mains, a primary monitor on the UPS's host and three
secondaries, all with NUT's default POLLFREQ (5 s). Then the UPS goes ``OB LB`` (set through upsd, as a driver
would report it) and the benchmark records:

- **primary latency**: from the status change to the primary's LOWBATT notification (NOTIFYCMD timestamp);
- **secondaries down**: from the status change to the last secondary's SHUTDOWNCMD (timestamps), i.e. FSD set by
  the primary and picked up by every secondary on its next poll.

NUT stack: Debian's dummy-ups, upsd and upsmon (each upsmon in its own mount namespace for /run/nut). Our stack:
``appliance run`` (our dummy-ups and upsd) and ``appliance monitor``; our primary is woken by the local driver
socket, secondaries on other hosts poll like NUT's. Trials alternate between the stacks.

    .venv/bin/python bench/shutdown.py [--trials 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.nut_reference import DDL, free_port, start_nut_dummy, upsd_serves  # noqa: E402

DUMP = DDL / "APC/APC__Smart-UPS_1000__usbhid-ups__2.6.0__01.dev"
USERS = {
    "admin": {"password": "secret", "actions": "SET"},
    "boss": {"password": "b", "upsmon": "primary"},
    "mon": {"password": "m", "upsmon": "secondary"},
}
SECONDARIES = 3
APPLIANCE = ROOT / ".venv/bin/appliance"


def monitor_conf(directory: Path, monitor: str) -> Path:
    """A upsmon.conf with NUT's default poll interval, a timestamping NOTIFYCMD and SHUTDOWNCMD."""
    directory.mkdir(parents=True, exist_ok=True)
    notify = directory / "notify.sh"
    notify.write_text(f'#!/bin/sh\necho "$NOTIFYTYPE $(date +%s.%N)" >> {directory / "notices"}\n')
    notify.chmod(0o755)
    conf = directory / "upsmon.conf"
    conf.write_text(
        f"MONITOR {monitor}\nSHUTDOWNCMD \"/bin/sh -c 'date +%s.%N > {directory / 'down'}'\"\n"
        f"NOTIFYCMD {notify}\nNOTIFYFLAG LOWBATT SYSLOG+EXEC\n"
        "POLLFREQ 5\nPOLLFREQALERT 5\nHOSTSYNC 15\nFINALDELAY 0\nDEADTIME 15\n"
    )
    conf.chmod(0o600)
    return directory


def start_upsmon(directory: Path, ours: bool, statepath: Path) -> subprocess.Popen[bytes]:
    """One monitor: ours, or Debian's upsmon in a private mount namespace (it insists on /run/nut)."""
    env = {**os.environ, "NUT_CONFPATH": str(directory), "NUT_STATEPATH": str(statepath)}
    log = (directory / "log").open("wb")
    if ours:
        env["NUT_ALTPIDPATH"] = str(directory)
        argv = [str(APPLIANCE), "monitor"]
    else:
        argv = ["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /run/nut && exec /lib/nut/upsmon -F -u root"]
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def logins(port: int) -> int:
    """How many monitors are logged into ``ups``."""
    out = subprocess.run(["upsc", "-c", f"ups@127.0.0.1:{port}"], capture_output=True, text=True).stdout
    return len(out.split())


def stamped(path: Path) -> bool:
    """True once ``path`` holds a whole timestamp line (the shell creates the file before writing it)."""
    try:
        return path.read_text().endswith("\n")
    except OSError:
        return False


def wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_our_stack(workdir: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """``appliance run`` on a free port: our dummy-ups on the same dump, our upsd."""
    conf, port = workdir / "conf", free_port()
    state = conf / "state"
    state.mkdir(parents=True)
    (conf / "ups.conf").write_text(f"[ups]\n  driver = dummy-ups\n  port = {DUMP}\n")
    (conf / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    (conf / "upsd.users").write_text(
        "".join(
            f"[{user}]\n" + "".join(f"  {k} = {v}\n" for k, v in spec.items()) for user, spec in USERS.items()
        ).replace("  upsmon = ", "  upsmon ")
    )
    env = {**os.environ, "NUT_STATEPATH": str(state), "NUT_ALTPIDPATH": str(state)}
    proc = subprocess.Popen(
        [str(APPLIANCE), "run", "--config-dir", str(conf)], env=env, stdout=(workdir / "run.log").open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    wait(lambda: upsd_serves(port, ["ups"]), 20, "our upsd")
    return proc, port, state


def trial(workdir: Path, ours: bool) -> tuple[float, float]:
    """One power failure; returns (primary latency, secondaries down) in seconds."""
    procs: list[subprocess.Popen[bytes]] = []
    nut = None
    try:
        if ours:
            run, port, state = start_our_stack(workdir)
            procs.append(run)
        else:
            nut = start_nut_dummy(workdir / "nut", DUMP, users=USERS)
            port, state = nut.port, nut.workdir
        address = f"ups@127.0.0.1:{port}"
        primary = monitor_conf(workdir / "primary", f"{address} 1 boss b primary")
        procs.append(start_upsmon(primary, ours, state))
        secondaries = [
            monitor_conf(workdir / f"secondary{i}", f"{address} 1 mon m secondary") for i in range(SECONDARIES)
        ]
        procs += [start_upsmon(s, ours, workdir / "nowhere") for s in secondaries]
        wait(lambda: logins(port) == SECONDARIES + 1, 30, "every monitor to log in")
        time.sleep(1)  # let the first polls pass
        started = time.time()
        subprocess.run(
            ["upsrw", "-s", "ups.status=OB LB", "-u", "admin", "-p", "secret", address], check=True,
            capture_output=True, timeout=20,
        )  # fmt: skip
        notices = primary / "notices"
        wait(lambda: notices.exists() and "LOWBATT" in notices.read_text(), 30, "the primary's LOWBATT")
        wait(lambda: all(stamped(s / "down") for s in secondaries), 60, "every secondary to shut down")
        lowbatt = float(notices.read_text().split("LOWBATT ")[1].split()[0])
        last_down = max(float((s / "down").read_text()) for s in secondaries)
        return lowbatt - started, last_down - started
    finally:
        for proc in procs:
            with_group_killed(proc)
        if nut is not None:
            nut.stop()


def with_group_killed(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, with whatever it started."""
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


def main() -> int:
    """Run the trials and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.trials):
            for ours in (False, True):
                workdir = Path(tmp) / f"{'ours' if ours else 'nut'}{number}"
                results[ours].append(trial(workdir, ours))
    print(f"{args.trials} trials each, POLLFREQ 5 (NUT's default), 1 primary + {SECONDARIES} secondaries on loopback")
    print(f"{'':<34} {'NUT 2.8.0':>10} {'ours':>10} {'ratio':>8}")
    for index, label in ((0, "status change -> primary LOWBATT"), (1, "status change -> secondaries down")):
        nut = statistics.median(r[index] for r in results[False])
        ours = statistics.median(r[index] for r in results[True])
        print(f"{label:<34} {nut * 1000:>8.0f}ms {ours * 1000:>8.0f}ms {nut / ours:>7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
