"""Pure contact-closure logic: genericups' table and overrides, debounce, generic_gpio's rules (NUT's vectors)."""

from __future__ import annotations

import pytest

from appliance.drivers.contact_lines import (
    CABLE_TYPES,
    RULE_AND,
    RULE_NOT,
    RULE_OR,
    TIOCM_CD,
    TIOCM_CTS,
    TIOCM_DSR,
    TIOCM_DTR,
    TIOCM_RI,
    TIOCM_RTS,
    TIOCM_ST,
    ContactConfigError,
    Debouncer,
    InputSignal,
    cable_status,
    cable_type,
    configure_cable,
    gpio_status,
    levels_from,
    parse_debounce,
    parse_input_override,
    parse_output_override,
    parse_rules,
    type_listing,
)


# -- genericups table ----------------------------------------------------------------------------
def test_table_has_the_24_types_of_nut_2_8_0() -> None:
    assert len(CABLE_TYPES) == 24
    assert type_listing().splitlines()[1] == "1: APC Back-UPS (940-0095A/C cable)"
    assert type_listing().splitlines()[23].startswith("23: FTTx")


@pytest.mark.parametrize(
    ("upstype", "cp", "sd"),
    [
        ("0", TIOCM_DTR | TIOCM_RTS, TIOCM_RTS),
        ("3", TIOCM_DTR, TIOCM_DTR | TIOCM_RTS),
        ("4", TIOCM_RTS, 0),
        ("8", TIOCM_DTR, None),
        ("9", 0, TIOCM_RTS),
        ("11", TIOCM_DTR, TIOCM_ST),
        ("18", TIOCM_DTR, None),
        ("23", TIOCM_RTS, 0),
    ],
)
def test_cable_power_and_shutdown_lines(upstype: str, cp: int, sd: int | None) -> None:
    cable = cable_type(upstype)
    assert (cable.cp, cable.sd) == (cp, sd)


@pytest.mark.parametrize(
    ("upstype", "flags", "status"),
    [
        ("1", 0, ["OL"]),  # OL = -RNG
        ("1", TIOCM_RI, ["OB"]),
        ("1", TIOCM_RI | TIOCM_CD, ["LB", "OB"]),  # LB first, as genericups emits it
        ("4", TIOCM_CTS | TIOCM_CD, ["OL"]),  # OL = CTS, LB = -CD
        ("4", TIOCM_CTS, ["LB", "OL"]),
        ("9", TIOCM_CTS, ["LB", "OL"]),  # OL = -CD, LB = CTS
        ("13", TIOCM_CD | TIOCM_CTS, ["OL"]),
        ("23", TIOCM_CTS | TIOCM_CD | TIOCM_RI | TIOCM_DSR, ["OL"]),
        ("23", TIOCM_CD, ["OB", "RB", "BYPASS"]),
    ],
)
def test_status_from_lines(upstype: str, flags: int, status: list[str]) -> None:
    assert cable_status(cable_type(upstype), flags) == status


@pytest.mark.parametrize("bad", [None, "24", "-1", "x", ""])
def test_unknown_type_names_the_option(bad: str | None) -> None:
    with pytest.raises(ContactConfigError, match="upstype"):
        cable_type(bad)


def test_input_overrides() -> None:
    assert parse_input_override("OL", "CTS") == InputSignal(TIOCM_CTS, TIOCM_CTS)
    assert parse_input_override("OL", "-CTS") == InputSignal(TIOCM_CTS, 0)
    assert parse_input_override("LB", "DCD -DSR") == InputSignal(TIOCM_CD | TIOCM_DSR, TIOCM_CD)
    assert parse_input_override("RB", "none").is_disabled()
    assert parse_input_override("RB", "NULL").is_disabled()


