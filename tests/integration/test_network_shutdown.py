"""Network-wide shutdown across real hosts: network namespaces made by the test, joined to the appliance by veth.

The appliance namespace runs ``appliance run`` (our dummy-ups replaying a power failure from a .seq, and upsd on
port 3493) and ``appliance monitor`` as primary. Three namespaces run Debian's upsmon 2.8.0 as secondaries, one
runs our monitor as a secondary, and one runs Debian's OpenSSH server as a host without NUT, listed in the
primary's appliance.toml. Every SHUTDOWNCMD and the SSH command write a timestamp, so the test can check the order:
every secondary down, then the SSH host, then killpower (the primary's SHUTDOWNCMD runs the killpower hook, as the
end of its own shutdown would). Variants: upsd dies mid-outage, a secondary loses the network, and the power
returns while the primary waits for its secondaries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.nut_reference import HAVE_NUT
from tests.sshd import SSHD, SshServer, configure_sshd

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "systemd/system-shutdown/appliance-killpower"
VENV_BIN = Path(sys.executable).parent
HOSTS = ("s1", "s2", "s3", "ours", "ssh")  # s1-s3: Debian upsmon; ours: appliance monitor; ssh: OpenSSH, no NUT
HOSTSYNC = 8

pytestmark = [
    pytest.mark.skipif(not HAVE_NUT, reason="Debian's NUT is not installed"),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="network namespaces need root and ip"),
    pytest.mark.skipif(not SSHD.exists(), reason="Debian's openssh-server is not installed"),
]


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@dataclass
class Network:
    """The namespaces: ``app`` at 10.77.N.1 on link N, host N at 10.77.N.2."""

    prefix: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    @staticmethod
    def address(host: str) -> str:
        return f"10.77.{HOSTS.index(host) + 1}.2"

    @staticmethod
    def appliance_address(host: str) -> str:
        return f"10.77.{HOSTS.index(host) + 1}.1"

    def spawn(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside namespace ``name``, output to ``log``."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(name), *argv],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def run(self, name: str, *argv: str) -> str:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(name), *argv], capture_output=True, text=True, timeout=20
        ).stdout

    def link(self, host: str, up: bool) -> None:
        sh("ip", "-n", self.ns(host), "link", "set", "eth0", "up" if up else "down")

    def stop_all(self) -> None:
        """Stop every process the test started, with the children they left (each has its own session)."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    net = Network(f"nt{os.getpid()}")
    try:
        sh("ip", "netns", "add", net.ns("app"))
        sh("ip", "-n", net.ns("app"), "link", "set", "lo", "up")
        for number, host in enumerate(HOSTS, start=1):
            sh("ip", "netns", "add", net.ns(host))
            sh("ip", "-n", net.ns(host), "link", "set", "lo", "up")
            sh(
                "ip", "link", "add", f"l{number}", "netns", net.ns("app"), "type", "veth",
                "peer", "name", "eth0", "netns", net.ns(host),
            )  # fmt: skip
            sh("ip", "-n", net.ns("app"), "addr", "add", f"10.77.{number}.1/24", "dev", f"l{number}")
            sh("ip", "-n", net.ns(host), "addr", "add", f"10.77.{number}.2/24", "dev", "eth0")
            sh("ip", "-n", net.ns("app"), "link", "set", f"l{number}", "up")
            net.link(host, up=True)
        yield net
    finally:
        net.stop_all()
        for name in ("app", *HOSTS):
            subprocess.run(["ip", "netns", "del", net.ns(name)], capture_output=True)


def stamp(path: Path) -> str:
    """A shell command writing the time (seconds since the epoch) to ``path``."""
    return f"date +%s.%N > {path}"


def read_stamp(path: Path) -> float:
    """The time in a marker; the shell creates the file before it writes the line, so wait for the newline."""
    wait_for(lambda: path.exists() and path.read_text().endswith("\n"), 5, f"a whole line in {path}")
    return float(path.read_text())


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class Outage:
    """One scenario's files: markers of who shut down when."""

    dir: Path

    def marker(self, host: str) -> Path:
        return self.dir / f"{host}.down"


# The mains is on until the test rewrites power.seq (dummy-ups then plays the new file from its start).
ON_LINE = "ups.status: OL\nTIMER 3600\n"
SEQ_FAILURE = "ups.status: OB DISCHRG\nTIMER 3\nups.status: OB DISCHRG LB\nTIMER 3600\n"


def power_seq(outage: Outage) -> Path:
    """The file our dummy-ups plays on the appliance."""
    return outage.dir.parent / "appliance" / "power.seq"


def cut_the_power(outage: Outage, seq: str) -> None:
    """Start the outage ``seq`` now, once every host is up and logged in (the driver sees it at its next poll)."""
    power_seq(outage).write_text(seq)


