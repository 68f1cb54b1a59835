"""Hosts without NUT, the edges of the SSH path, against Debian's real OpenSSH server on loopback.

tests/integration/test_hosts.py has the main cases (command and confirm, tiers, refused key, hung command,
unreachable, stays up, HTTP, dry run); these are the ones a shutdown must also survive: a session torn down under
the command, a key that cannot be read, a hung command left running on the host, a confirm wait longer than asked,
and a tier that starts before the one before is really down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest

from appliance.appconf import HostSpec
from appliance.monitor.hosts import answers, shut_down_hosts
from tests.integration.test_hosts import run, ssh_host, sshd_factory
from tests.nut_reference import free_port
from tests.sshd import SSHD

pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="Debian's openssh-server is not installed")
__all__ = ["sshd_factory"]  # the fixture, shared with test_hosts.py


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_session_torn_down_under_the_command_counts_as_sent(sshd_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("poweroff")
    marker = tmp_path / "ran"
    # As `poweroff` does: the host stops listening, then the session dies before any exit status is sent.
    command = f"touch {marker}; {server.kill_command()}; kill -9 $PPID"
    [result] = run([ssh_host(server, "nas", command)])
    assert marker.exists()
    assert result.ok and result.sent and result.confirmed, result.message
    assert "without a status" in result.message


def test_a_key_that_cannot_be_read_is_reported_and_the_next_tier_runs(sshd_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("keys")
    not_a_key = tmp_path / "not_a_key"
    not_a_key.write_text("hello\n")
    marker = tmp_path / "ran"
    hosts = [
        dataclasses.replace(ssh_host(server, "missing", "true"), key=str(tmp_path / "missing")),
        dataclasses.replace(ssh_host(server, "garbage", "true"), key=str(not_a_key)),
        ssh_host(server, "next", f"touch {marker}; {server.kill_command()}", tier=1),
    ]
    missing, garbage, following = run(hosts)
    assert not missing.sent and f"cannot use the key {tmp_path / 'missing'}" in missing.message
    assert not garbage.sent and f"cannot use the key {not_a_key}" in garbage.message
    assert following.ok and marker.exists(), following.message


def test_a_hung_command_is_stopped_on_the_host(sshd_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("hung")
    pid_file = tmp_path / "hung.pid"
    [result] = run([ssh_host(server, "hung", f"echo $$ > {pid_file}; exec sleep 600", timeout=1.0)])
    pid = int(pid_file.read_text())
    try:
        assert not result.sent and "did not finish within 1 s" in result.message
        deadline = time.monotonic() + 5
        while is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_running(pid), "the hung command is still running on the host"
    finally:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_confirm_wait_lasts_confirm_timeout_not_more(sshd_factory) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("stubborn")
    started = time.monotonic()
    [result] = run([ssh_host(server, "stubborn", "true", timeout=10.0, confirm_timeout=1.0)])
    elapsed = time.monotonic() - started
    assert result.sent and not result.confirmed and not result.ok
    assert f"still answers on port {server.port} after 1 s" in result.message
    assert 1.0 <= elapsed < 4.0


def test_a_tier_starts_only_once_the_tier_before_is_confirmed_down(sshd_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    slow, second = sshd_factory("slow"), sshd_factory("second")
    stamp = tmp_path / "second.stamp"
    went_down: dict[str, float] = {}

    async def recording_probe(host: HostSpec) -> bool:
        up = await answers(host)
        if not up:
            went_down.setdefault(host.name, time.time())
        return up

    # The command returns at once; the host stops answering a second later, as a real shutdown does (the
    # background part ignores the SIGHUP of the session's terminal, as nohup would).
    later = f"trap '' HUP; (sleep 1; {slow.kill_command()}) </dev/null >/dev/null 2>&1 &"
    hosts = [
        ssh_host(second, "second", f"date +%s.%N > {stamp}; {second.kill_command()}", tier=1),
        ssh_host(slow, "slow", later, tier=0),
    ]
    slow_result, second_result = asyncio.run(shut_down_hosts(hosts, probe=recording_probe))
    assert slow_result.ok and second_result.ok, (slow_result.message, second_result.message)
    assert slow_result.seconds >= 1.0
    assert went_down["slow"] < float(stamp.read_text()) < went_down["second"]


def test_a_host_nobody_answers_for_fails_at_once_with_its_address(sshd_factory) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("keys-only")  # for a readable key: the failure must be the connection's
    host = dataclasses.replace(ssh_host(server, "gone", "true"), port=free_port())
    started = time.monotonic()
    [result] = run([host])
    assert time.monotonic() - started < 2
    assert not result.sent and not result.ok
    assert f"ssh to 127.0.0.1:{host.port} failed" in result.message and "refused" in result.message.lower()


def test_a_dry_run_touches_nothing_and_counts_as_ok() -> None:
    nobody = HostSpec("ghost", "ssh", "127.0.0.1", free_port(), key="/nonexistent", tier=2)
    printer = HostSpec("printer", "http", "127.0.0.1", free_port(), url="http://127.0.0.1/off")
    results = run([nobody, dataclasses.replace(printer, tier=1)], dry_run=True)
    assert [(r.name, r.tier, r.ok, r.sent, r.confirmed, r.message) for r in results] == [
        ("printer", 1, True, False, False, "dry run"),
        ("ghost", 2, True, False, False, "dry run"),
    ]
