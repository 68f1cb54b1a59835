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
    """What happened to one host."""

    name: str
    tier: int
    sent: bool  # the command ran (or the connection dropped under it) / the request got a 2xx
    confirmed: bool  # the host stopped answering within confirm_timeout
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Sent and confirmed down."""
        return self.sent and self.confirmed


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
    options: dict[str, object] = {"known_hosts": host.known_hosts}
    if host.known_hosts is None:
        log.warning("host %s: no known_hosts given: accepting any host key", host.name)
    try:
        async with asyncio.timeout(host.timeout):
            async with asyncssh.connect(
                host.address, host.port, username=host.user, client_keys=[host.key], **options
            ) as conn:
                result = await conn.run(host.command, check=False)
    except TimeoutError:
        return False, f"ssh {host.command!r} did not finish within {host.timeout:g} s"
    except asyncssh.PermissionDenied:
        return False, f"ssh: {host.user}@{host.address} refused the key {host.key}"
    except asyncssh.ConnectionLost:
        return True, "ssh connection dropped while the command ran (the host is going down)"
    except (OSError, asyncssh.Error) as exc:
        return False, f"ssh to {host.address}:{host.port} failed: {exc}"
    if result.exit_status not in (0, None):
        return False, f"ssh {host.command!r} exited with status {result.exit_status}: {str(result.stderr).strip()}"
    return True, f"ssh {host.command!r} sent"


async def _http(host: HostSpec) -> tuple[bool, str]:
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
    except TimeoutError:
        return False, f"http {host.url}: no answer within {host.timeout:g} s"
    except OSError as exc:
        return False, f"http {host.url} failed: {exc}"
    words = status_line.split()
    if len(words) >= 2 and words[1].startswith("2"):
        return True, f"http {host.http_method} {host.url}: {status_line}"
    return False, f"http {host.http_method} {host.url} answered {status_line or 'nothing'}"


async def shut_down_host(host: HostSpec, probe: Probe = answers) -> HostResult:
    """Send the host its command, then wait for it to stop answering."""
    started = time.monotonic()
    sent, message = await (_ssh(host) if host.method == "ssh" else _http(host))
    log.log(logging.WARNING if sent else logging.ERROR, "host %s: %s", host.name, message)
    confirmed = False
    if sent:
        deadline = started + host.timeout + host.confirm_timeout
        while not (confirmed := not await probe(host)) and time.monotonic() < deadline:
            await asyncio.sleep(PROBE_INTERVAL)
        elapsed = time.monotonic() - started
        if confirmed:
            message = f"{message}; down after {elapsed:.1f} s"
            log.warning("host %s: down after %.1f s", host.name, elapsed)
        else:
            message = f"{message}; still answers after {host.confirm_timeout:g} s"
            log.error("host %s: still answers on port %d after %g s", host.name, host.port, host.confirm_timeout)
    return HostResult(host.name, host.tier, sent, confirmed, message, time.monotonic() - started)


async def shut_down_hosts(
    hosts: Sequence[HostSpec], *, dry_run: bool = False, probe: Probe = answers
) -> list[HostResult]:
    """Run the plan: tier after tier, the hosts of a tier together; return every host's result in plan order."""
    if dry_run:
        for line in describe_plan(hosts):
            log.info("dry run: would shut down %s", line)
        return [HostResult(h.name, h.tier, False, False, "dry run", 0.0) for h in sorted(hosts, key=lambda h: h.tier)]
    results: list[HostResult] = []
    for tier in sorted({h.tier for h in hosts}):
        batch = [h for h in hosts if h.tier == tier]
        log.warning("shutting down tier %d: %s", tier, ", ".join(h.name for h in batch))
        results += await asyncio.gather(*(shut_down_host(h, probe) for h in batch))
    return results
