"""Shutting down the hosts that run no NUT: SSH commands or HTTP requests, tier by tier, each confirmed down.

The primary runs this after its secondaries have logged out (or HOSTSYNC passed) and before it writes
POWERDOWNFLAG: tiers go in ascending order, the hosts of one tier in parallel. A host counts as down once its
port stops answering (a TCP connect is refused, unreachable or times out). Nothing here raises: an unreachable
host, a refused key, a hung command or a host that stays up becomes a clear message in its :class:`HostResult`,
and the plan goes on — the UPS power is cut in the end whatever one host does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncssh

from appliance.appconf import HostSpec

log = logging.getLogger(__name__)

PROBE_INTERVAL = 0.5
PROBE_TIMEOUT = 1.0

Probe = Callable[[HostSpec], Awaitable[bool]]


@dataclass(frozen=True)
class HostResult:
    """What happened to one host: ``ok`` when the command was sent and the host confirmed down (or a dry run)."""

    name: str
    tier: int
    ok: bool
    sent: bool  # the command ran (or the connection dropped under it) / the request got a 2xx
    confirmed: bool  # the host stopped answering within confirm_timeout
    message: str
    seconds: float


async def answers(host: HostSpec) -> bool:
    """True while the host accepts a TCP connection on its port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.address, host.port), PROBE_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def network_error(exc: OSError) -> str:
    """A socket error as people read it ("Connection refused"), not asyncio's "[Errno 111] Connect call failed"."""
    if exc.errno and not isinstance(exc, ssl.SSLError | socket.gaierror):  # their errno is not an errno
        return os.strerror(exc.errno)
    return str(exc)


def describe(host: HostSpec) -> str:
    """One line of the plan."""
    if host.method == "ssh":
        action = f"ssh {host.user}@{host.address}:{host.port} {host.command!r}"
    else:
        action = f"http {host.http_method} {host.url}"
    limits = f"timeout {host.timeout:g} s, confirm within {host.confirm_timeout:g} s"
    return f"tier {host.tier}: {host.name}: {action} ({limits})"


def describe_plan(hosts: Sequence[HostSpec]) -> list[str]:
    """The whole plan, in the order it runs."""
    return [describe(h) for h in sorted(hosts, key=lambda h: h.tier)]


async def _ssh(host: HostSpec) -> tuple[bool, str]:
    """Run the host's command over SSH (key authentication only); (sent, what happened)."""
    if host.known_hosts is None:
        log.warning("host %s: no known_hosts given: accepting any host key", host.name)
    log.info("host %s: connecting to %s@%s:%d", host.name, host.user, host.address, host.port)
    try:
        conn = await asyncssh.connect(
            host.address, host.port, username=host.user, client_keys=[host.key], known_hosts=host.known_hosts,
            agent_path=None, password=None, connect_timeout=host.timeout,
        )  # fmt: skip
    except asyncssh.PermissionDenied:
        return False, f"ssh: {host.user}@{host.address} refused the key {host.key}"
    except TimeoutError:
        return False, f"ssh to {host.address}:{host.port}: no answer within {host.timeout:g} s"
    except (OSError, asyncssh.KeyImportError) as exc:
        # asyncssh reads the key before it connects: an error naming a file is about the key
        if isinstance(exc, asyncssh.KeyImportError) or getattr(exc, "filename", None):
            return False, f"ssh to {host.address}:{host.port}: cannot use the key {host.key}: {exc}"
        return False, f"ssh to {host.address}:{host.port} failed: {network_error(exc)}"
    except asyncssh.Error as exc:
        return False, f"ssh to {host.address}:{host.port} failed: {exc}"
    try:
        return await _run_command(conn, host)
    finally:
        conn.close()


async def _run_command(conn: asyncssh.SSHClientConnection, host: HostSpec) -> tuple[bool, str]:
    """The command on an open connection, cut off at ``host.timeout``.

    The command gets a terminal, as ``ssh -t`` would: when we give up on a hung command and close the
    connection, sshd hangs that terminal up and the command gets SIGHUP. Without one it would run on forever, and
    OpenSSH refuses SSH signal requests for root sessions ("session signalling requires privilege separation").
    """
    try:
        process = await conn.create_process(host.command, term_type="dumb", stdin=asyncssh.DEVNULL)
        try:
            result = await process.wait(timeout=host.timeout)
        except asyncssh.TimeoutError:
            return False, f"ssh {host.command!r} did not finish within {host.timeout:g} s"
    except (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError):
        return True, f"ssh {host.command!r} sent; the connection dropped (the host is going down)"
    except (OSError, asyncssh.Error) as exc:
        return False, f"ssh {host.command!r} failed: {exc}"
    if result.exit_status is None:  # no status: the session was torn down under the command (the host is going down)
        return True, f"ssh {host.command!r} sent; the session ended without a status (the host is going down)"
    if result.exit_status != 0:
        return False, f"ssh {host.command!r} exited with status {result.exit_status}: {str(result.stderr).strip()}"
    return True, f"ssh {host.command!r} sent"


