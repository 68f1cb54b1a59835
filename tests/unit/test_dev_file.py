"""dummy-ups definition files: parsing (entries, annotations, comment blocks, bad lines) and TIMER sequencing."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.drivers.dev_file import (
    MAX_VALUE,
    Assignment,
    Sequence,
    Timer,
    decode,
    parse_dev_file,
)
from tests.nut_reference import DDL

DUMPS = sorted(DDL.glob("*/*.dev"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_variables_values_and_end_of_line_comments() -> None:
    text = (
        "battery.charge: 100\n"
        "ups.status: OL  CHRG\t#BAD: flaky\n"
        'ups.mfr: "American  Power"\n'
        "device.model: POWERWARE UPS \\\\ 500i\n"
        "ups.alarm:\n"
        "ups.id  x1   # no colon, as NUT allows\n"
    )
    parsed = parse_dev_file(text, "t.dev")
    assert [(e.name, e.value) for e in parsed.entries if isinstance(e, Assignment)] == [
        ("battery.charge", "100"),
        ("ups.status", "OL CHRG"),
        ("ups.mfr", "American  Power"),
        ("device.model", "POWERWARE UPS \\ 500i"),
        ("ups.alarm", ""),
        ("ups.id", "x1"),
    ]
    assert parsed.diagnostics == []


def test_annotations_declare_writable_variables_and_commands() -> None:
    text = (
        '#RW:output.voltage.nominal:ENUM:"220"\n'
        '#RW:output.voltage.nominal:ENUM:"230"\t#COMMENT: default\n'
        '#RW:ups.delay.shutdown:RANGE:"0" "600"\n'
        "#RW:ups.id:STRING:8\n"
        "#RW:outlet.1.desc:STRING\t#BAD\n"
        "#CMD:load.off\n"
        "#CMD:shutdown.return\t#BAD: Not working\n"
        "#CMD:LOAD.OFF\n"
    )
    parsed = parse_dev_file(text)
    assert parsed.diagnostics == []
    assert parsed.writable["output.voltage.nominal"].enums == ["220", "230"]
    assert parsed.writable["ups.delay.shutdown"].ranges == [(0, 600)]
    assert parsed.writable["ups.id"].aux == 8
    assert parsed.writable["outlet.1.desc"].aux == 32
    assert parsed.commands == ["load.off", "shutdown.return"]


def test_comment_blocks_are_comments_whatever_they_hold() -> None:
    text = (
        "# DEVICE:URL:REPORT: https://example.org/x\n"
        "# DEVICE:COMMENT-BLOCK:UPSCONF:\n"
        "# [ups]\n"
        "#   driver = usbhid-ups\n"
        "# DEVICE:EOC\n"
        "ups.status: OL\n"
        "# beeper.toggle:COMMENT:\n"
        "# ups.status: OB\n"
        "# beeper.toggle:EOC\n"
    )
    parsed = parse_dev_file(text)
    assert parsed.diagnostics == []
    assert [e.name for e in parsed.entries if isinstance(e, Assignment)] == ["ups.status"]


def test_unclosed_or_mismatched_blocks_are_warnings_naming_the_line() -> None:
    parsed = parse_dev_file("# DEVICE:COMMENT:\n# text\nups.load: 5\n# other:EOC\n# DEVICE:COMMENT:\n", "x.dev")
    messages = [(d.line, d.severity) for d in parsed.diagnostics]
    assert messages == [(4, "warning"), (5, "warning")]
    assert "never closed" in str(parsed.diagnostics[-1])
    assert [e.name for e in parsed.entries if isinstance(e, Assignment)] == ["ups.load"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("!!! garbage", "not a variable name"),
        ('ups.mfr: "a#b"', "Unbalanced word"),
        ("TIMER soon", "TIMER takes one whole number"),
        ("TIMER", "TIMER takes one whole number"),
        ("#RW:ups.id:BOGUS", "unknown type"),
        ("#RW:ups.id", "needs a type"),
        ('#RW:x:RANGE:"9" "1"', "above maximum"),
        ('#RW:x:RANGE:"a" "b"', "two integers"),
        ("#RW:x:STRING:zero", "positive length"),
        ('#RW:x:ENUM:"a" "b"', "one quoted value"),
        ("#CMD:", "valid name"),
        ("#CMD:load.off junk", "unexpected text"),
    ],
)
def test_a_bad_line_is_an_error_naming_file_and_line_and_the_rest_is_kept(line: str, reason: str) -> None:
    parsed = parse_dev_file(f"ups.load: 1\n{line}\nups.load: 2\n", "bad.dev")
    assert len(parsed.errors) == 1, parsed.diagnostics
    error = parsed.errors[0]
    assert (error.path, error.line) == ("bad.dev", 2)
    assert reason in error.message
    assert [e.value for e in parsed.entries if isinstance(e, Assignment)] == ["1", "2"]


def test_binary_overlong_and_truncated_input_never_raise() -> None:
    junk = bytes(range(256)) + b"\n" + b"ups.load: " + b"9" * 5000 + b'\nups.mfr: "no end\nups.model: x'
    parsed = parse_dev_file(decode(junk), "junk.dev")
    by_name = {e.name: e for e in parsed.entries if isinstance(e, Assignment)}
    assert len(by_name["ups.load"].value) == MAX_VALUE
    assert by_name["ups.mfr"].value == "no end"  # a missing closing quote ends with the line (a warning)
    assert by_name["ups.model"].value == "x"  # a last line without newline counts
    assert all(d.path == "junk.dev" and d.line > 0 for d in parsed.diagnostics)


def test_timers_are_entries() -> None:
    parsed = parse_dev_file("ups.status: OL\nTIMER 5\nups.status: OB\n")
    assert parsed.has_timers
    assert parsed.entries[1] == Timer(5, 2)


@pytest.mark.parametrize("path", DUMPS, ids=[p.name for p in DUMPS])
def test_every_ddl_dump_loads_without_error(path: Path) -> None:
    parsed = parse_dev_file(decode(path.read_bytes()), str(path))
    assert parsed.errors == []
    assert any(isinstance(e, Assignment) for e in parsed.entries)


def test_the_whole_ddl_is_there() -> None:
    assert len(DUMPS) == 527


def test_sequence_pauses_at_timers_and_loops() -> None:
    clock = FakeClock()
    entries = parse_dev_file("ups.status: OL\nTIMER 10\nups.status: OB\nbattery.charge: 50\nTIMER 5\n").entries
    sequence = Sequence(entries, loop=True, clock=clock)
    assert [e.value for e in sequence.due()] == ["OL"]
    assert sequence.seconds_to_next() == 10
    clock.now += 9.9
    assert sequence.due() == []
    clock.now += 0.1
    assert [e.value for e in sequence.due()] == ["OB", "50"]
    clock.now += 5
    assert sequence.due() == []  # the end of the file: the next call starts at the top
    assert [e.value for e in sequence.due()] == ["OL"]
    assert not sequence.finished


def test_sequence_once_stops_at_the_end() -> None:
    clock = FakeClock()
    entries = parse_dev_file("ups.status: OL\nTIMER 1\nups.status: OB\n").entries
    sequence = Sequence(entries, loop=False, clock=clock)
    assert [e.value for e in sequence.due()] == ["OL"]
    clock.now += 1
    assert [e.value for e in sequence.due()] == ["OB"]
    assert sequence.finished
    clock.now += 100
    assert sequence.due() == []
    assert sequence.seconds_to_next() is None


def test_bundled_default_sequence_cycles_through_a_power_cut() -> None:
    path = Path(__file__).resolve().parents[2] / "appliance" / "data" / "default.seq"
    parsed = parse_dev_file(path.read_text(), str(path))
    assert parsed.diagnostics == []
    statuses = [e.value for e in parsed.entries if isinstance(e, Assignment) and e.name == "ups.status"]
    assert statuses == ["OL", "OB DISCHRG", "OB DISCHRG LB", "OL CHRG"]
    clock = FakeClock()
    sequence = Sequence(parsed.entries, loop=True, clock=clock)
    seen: list[str] = []
    for _ in range(200):
        seen += [e.value for e in sequence.due() if e.name == "ups.status"]
        clock.now += 1
    assert seen[:5] == ["OL", "OB DISCHRG", "OB DISCHRG LB", "OL CHRG", "OL"]
