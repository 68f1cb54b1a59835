"""Pure tests of the tools' shared logic: tracking wait (injected clock), option values, upsrw's type rendering."""

from __future__ import annotations

import io
from typing import Any

import pytest

from appliance.clients import upsrw
from appliance.clients.tool import ToolExit, parse_timeout, prompt_username, tracking_id, wait_for_result
from tests.unit.test_nut_client import ScriptedCommands

TRACKED = "2DDC5036-F665-4D29-BE4C-0374D091D263"


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_tracking_wait_polls_once_a_second_until_done() -> None:
    client = ScriptedCommands(["PENDING", "PENDING", "SUCCESS"])
    clock = FakeClock()
    result = wait_for_result(client, TRACKED, 10, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert result == "SUCCESS"
    assert clock.now == 2
    assert client.sent == [f"GET TRACKING {TRACKED}\n"] * 3


def test_tracking_wait_times_out_like_nut() -> None:
    client = ScriptedCommands(["PENDING"] * 5)
    clock = FakeClock()
    with pytest.raises(ToolExit) as stop:
        wait_for_result(client, TRACKED, 3, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert stop.value.message == "Can't receive status tracking information: timeout"
    assert len(client.sent) == 3


def test_tracking_id_needs_exact_uuid_length() -> None:
    assert tracking_id(f"OK TRACKING {TRACKED}", tracking=True) == TRACKED
    assert tracking_id(f"OK TRACKING {TRACKED}", tracking=False) is None
    assert tracking_id("OK TRACKING short", tracking=True) is None
    assert tracking_id("OK", tracking=True) is None


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("15", 15), (" 7", 7), ("+3", 3)])
def test_timeout_values(text: str, value: int) -> None:
    assert parse_timeout(text) == value


@pytest.mark.parametrize("text", ["", "x", "-1", "5s", "99999999999"])
def test_bad_timeout_values(text: str) -> None:
    with pytest.raises(ToolExit, match=r"^Could not convert the provided value for timeout"):
        parse_timeout(text)


def test_username_prompt_defaults_to_login_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert prompt_username(io.StringIO("\n"), on_eof=None) not in ("", "\n")
    assert prompt_username(io.StringIO("admin\n"), on_eof=None) == "admin"
    with pytest.raises(ToolExit, match="Error reading from stdin!"):
        prompt_username(io.StringIO(""), on_eof="Error reading from stdin!")
    assert capsys.readouterr().out.startswith("Username (")


def render_type(replies: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    client: Any = ScriptedCommands(replies)
    upsrw._print_type(client, "ups", "input.sensitivity")
    return capsys.readouterr().out


def test_enum_string_listing(capsys: pytest.CaptureFixture[str]) -> None:
    out = render_type(
        [
            "TYPE ups input.sensitivity RW ENUM STRING:6",
            'VAR ups input.sensitivity "low"',
            "BEGIN LIST ENUM ups input.sensitivity",
            'ENUM ups input.sensitivity "low"',
            'ENUM ups input.sensitivity "high"',
            "END LIST ENUM ups input.sensitivity",
        ],
        capsys,
    )
    assert out == 'Type: ENUM STRING\nMaximum length: 6\nOption: "low" SELECTED\nOption: "high"\n'


def test_range_listing_uses_atoi(capsys: pytest.CaptureFixture[str]) -> None:
    out = render_type(
        [
            "TYPE ups input.sensitivity RW RANGE NUMBER",
            'VAR ups input.sensitivity "165.5"',
            "BEGIN LIST RANGE ups input.sensitivity",
            'RANGE ups input.sensitivity "150" "170"',
            'RANGE ups input.sensitivity "200" "210"',
            "END LIST RANGE ups input.sensitivity",
        ],
        capsys,
    )
    assert out == 'Type: RANGE NUMBER\nOption: "150-170" SELECTED\nOption: "200-210"\n'


def test_old_enum_and_unknown_words(capsys: pytest.CaptureFixture[str]) -> None:
    out = render_type(
        [
            "TYPE ups input.sensitivity RW ENUM FANCY",
            'VAR ups input.sensitivity "a"',
            "BEGIN LIST ENUM ups input.sensitivity",
            'ENUM ups input.sensitivity "a"',
            "END LIST ENUM ups input.sensitivity",
        ],
        capsys,
    )
    assert out == 'Type: FANCY (unrecognized)\nType: ENUM\nOption: "a" SELECTED\n'


def test_type_failure_is_unknown_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert render_type(["ERR VAR-NOT-SUPPORTED"], capsys) == "Unknown type\n"