async def _http(host: HostSpec) -> tuple[bool, str]:
    """Send the host's HTTP request (stdlib streams, TLS for https); (a 2xx came back, what happened)."""
    assert host.url is not None  # appconf requires it for http
    parts = urlsplit(host.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"{host.http_method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: 0\r\n"
        "Connection: close\r\nUser-Agent: appliance-monitor\r\n\r\n"
    )
    try:
        async with asyncio.timeout(host.timeout):
            reader, writer = await asyncio.open_connection(host.address, host.port, ssl=parts.scheme == "https" or None)
            writer.write(request.encode("latin-1"))
            status_line = (await reader.readline()).decode("latin-1").strip()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    except TimeoutError:
        return False, f"http {host.url}: no answer within {host.timeout:g} s"
    except OSError as exc:
        return False, f"http {host.url} failed: {network_error(exc)}"
    words = status_line.split()
    if len(words) >= 2 and words[1].startswith("2"):
        return True, f"http {host.http_method} {host.url}: {status_line}"
    return False, f"http {host.http_method} {host.url} answered {status_line or 'nothing'}"


async def _send(host: HostSpec) -> tuple[bool, str]:
    """The host's command or request; (sent, what happened). Never raises."""
    try:
        return await (_ssh(host) if host.method == "ssh" else _http(host))
    except Exception as exc:  # the shutdown path must go on to cut the UPS power whatever happens
        log.exception("host %s: unexpected failure", host.name)
        return False, f"{host.method} failed unexpectedly: {exc!r}"


async def _wait_down(host: HostSpec, probe: Probe) -> float | None:
    """Seconds until the host stopped answering (polled every PROBE_INTERVAL), None if it still answers."""
    started = time.monotonic()
    deadline = started + host.confirm_timeout
    while True:
        if not await probe(host):
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(min(PROBE_INTERVAL, max(0.0, deadline - time.monotonic())))


async def shut_down_host(host: HostSpec, probe: Probe = answers) -> HostResult:
    """Send the host its command, then wait up to ``confirm_timeout`` for it to stop answering."""
    started = time.monotonic()
    sent, message = await _send(host)
    log.log(logging.WARNING if sent else logging.ERROR, "host %s: %s", host.name, message)
    down_after = await _wait_down(host, probe) if sent else None
    if down_after is not None:
        message = f"{message}; down after {down_after:.1f} s"
        log.warning("host %s: down after %.1f s", host.name, down_after)
    elif sent:
        message = f"{message}; still answers on port {host.port} after {host.confirm_timeout:g} s"
        log.error("host %s: still answers on port %d after %g s", host.name, host.port, host.confirm_timeout)
    confirmed = down_after is not None
    return HostResult(host.name, host.tier, sent and confirmed, sent, confirmed, message, time.monotonic() - started)


async def shut_down_hosts(
    hosts: Sequence[HostSpec], *, dry_run: bool = False, probe: Probe = answers
) -> list[HostResult]:
    """Run the plan: tier after tier, the hosts of a tier together; every host's result, in plan order.

    A tier starts once every host of the tier before has been confirmed down or given up on. In a dry run
    the plan is only logged, and every result is ``ok`` with ``sent`` False and the message "dry run".
    """
    ordered = sorted(hosts, key=lambda h: h.tier)
    if dry_run:
        for line in describe_plan(ordered):
            log.info("dry run: would shut down %s", line)
        return [HostResult(h.name, h.tier, True, False, False, "dry run", 0.0) for h in ordered]
    results: list[HostResult] = []
    for tier in sorted({h.tier for h in ordered}):
        batch = [h for h in ordered if h.tier == tier]
        log.warning("shutting down tier %d: %s", tier, ", ".join(h.name for h in batch))
        results += await asyncio.gather(*(shut_down_host(h, probe) for h in batch))
    return results
