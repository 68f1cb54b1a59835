"""Differential tests: Debian's upsc/upsrw/upscmd and ours, same arguments, against Debian's upsd + dummy-ups.

Each case runs NUT's binary, then ours, with identical arguments and stdin, and requires identical stdout,
stderr and exit status. Also checks that PyNUTClient and aionut work against the reference server (they will
later be pointed at our upsd), and our own blocking and asyncio client library against it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.clients.nut_client import AsyncNutClient, NutClient, NutError
from tests.nut_reference import (
    ADMIN,
    DDL,
    DEFAULT_USERS,
    HAVE_NUT,
    MONITOR,
    NutReference,
    start_nut_dummies,
    start_nut_dummy,
)

pytestmark = pytest.mark.skipif(not HAVE_NUT, reason="Debian's NUT binaries are not installed")

ROOT = Path(__file__).resolve().parents[2]
DUMPS = [
    DDL / "APC/APC__Back-UPS_BK650M2-CH__usbhid-ups__2.8.0__01.dev",
    DDL / "Eaton/Eaton__Powerware_9130__bcmxcp__2.7.1__01.dev",
    DDL / "UltraMax/UltraMax__1000SC__nutdrv_qx__2.8.0.1__02.dev",
]
NUT_BIN = {"upsc": "/bin/upsc", "upsrw": "/bin/upsrw", "upscmd": "/bin/upscmd"}


def run_both(args: list[str], stdin: str = "") -> tuple[subprocess.CompletedProcess[str], ...]:
    """Run NUT's tool (argv[0] is its bare name, as getopt prints it) and ours.

    Both run without a controlling terminal, so password prompts read stdin like glibc's getpass.
    """
    common = {"capture_output": True, "text": True, "input": stdin, "timeout": 30, "start_new_session": True}
    nut = subprocess.run(args, executable=NUT_BIN[args[0]], **common)  # type: ignore[call-overload]
    ours = subprocess.run([sys.executable, "-m", "appliance", *args], cwd=ROOT, **common)  # type: ignore[call-overload]
    return nut, ours


def assert_same(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    nut, ours = run_both(args, stdin)
    assert (ours.stdout, ours.stderr, ours.returncode) == (nut.stdout, nut.stderr, nut.returncode), args
    return nut


def wait_for_value(nut: NutReference, var: str, expected: str, timeout: float = 10.0) -> str:
    """Poll GET VAR until it shows ``expected`` (upsd answers SET at once; the driver applies it a moment later)."""
    deadline = time.monotonic() + timeout
    with NutClient.connect(nut.host, nut.port) as client:
        while (value := client.get_var(nut.ups, var)) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NutReference]]:
    """One Debian upsd + dummy-ups per dump and one more of the first dump for the writing tests, started at once
    (NUT's own start takes two seconds)."""
    started = start_nut_dummies(tmp_path_factory.mktemp("nut"), [*DUMPS, DUMPS[0]], DEFAULT_USERS, desc="Test UPS")
    yield started
    for reference in started:
        reference.stop()


@pytest.fixture(scope="module", params=range(len(DUMPS)), ids=[p.name.split("__")[1] for p in DUMPS])
def nut(request: pytest.FixtureRequest, references: list[NutReference]) -> NutReference:
    return references[request.param]


@pytest.fixture(scope="module")
def apc(references: list[NutReference]) -> NutReference:
    return references[len(DUMPS)]


def read_cases(nut: NutReference) -> list[list[str]]:
    ups, where = nut.address(), f"{nut.host}:{nut.port}"
    return [
        ["upsc", ups],
        ["upsc", "-l", where],
        ["upsc", "-L", where],
        ["upsc", "-c", ups],
        ["upsc", ups, "ups.status"],
        ["upsc", ups, "battery.charge"],
        ["upsc", ups, "no.such.variable"],
        ["upsc", ups, "oldstyle"],
        ["upsc", f"nope@{where}"],
        ["upsrw", ups],
        ["upsrw", "-l", f"nope@{where}"],
        ["upscmd", "-l", ups],
        ["upscmd", "-l", f"nope@{where}"],
    ]


def test_read_only_tools_match_nut(nut: NutReference) -> None:
    for args in read_cases(nut):
        assert_same(args)


def test_reads_produce_output(nut: NutReference) -> None:
    """Guard against two empty outputs agreeing: the listing really lists."""
    result = assert_same(["upsc", nut.address()])
    assert "ups.status: " in result.stdout
    assert "[ups.status]\n" in assert_same(["upsrw", nut.address()]).stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-h"],
        ["-V"],
        ["-x"],
        ["ups@"],
        ["ups@host:"],
        ["ups@host:99999"],
        ["ups@[::1"],
    ],
)
@pytest.mark.parametrize("tool", ["upsc", "upsrw", "upscmd"])
def test_usage_and_bad_arguments_match_nut(tool: str, args: list[str]) -> None:
    assert_same([tool, *args])