def start_appliance(net: Network, outage: Outage) -> subprocess.Popen[bytes]:
    conf = power_seq(outage).parent
    state = conf / "state"
    state.mkdir(parents=True)
    power_seq(outage).write_text(ON_LINE)
    (conf / "ups.conf").write_text(f"[ups]\n  driver = dummy-ups\n  port = {conf / 'power.seq'}\n  mode = dummy-once\n")
    (conf / "upsd.conf").write_text("LISTEN 0.0.0.0 3493\n")
    (conf / "upsd.users").write_text(
        "[boss]\n  password = b\n  upsmon primary\n[mon]\n  password = m\n  upsmon secondary\n"
    )
    env = {**os.environ, "NUT_STATEPATH": str(state), "NUT_ALTPIDPATH": str(state)}
    run_log = outage.dir.parent / "run.log"
    proc = net.spawn("app", [str(VENV_BIN / "appliance"), "run", "--config-dir", str(conf)], env, run_log)
    wait_for(lambda: "ups.status" in net.run("app", "upsc", "ups@localhost"), 20, "our upsd")
    return proc


def upsmon_conf(monitor: str, outage: Outage, host: str) -> str:
    return (
        f"MONITOR {monitor}\nSHUTDOWNCMD \"/bin/sh -c '{stamp(outage.marker(host))}'\"\n"
        "POLLFREQ 1\nPOLLFREQALERT 1\nDEADTIME 3\nFINALDELAY 0\nHOSTSYNC 8\n"
    )


def start_debian_secondary(net: Network, outage: Outage, host: str) -> None:
    conf = outage.dir / host
    conf.mkdir()
    upsmon = conf / "upsmon.conf"
    upsmon.write_text(upsmon_conf(f"ups@{net.appliance_address(host)} 1 mon m secondary", outage, host))
    upsmon.chmod(0o600)
    env = {**os.environ, "NUT_CONFPATH": str(conf), "NUT_STATEPATH": str(conf)}
    script = "mount -t tmpfs tmpfs /run/nut && exec /lib/nut/upsmon -F -u root"
    net.spawn(host, ["unshare", "-m", "--propagation", "private", "sh", "-c", script], env, conf / "log")


def start_our_monitor(net: Network, outage: Outage, host: str, monitor: str, extra: str = "") -> None:
    conf = outage.dir / host
    conf.mkdir(exist_ok=True)
    (conf / "upsmon.conf").write_text(upsmon_conf(monitor, outage, host) + extra)
    env = {**os.environ, "NUT_CONFPATH": str(conf), "NUT_STATEPATH": str(conf), "NUT_ALTPIDPATH": str(conf)}
    net.spawn(host, [str(VENV_BIN / "appliance"), "monitor"], env, conf / "log")


def start_sshd(net: Network, outage: Outage) -> SshServer:
    """Debian's sshd on the ssh host, root login with a key."""
    server = configure_sshd(outage.dir / "sshd", net.address("ssh"), 22)
    net.spawn("ssh", server.argv(), dict(os.environ), server.dir / "log")
    server.wait_started()
    return server


def start_primary(net: Network, outage: Outage, ssh: SshServer, conf: Path) -> None:
    """Our primary monitor on the appliance (config beside ups.conf, as in its /etc/nut), with the SSH host in
    appliance.toml and the killpower hook at the end of its SHUTDOWNCMD."""
    killpower = outage.dir / "killpower"
    shutdowncmd = f"{stamp(outage.marker('primary'))}; {HOOK} poweroff > {killpower}.log 2>&1; {stamp(killpower)}"
    (conf / "upsmon.conf").write_text(
        f"MONITOR ups@localhost 1 boss b primary\nSHUTDOWNCMD \"/bin/sh -c '{shutdowncmd}'\"\n"
        f"POWERDOWNFLAG {outage.dir / 'appliance-flag'}\n"
        f"POLLFREQ 5\nPOLLFREQALERT 1\nDEADTIME 3\nFINALDELAY 0\nHOSTSYNC {HOSTSYNC}\n"
    )
    ssh_command = f"{stamp(outage.marker('ssh'))}; {ssh.kill_command()}"
    (conf / "appliance.toml").write_text(
        "[[shutdown.host]]\n"
        f'name = "fileserver"\nmethod = "ssh"\naddress = "{net.address("ssh")}"\nuser = "root"\n'
        f'key = "{ssh.client_key}"\ncommand = "{ssh_command}"\ntimeout = 10\nconfirm_timeout = 10\n'
    )
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "NUT_CONFPATH": str(conf),
        "NUT_STATEPATH": str(conf / "state"),
        "NUT_ALTPIDPATH": str(conf / "state"),
    }
    net.spawn("app", [str(VENV_BIN / "appliance"), "monitor"], env, conf / "log")


