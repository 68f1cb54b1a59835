"""Pure tests of the NUT client's protocol core: conversations driven by hand, byte-level framing, error mapping."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.clients.nut_client import (
    MAX_LINE,
    Conversation,
    NutCommands,
    NutError,
    ReplyBuffer,
    error_from_reply,
    format_request,
    get,
    get_list,
)
from appliance.nutconf.lexer import split_words


class ScriptedCommands(NutCommands):
    """Runs conversations against scripted reply lines and records the request lines (a pure driver of the core)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.sent: list[str] = []

    def _run(self, conversation: Conversation[Any]) -> Any:
        reply = None
        try:
            while True:
                step = conversation.send(reply)
                if step is None:
                    reply = self.replies.pop(0)
                else:
                    self.sent.append(step.decode())
                    reply = None
        except StopIteration as done:
            return done.value


def test_request_words_survive_the_nut_lexer() -> None:
    for words in (("SET", "VAR", "ups", "ups.id", 'a "quoted" # value\\'), ("USERNAME", "admin"), ("X", "")):
        line = format_request(*words)
        assert line.endswith(b"\n")
        assert split_words(line.decode()) == list(words)


def test_request_refuses_newline() -> None:
    with pytest.raises(ValueError):
        format_request("PASSWORD", "a\nLOGOUT")


@pytest.mark.parametrize(
    ("line", "token", "message"),
    [
        ("ERR UNKNOWN-UPS", "UNKNOWN-UPS", "Unknown UPS"),
        ("ERR DRIVER-NOT-CONNECTED", "DRIVER-NOT-CONNECTED", "Driver not connected"),
        ("ERR DATA-STALE", "DATA-STALE", "Data stale"),
        ("ERR VAR-NOT-SUPPORTED", "VAR-NOT-SUPPORTED", "Variable not supported by UPS"),
        ("ERR ACCESS-DENIED extra words", "ACCESS-DENIED", "Access denied"),
        ("ERR FEATURE-NOT-CONFIGURED", "FEATURE-NOT-CONFIGURED", "Unknown error"),
    ],
)
def test_err_lines_map_to_upsclient_messages(line: str, token: str, message: str) -> None:
    error = error_from_reply(line)
    assert error is not None
    assert (error.token, str(error), error.line) == (token, message, line)


def test_non_error_lines_are_not_errors() -> None:
    assert error_from_reply("OK") is None
    assert error_from_reply('VAR ups x "ERR"') is None


def test_reply_buffer_reassembles_any_fragmenting() -> None:
    data = b'BEGIN LIST VAR ups\nVAR ups a "1"\r\nEND LIST VAR ups\n'
    for size in (1, 2, 3, 7, len(data)):
        buffer = ReplyBuffer()
        lines = []
        for start in range(0, len(data), size):
            buffer.feed(data[start : start + size])
            while (line := buffer.next_line()) is not None:
                lines.append(line)
        assert lines == ["BEGIN LIST VAR ups", 'VAR ups a "1"', "END LIST VAR ups"]


def test_reply_buffer_bounds_line_length() -> None:
    buffer = ReplyBuffer()
    buffer.feed(b"x" * (MAX_LINE + 1))
    with pytest.raises(NutError, match="longer than"):
        buffer.next_line()
    complete = ReplyBuffer(max_line=8)
    complete.feed(b"123456789\n")
    with pytest.raises(NutError):
        complete.next_line()


def test_list_var_parses_framing_and_values() -> None:
    client = ScriptedCommands(
        ["BEGIN LIST VAR ups", 'VAR ups battery.charge "100"', 'VAR ups ups.status "OL CHRG"', "END LIST VAR ups"]
    )
    assert client.list_var("ups") == {"battery.charge": "100", "ups.status": "OL CHRG"}
    assert client.sent == ["LIST VAR ups\n"]


def test_list_error_before_begin_raises_token() -> None:
    client = ScriptedCommands(["ERR UNKNOWN-UPS"])
    with pytest.raises(NutError) as caught:
        client.list_var("nope")
    assert caught.value.token == "UNKNOWN-UPS"


@pytest.mark.parametrize(
    "replies",
    [
        ["VAR ups x 1"],  # no BEGIN LIST
        ["BEGIN LIST VAR other", "END LIST VAR other"],  # another UPS echoed
        ["BEGIN LIST VAR ups", 'CMD ups x "1"', "END LIST VAR ups"],  # item of another kind
    ],
)
def test_list_framing_violations_are_protocol_errors(replies: list[str]) -> None:
    with pytest.raises(NutError, match="Protocol error"):
        ScriptedCommands(replies).list_var("ups")


