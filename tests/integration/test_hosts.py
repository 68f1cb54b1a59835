"""Shutting down hosts without NUT against Debian's real OpenSSH server and a real HTTP listener, on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.appconf import HostSpec
from appliance.monitor.hosts import describe_plan, shut_down_hosts
from tests.nut_reference import free_port
from tests.sshd import SSHD, SshServer, configure_sshd

pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="Debian's openssh-server is not installed")


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> SshServer:
        server = configure_sshd(tmp_path / name, "127.0.0.1", free_port())
        with (server.dir / "log").open("wb") as log:
            procs.append(subprocess.Popen(server.argv(), stdout=log, stderr=subprocess.STDOUT))
        server.wait_started()
        return server

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def ssh_host(server: SshServer, name: str, command: str, **extra: object) -> HostSpec:
    options: dict = {"timeout": 10.0, "confirm_timeout": 5.0, **extra}  # type: ignore[type-arg]
    return HostSpec(name, "ssh", server.address, server.port, key=str(server.client_key), command=command, **options)


def run(hosts: list[HostSpec], **kwargs: object) -> list:  # type: ignore[type-arg]
    return asyncio.run(shut_down_hosts(hosts, **kwargs))  # type: ignore[arg-type]


def test_command_runs_and_the_host_is_confirmed_down(sshd_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("nas")
    marker = tmp_path / "ran"
    [result] = run([ssh_host(server, "nas", f"touch {marker}; {server.kill_command()}")])
    assert marker.exists()
    assert result.ok and result.sent and result.confirmed, result.message
    assert "down after" in result.message


def test_tiers_run_in_order_and_a_failing_host_does_not_stop_the_plan(sshd_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, second, third = sshd_factory("first"), sshd_factory("second"), sshd_factory("third")
    stamps = {name: tmp_path / f"{name}.stamp" for name in ("first", "third")}
    wrong_key = ssh_host(second, "second", "true", tier=1)
    wrong_key = HostSpec(**{**wrong_key.__dict__, "key": str(first.client_key)})  # not authorized on `second`
    hosts = [
        ssh_host(third, "third", f"date +%s.%N > {stamps['third']}; {third.kill_command()}", tier=2),
        wrong_key,
        ssh_host(first, "first", f"date +%s.%N > {stamps['first']}; {first.kill_command()}", tier=0),
    ]
    results = run(hosts)
    assert [r.name for r in results] == ["first", "second", "third"]
    first_result, second_result, third_result = results
    assert first_result.ok and third_result.ok
    assert not second_result.sent and "refused the key" in second_result.message
    assert float(stamps["first"].read_text()) < float(stamps["third"].read_text())


def test_a_hung_command_is_cut_off_at_its_timeout(sshd_factory) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("hung")
    started = time.monotonic()
    [result] = run([ssh_host(server, "hung", "sleep 600", timeout=1.0)])
    assert time.monotonic() - started < 8
    assert not result.ok and "did not finish within 1 s" in result.message


def test_an_unreachable_host_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    never_started = configure_sshd(tmp_path / "ghost", "127.0.0.1", free_port())  # keys, but nobody listens
    host = ssh_host(never_started, "ghost", "poweroff", timeout=5.0)
    started = time.monotonic()
    [result] = run([host])
    assert time.monotonic() - started < 5
    assert not result.sent and f"127.0.0.1:{host.port}" in result.message


def test_a_host_that_stays_up_is_reported(sshd_factory) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("stubborn")
    [result] = run([ssh_host(server, "stubborn", "true", confirm_timeout=1.0)])
    assert result.sent and not result.confirmed and not result.ok
    assert "still answers" in result.message


async def _http_server(status: str, seen: list[bytes]) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readline())
        while (await reader.readline()).strip():
            pass
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        if status.startswith("2"):
            server.close()  # the device switches itself off: its port stops answering

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("status", "ok"), [("200 OK", True), ("500 Internal Server Error", False)])
def test_http_request_then_confirmed_down(status: str, ok: bool) -> None:
    async def scenario() -> list:  # type: ignore[type-arg]
        seen: list[bytes] = []
        server, port = await _http_server(status, seen)
        host = HostSpec("ups-card", "http", "127.0.0.1", port, url=f"http://127.0.0.1:{port}/off?now=1",
                        timeout=5.0, confirm_timeout=3.0)  # fmt: skip
        results = await shut_down_hosts([host])
        server.close()
        assert seen == [b"POST /off?now=1 HTTP/1.1\r\n"]
        return results

    [result] = asyncio.run(scenario())
    assert result.ok is ok, result.message
    if not ok:
        assert "500" in result.message


def test_dry_run_prints_the_plan_and_does_nothing(sshd_factory, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory("dry")
    marker = tmp_path / "ran"
    hosts = [ssh_host(server, "late", f"touch {marker}", tier=3), ssh_host(server, "early", f"touch {marker}")]
    caplog.set_level("INFO")
    results = run(hosts, dry_run=True)
    assert not marker.exists() and [r.message for r in results] == ["dry run", "dry run"]
    plan = describe_plan(hosts)
    assert plan[0].startswith("tier 0: early: ssh root@127.0.0.1") and plan[1].startswith("tier 3: late")
    assert "would shut down tier 0: early" in caplog.text
    assert os.path.exists(server.pid_file)  # the server was never told to stop