def test_connection_refused_matches_nut() -> None:
    from tests.nut_reference import free_port

    where = f"127.0.0.1:{free_port()}"
    for args in (
        ["upsc", f"ups@{where}"],
        ["upsc", "-l", where],
        ["upsrw", f"ups@{where}"],
        ["upscmd", "-l", f"ups@{where}"],
    ):
        result = assert_same(args)
        assert result.stderr == "Error: Connection failure: Connection refused\n"


def test_set_variable_matches_nut(apc: NutReference) -> None:
    ups = apc.address()
    user, password = ADMIN
    for args in (
        ["upsrw", "-s", "ups.delay.shutdown=30", "-u", user, "-p", password, ups],
        ["upsrw", "-s", "ups.delay.shutdown=40", "-u", user, "-p", password, "-w", ups],
        ["upsrw", "-s", "ups.delay.shutdown=40", "-u", user, "-p", password, "-w", "-t", "5", ups],
        ["upsrw", "-s", "ups.delay.shutdown=31", "-u", user, "-p", "wrong", ups],
        ["upsrw", "-s", "ups.delay.shutdown=31", "-u", MONITOR[0], "-p", MONITOR[1], ups],
        ["upsrw", "-s", "oldname=1", "-u", user, "-p", password, ups],
        ["upsrw", "-s", "ups.delay.shutdown=1", "-l", ups],
        ["upsrw", "-t", "soon", ups],
    ):
        assert_same(args)
    assert wait_for_value(apc, "ups.delay.shutdown", "40") == "40"


def test_set_variable_prompts_match_nut(apc: NutReference) -> None:
    ups = apc.address()
    assert_same(["upsrw", "-s", "ups.delay.shutdown", ups], stdin=f"{ADMIN[0]}\n{ADMIN[1]}\n55\n")
    assert wait_for_value(apc, "ups.delay.shutdown", "55") == "55"


def test_instant_commands_match_nut(apc: NutReference) -> None:
    ups = apc.address()
    user, password = ADMIN
    for args in (
        ["upscmd", "-u", user, "-p", password, ups, "load.off"],
        ["upscmd", "-u", user, "-p", password, "-w", ups, "load.off"],
        ["upscmd", "-u", user, "-p", password, "-w", ups, "load.off", "5"],
        ["upscmd", "-u", user, "-p", password, ups, "beeper.off"],
        ["upscmd", "-u", user, "-p", "wrong", ups, "load.off"],
        ["upscmd", "-u", user, "-p", password, ups, "oldname"],
        ["upscmd", "-u", user, "-p", password, ups],
    ):
        assert_same(args)
    assert_same(["upscmd", ups, "load.off"], stdin=f"{user}\n{password}\n")


def test_logged_in_clients_are_listed_like_nut(apc: NutReference) -> None:
    with NutClient.connect(apc.host, apc.port) as monitor:
        monitor.username(MONITOR[0])
        monitor.password(MONITOR[1])
        monitor.login("ups")
        result = assert_same(["upsc", "-c", apc.address()])
    assert result.stdout == "127.0.0.1\n"