def test_list_size_is_bounded() -> None:
    replies = ["BEGIN LIST CMD ups", *[f"CMD ups c{i}" for i in range(5)], "END LIST CMD ups"]
    script = ScriptedCommands(replies)
    with pytest.raises(NutError, match="list longer than 3"):
        script._run(get_list("CMD", "ups", limit=3))


def test_get_checks_echo_case_insensitively() -> None:
    script = ScriptedCommands(['var UPS battery.charge "87"'])
    assert script._run(get("VAR", "ups", "battery.charge")) == ["87"]
    with pytest.raises(NutError, match="Protocol error"):
        ScriptedCommands(['VAR ups other.var "87"']).get_var("ups", "battery.charge")


def test_parse_error_names_the_lexer_problem() -> None:
    with pytest.raises(NutError, match=r"^Parse error: Unbalanced word due to unescaped # in quotes"):
        ScriptedCommands(['VAR ups x "a#b"']).get_var("ups", "x")


def test_typed_getters() -> None:
    script = ScriptedCommands(
        [
            "TYPE ups input.sensitivity RW ENUM STRING:1",
            'DESC ups ups.load "Load on UPS"',
            'CMDDESC ups load.off "Turn off the load immediately"',
            'UPSDESC ups "Test UPS"',
            "NUMLOGINS ups 2",
        ]
    )
    assert script.get_type("ups", "input.sensitivity") == ["RW", "ENUM", "STRING:1"]
    assert script.get_desc("ups", "ups.load") == "Load on UPS"
    assert script.get_cmd_desc("ups", "load.off") == "Turn off the load immediately"
    assert script.get_ups_desc("ups") == "Test UPS"
    assert script.get_numlogins("ups") == 2
    assert script.sent[0] == "GET TYPE ups input.sensitivity\n"


def test_lists_of_each_kind() -> None:
    script = ScriptedCommands(
        [
            "BEGIN LIST ENUM ups input.sensitivity",
            'ENUM ups input.sensitivity "low"',
            'ENUM ups input.sensitivity "high"',
            "END LIST ENUM ups input.sensitivity",
            "BEGIN LIST RANGE ups input.transfer.low",
            'RANGE ups input.transfer.low "150" "170"',
            "END LIST RANGE ups input.transfer.low",
            "BEGIN LIST CLIENT ups",
            "CLIENT ups 127.0.0.1",
            "END LIST CLIENT ups",
            "BEGIN LIST UPS",
            'UPS ups "Test UPS"',
            "END LIST UPS",
        ]
    )
    assert script.list_enum("ups", "input.sensitivity") == ["low", "high"]
    assert script.list_range("ups", "input.transfer.low") == [("150", "170")]
    assert script.list_clients("ups") == ["127.0.0.1"]
    assert script.list_ups() == {"ups": "Test UPS"}


def test_set_var_and_instcmd_return_tracking_id() -> None:
    tracked = "2DDC5036-F665-4D29-BE4C-0374D091D263"
    script = ScriptedCommands(["OK", f"OK TRACKING {tracked}", "OK"])
    assert script.set_var("ups", "ups.id", "my ups") is None
    assert script.instcmd("ups", "test.battery.start", "10") == tracked
    assert script.instcmd("ups", "load.off") is None
    assert script.sent == [
        'SET VAR ups ups.id "my ups"\n',
        "INSTCMD ups test.battery.start 10\n",
        "INSTCMD ups load.off\n",
    ]


def test_refused_set_carries_token_and_line() -> None:
    with pytest.raises(NutError) as caught:
        ScriptedCommands(["ERR ACCESS-DENIED"]).set_var("ups", "ups.id", "x")
    assert (caught.value.token, caught.value.line, str(caught.value)) == (
        "ACCESS-DENIED",
        "ERR ACCESS-DENIED",
        "Access denied",
    )


def test_session_commands_send_nut_verbs() -> None:
    script = ScriptedCommands(["OK", "OK", "OK", "OK MASTER-GRANTED", "OK FSD-SET", "OK", "PENDING", "OK Goodbye"])
    script.username("monuser")
    script.password("pa ss")
    script.login("ups")
    assert script.primary("ups") == ["MASTER-GRANTED"]
    script.fsd("ups")
    script.tracking(True)
    assert script.get_tracking("id-1") == "PENDING"
    script.logout()
    assert script.sent == [
        "USERNAME monuser\n",
        'PASSWORD "pa ss"\n',
        "LOGIN ups\n",
        "PRIMARY ups\n",
        "FSD ups\n",
        "SET TRACKING ON\n",
        "GET TRACKING id-1\n",
        "LOGOUT\n",
    ]
