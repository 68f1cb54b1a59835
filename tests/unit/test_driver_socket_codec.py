"""The driver-socket line codec: framing, escaping, limits, fuzzing."""

from hypothesis import given
from hypothesis import strategies as st

from appliance.protocol.driver_socket import MAX_LINE, LineCodec, ProtocolError, format_message


def test_format_quotes_values_and_escapes() -> None:
    assert format_message(("SETINFO", "ups.mfr", 'A "B"')) == b'SETINFO ups.mfr "A \\"B\\""\n'
    assert format_message(("ADDCMD", "load.off")) == b"ADDCMD load.off\n"
    assert format_message(("SETINFO", "x", "")) == b'SETINFO x ""\n'
    assert format_message(("TRACKING", "abc-1", "0")) == b"TRACKING abc-1 0\n"


def test_split_across_reads() -> None:
    codec = LineCodec()
    assert codec.receive(b'SETINFO ups.status "O') == []
    assert codec.receive(b'L"\nDATA') == [("SETINFO", "ups.status", "OL")]
    assert codec.receive(b"OK\n") == [("DATAOK",)]


def test_overlong_line_is_dropped_and_codec_recovers() -> None:
    codec = LineCodec()
    events = codec.receive(b"SETINFO x " + b"a" * (MAX_LINE + 10))
    events += codec.receive(b"bbbb\nDATAOK\n")
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [("DATAOK",)]


def test_hash_in_quotes_is_reported() -> None:
    events = LineCodec().receive(b'SETINFO x "a#b"\nPING\n')
    assert isinstance(events[0], ProtocolError)
    assert events[-1] == ("PING",)


@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30), min_size=2))
def test_round_trip(words: list[str]) -> None:
    msg = ("SETINFO", *words)
    assert LineCodec().receive(format_message(msg)) == [msg]


@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    codec = LineCodec()
    for i in range(0, len(data), 7):
        codec.receive(data[i : i + 7])


def test_unclosed_quote_does_not_swallow_the_next_lines() -> None:
    events = LineCodec().receive(b'SETINFO x "open\nPING\nDATAOK\n')
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [("PING",), ("DATAOK",)]


@given(st.text(alphabet=st.characters(min_codepoint=0x09, max_codepoint=0x7F), max_size=80))
def test_fast_path_agrees_with_the_state_machine(text: str) -> None:
    from appliance.nutconf.lexer import Lexer

    line = text.replace("\n", " ") + "\n"
    expected = [ln.words for ln in Lexer(keep_empty=True).feed(line) if not ln.error]
    got = [e for e in LineCodec(keep_empty=True).receive(line.encode()) if not isinstance(e, ProtocolError)]
    assert got == expected