def test_output_overrides() -> None:
    assert parse_output_override("CP", "DTR+RTS") == TIOCM_DTR | TIOCM_RTS
    assert parse_output_override("SD", "-DTR RTS") == TIOCM_RTS
    assert parse_output_override("SD", "ST") == TIOCM_ST
    assert parse_output_override("CP", "none") == 0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("OL", "DTR", "OL='DTR': DTR is an output line"),
        ("LB", "CTX", "LB='CTX': no line CTX"),
        ("CP", "CTS", "CP='CTS': CTS is an input line"),
        ("SD", "FOO", "SD='FOO': no line FOO"),
        ("SD", "12", "SD='12': not a list of line names"),
    ],
)
def test_bad_override_names_the_option_and_line(option: str, value: str, message: str) -> None:
    parse = parse_input_override if option in ("OL", "LB") else parse_output_override
    with pytest.raises(ContactConfigError) as err:
        parse(option, value)
    assert str(err.value).startswith(message)


def test_configure_cable_applies_overrides() -> None:
    cable = configure_cable({"upstype": "4", "OL": "-DSR", "SD": "DTR", "BYPASS": "RNG"})
    assert cable.ol == InputSignal(TIOCM_DSR, 0)
    assert cable.sd == TIOCM_DTR
    assert cable.cp == TIOCM_RTS
    assert cable_status(cable, TIOCM_RI | TIOCM_CD) == ["OL", "BYPASS"]
    assert cable_status(configure_cable({"upstype": "4", "OL": "none"}), 0) == ["LB", "OL"]


# -- debounce ------------------------------------------------------------------------------------
def test_debounce_accepts_a_stable_reading_after_settle() -> None:
    debouncer = Debouncer(0.03, "OL")
    assert debouncer.feed("OB", 10.0) is None
    assert debouncer.deadline == pytest.approx(10.03)
    assert debouncer.expire(10.02) is None
    assert debouncer.expire(10.03) == "OB"
    assert debouncer.accepted == "OB"
    assert debouncer.deadline is None


def test_debounce_drops_a_glitch_and_restarts_on_change() -> None:
    debouncer = Debouncer(0.03, 0)
    debouncer.feed(1, 0.0)
    assert debouncer.feed(0, 0.01) is None  # back before settling: a glitch
    assert debouncer.expire(1.0) is None and debouncer.accepted == 0
    debouncer.feed(1, 2.0)
    debouncer.feed(2, 2.02)  # another change restarts the wait
    assert debouncer.expire(2.04) is None
    assert debouncer.expire(2.05) == 2


def test_zero_debounce_accepts_at_once() -> None:
    assert Debouncer(0.0, 0).feed(5, 1.0) == 5


@pytest.mark.parametrize(("value", "seconds"), [(None, 0.03), ("0", 0.0), ("50", 0.05)])
def test_debounce_option(value: str | None, seconds: float) -> None:
    assert parse_debounce(value) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["-1", "fast", "20000"])
def test_bad_debounce_names_the_option(bad: str) -> None:
    with pytest.raises(ContactConfigError, match="debounce"):
        parse_debounce(bad)


# -- generic_gpio rules: NUT's tests/generic_gpio_test.txt, restated --------------------------------
def _translated(text: str) -> tuple[list[int], int, list[tuple[str, list[int]]]]:
    """NUT's compiled view: lines in order, max line, and each rule with lines as indexes into that order."""
    rules = parse_rules(text)
    lines = rules.lines
    compiled = [(rule.state, [lines.index(item) if item >= 0 else item for item in rule.items]) for rule in rules.rules]
    return lines, max(lines), compiled


def test_rules_compile_like_nut() -> None:
    lines, max_line, compiled = _translated("OL=^0;OB=0;LB=3;RB=1;DISCHRG=0&^6;BYPASS=6;")
    assert (len(lines), max_line) == (4, 6)
    assert compiled == [
        ("OL", [RULE_NOT, 0]),
        ("OB", [0]),
        ("LB", [1]),
        ("RB", [2]),
        ("DISCHRG", [0, RULE_AND, RULE_NOT, 3]),
        ("BYPASS", [3]),
    ]
    assert _translated("DISCHRG=0&^6;") == ([0, 6], 6, [("DISCHRG", [0, RULE_AND, RULE_NOT, 1])])
    lines, _, compiled = _translated("DISCHRG=0&^6|^2;")
    assert len(lines) == 3
    assert compiled == [("DISCHRG", [0, RULE_AND, RULE_NOT, 1, RULE_OR, RULE_NOT, 2])]