def test_driver_gone_matches_nut(tmp_path: Path) -> None:
    with start_nut_dummy(tmp_path, DUMPS[0]) as reference:
        reference.stop_driver()
        ups = reference.address()
        with NutClient.connect(reference.host, reference.port) as client:
            with pytest.raises(NutError) as caught:
                for _ in range(200):  # upsd notices the closed driver socket on its next poll
                    client.get_var("ups", "ups.status")
                    time.sleep(0.05)
            assert caught.value.token == "DRIVER-NOT-CONNECTED"
        for args in (["upsc", ups], ["upsc", ups, "ups.status"], ["upsrw", ups], ["upscmd", "-l", ups]):
            assert_same(args)
        assert run_both(["upsc", ups])[1].stderr.endswith("Error: Driver not connected\n")


def test_our_client_library_against_nut(apc: NutReference) -> None:
    with NutClient.connect(apc.host, apc.port) as client:
        assert client.ver().startswith("Network UPS Tools upsd 2.8.0")
        variables = client.list_var("ups")
        assert variables["device.model"] == "BK650M2-CH"
        assert client.get_var("ups", "battery.charge") == variables["battery.charge"]
        assert client.get_type("ups", "battery.charge") == ["RW", "NUMBER"]
        assert client.list_cmd("ups") == ["load.off"]
        assert set(client.list_rw("ups")) <= set(variables)
        with pytest.raises(NutError) as caught:
            client.get_var("nope", "ups.status")
        assert caught.value.token == "UNKNOWN-UPS"
        with pytest.raises(NutError) as refused:
            client.starttls(__import__("ssl").create_default_context())
        assert refused.value.token == "FEATURE-NOT-CONFIGURED"
        client.username(ADMIN[0])
        client.password(ADMIN[1])
        client.tracking(True)
        tracked = client.set_var("ups", "battery.charge.low", "45")
        assert tracked is not None and len(tracked) == 36
        deadline = time.monotonic() + 10
        while (result := client.get_tracking(tracked)) == "PENDING" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert result == "SUCCESS"
        assert client.get_var("ups", "battery.charge.low") == "45"


def test_async_client_against_nut(apc: NutReference) -> None:
    async def scenario() -> None:
        async with await AsyncNutClient.connect(apc.host, apc.port) as client:
            upses, variables = await asyncio.gather(client.list_ups(), client.list_var("ups"))
            assert list(upses) == ["ups"]
            assert variables["device.model"] == "BK650M2-CH"
            await client.username(MONITOR[0])
            await client.password(MONITOR[1])
            await client.login("ups")
            assert await client.list_clients("ups") == ["127.0.0.1"]
            assert await client.get_numlogins("ups") == 1
            with pytest.raises(NutError) as caught:
                await client.set_var("ups", "ups.delay.shutdown", "1")  # upsmon accounts may not SET
            assert caught.value.token == "ACCESS-DENIED"

    asyncio.run(scenario())


def test_pynutclient_against_nut(apc: NutReference) -> None:
    from PyNUTClient.PyNUT import PyNUTClient

    client = PyNUTClient(host=apc.host, port=apc.port, login=ADMIN[0], password=ADMIN[1])
    assert b"ups" in client.GetUPSList()
    assert client.GetUPSVars("ups")[b"device.model"] == b"BK650M2-CH"


def test_aionut_against_nut(apc: NutReference) -> None:
    import aionut  # type: ignore[import-not-found]

    async def scenario() -> dict[str, str]:
        client = aionut.AIONUTClient(host=apc.host, port=apc.port, username=ADMIN[0], password=ADMIN[1])
        try:
            return await client.list_vars("ups")
        finally:
            client.shutdown()

    assert asyncio.run(scenario())["device.model"] == "BK650M2-CH"