def logins(net: Network) -> int:
    return len(net.run("app", "upsc", "-c", "ups@localhost").split())


@pytest.fixture
def outage(network: Network, tmp_path: Path) -> Iterator[Outage]:
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    try:
        yield Outage(scenario)
    finally:
        network.stop_all()
        for host in HOSTS:
            network.link(host, up=True)


def start_everything(net: Network, outage: Outage) -> subprocess.Popen[bytes]:
    run = start_appliance(net, outage)
    for host in ("s1", "s2", "s3"):
        start_debian_secondary(net, outage, host)
    start_our_monitor(net, outage, "ours", f"ups@{net.appliance_address('ours')} 1 mon m secondary")
    ssh = start_sshd(net, outage)
    start_primary(net, outage, ssh, outage.dir.parent / "appliance")
    wait_for(lambda: logins(net) == 5, 15, "four secondaries and the primary logged in")
    return run


def logs(outage: Outage) -> str:
    return "\n".join(f"== {p}\n{p.read_text(errors='replace')}" for p in outage.dir.parent.rglob("*log"))


def test_power_failure_shuts_down_secondaries_then_the_ssh_host_then_cuts_the_power(
    network: Network, outage: Outage
) -> None:
    start_everything(network, outage)
    cut_the_power(outage, SEQ_FAILURE)
    killpower = outage.dir / "killpower"
    wait_for(killpower.exists, 60, "killpower")
    secondaries = [read_stamp(outage.marker(h)) for h in ("s1", "s2", "s3", "ours")]
    ssh_down, primary, cut = (
        read_stamp(outage.marker("ssh")),
        read_stamp(outage.marker("primary")),
        read_stamp(killpower),
    )
    assert max(secondaries) < ssh_down < primary <= cut, logs(outage)
    assert "simulated shutdown of ups" in (outage.dir / "killpower.log").read_text(), logs(outage)
    # the primary did not wait out HOSTSYNC: every secondary logged out well before it
    assert ssh_down - max(secondaries) < HOSTSYNC, logs(outage)


def test_upsd_dies_mid_outage_and_every_host_still_shuts_down(network: Network, outage: Outage) -> None:
    run = start_everything(network, outage)
    cut_the_power(outage, "ups.status: OB DISCHRG\nTIMER 3600\n")
    wait_for(lambda: "OB" in network.run("app", "upsc", "ups@localhost", "ups.status"), 30, "the outage")
    time.sleep(2)  # every monitor has seen OB
    run.send_signal(signal.SIGKILL)
    killpower = outage.dir / "killpower"
    wait_for(killpower.exists, 60, "killpower")
    for host in ("s1", "s2", "s3", "ours"):  # last seen OB, silent past DEADTIME: counted as OB LB
        wait_for(outage.marker(host).exists, 20, f"{host} to shut down")
    assert read_stamp(outage.marker("ssh")) < read_stamp(killpower), logs(outage)


def test_a_secondary_that_lost_the_network_costs_hostsync_and_no_more(network: Network, outage: Outage) -> None:
    start_everything(network, outage)
    network.link("s3", up=False)
    cut_the_power(outage, SEQ_FAILURE)
    killpower = outage.dir / "killpower"
    wait_for(killpower.exists, 60, "killpower")
    assert not outage.marker("s3").exists()  # it never heard of the outage: last seen on line, it stays up
    others = max(read_stamp(outage.marker(h)) for h in ("s1", "s2", "ours"))
    ssh_down = read_stamp(outage.marker("ssh"))
    assert HOSTSYNC - 2 < ssh_down - others < HOSTSYNC + 6, logs(outage)  # waited HOSTSYNC for s3, then went on


def test_power_returning_during_hostsync_still_completes_the_shutdown(network: Network, outage: Outage) -> None:
    start_everything(network, outage)
    network.link("s3", up=False)  # s3 stays logged in, so the primary waits out HOSTSYNC while the mains returns
    cut_the_power(outage, "ups.status: OB DISCHRG LB\nTIMER 3\nups.status: OL CHRG\nTIMER 3600\n")
    killpower = outage.dir / "killpower"
    wait_for(killpower.exists, 60, "killpower")
    # FSD is latched: once the primary started, the shutdown goes on, and killpower makes the UPS cycle the power
    # so that every host boots again now that the mains is back
    status = network.run("app", "upsc", "ups@localhost", "ups.status").split()
    assert "FSD" in status and "OL" in status, logs(outage)
    for host in ("s1", "s2", "ours"):
        assert read_stamp(outage.marker(host)) < read_stamp(outage.marker("ssh")), logs(outage)
    assert read_stamp(outage.marker("ssh")) < read_stamp(killpower), logs(outage)
    assert "simulated shutdown of ups" in (outage.dir / "killpower.log").read_text(), logs(outage)