NUT_BAD_RULES = [";", "=", "0", "^", "OB", "OB=", "OB=;", "OB=a;", "OB=&;", "OB=^;", "OB=^a;", "OB=^=;", "OB=^&;"]
NUT_BAD_RULES += ["OB=^|;", "OB=^2a;", "OB=^2^1;", "OB=^2&a;", "OB=^2&&;", "OB=^2&|;", "OB=^2|a;", "OB=^2|&;"]
NUT_BAD_RULES += ["OB=^2||;", "OB=^2", "OL=1;OB=2;%"]


@pytest.mark.parametrize("text", NUT_BAD_RULES)
def test_bad_rules_are_rejected_naming_the_option(text: str) -> None:
    with pytest.raises(ContactConfigError, match=r"^rules: "):
        parse_rules(text)


def test_blanks_between_tokens_are_allowed() -> None:
    assert [rule.state for rule in parse_rules(" OL = ^0 ; OB = 0 ; ").rules] == ["OL", "OB"]


CYBERSHIELD = "OL=^0;OB=0;LB=3;RB=1;DISCHRG=0&^6;BYPASS=6;"


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # (rules, line values in order of first use, each rule's value) from NUT's "states" vectors
        ("DISCHRG=0&^6;", "00", "0"),
        ("DISCHRG=0&^6;", "10", "1"),
        ("DISCHRG=0&^6;", "01", "0"),
        ("DISCHRG=0&^6;", "11", "0"),
        (CYBERSHIELD, "0000", "100000"),
        (CYBERSHIELD, "1000", "010010"),
        (CYBERSHIELD, "0100", "101000"),
        (CYBERSHIELD, "1110", "011110"),
        (CYBERSHIELD, "0001", "100001"),
        (CYBERSHIELD, "1001", "010001"),
        (CYBERSHIELD, "1111", "011101"),
        ("OL=^1&2;", "01", "1"),
        ("OL=^1&^2;", "00", "1"),
        ("OL=1|2;", "10", "1"),
        ("OL=1|2;", "00", "0"),
        ("TSTAO=1&2|3;", "110", "1"),
        ("TSTAO=1&2|3;", "100", "0"),
        ("TSTAO=1&2|3;", "001", "1"),
        ("TSTOA=1|2&3;", "100", "1"),
        ("TSTOA=1|2&3;", "010", "0"),
        ("TSTOA=1|2&3;", "011", "1"),
    ],
)
def test_rule_values_match_nut_vectors(text: str, values: str, expected: str) -> None:
    rules = parse_rules(text)
    levels = levels_from(rules.lines, [v == "1" for v in values])
    assert "".join("1" if rule.evaluate(levels) else "0" for rule in rules.rules) == expected


UPDATE_RULES = "OL=^0;OB=0&^6;LB=3&^6;RB=1&^6;DISCHRG=0&^6;BYPASS=6;"


@pytest.mark.parametrize(
    ("values", "charge_low", "status", "charger", "charge"),
    [
        # NUT's "update" vectors: status, battery.charger.status, battery.charge.low, expected battery.charge
        ("0000", None, "OL", None, None),
        ("1000", None, "OB DISCHRG", "discharging", None),
        ("0100", None, "OL BYPASS", None, None),
        ("1100", None, "BYPASS", None, None),
        ("1010", None, "OB LB DISCHRG", "discharging", None),
        ("0011", None, "OL LB RB", None, None),
        ("0000", "10", "OL", None, "100"),
        ("0100", "10", "OL BYPASS", None, None),
        ("0010", "10", "OL LB", None, "10"),
        ("1011", "10", "OB LB RB DISCHRG", "discharging", "10"),
        ("1111", "10", "BYPASS", None, None),
    ],
)
def test_gpio_status_matches_nut_update_vectors(
    values: str, charge_low: str | None, status: str, charger: str | None, charge: str | None
) -> None:
    rules = parse_rules(UPDATE_RULES)
    result = gpio_status(rules, levels_from(rules.lines, [v == "1" for v in values]), charge_low)
    assert (" ".join(result.tokens), result.charger_status, result.battery_charge) == (status, charger, charge)
