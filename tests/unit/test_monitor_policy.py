"""The monitor's pure policy against NUT upsmon's rules, with a fake clock."""

from __future__ import annotations

from appliance.monitor.policy import Notice, Policy
from appliance.nutconf.upsmon_conf import parse_upsmon_conf

PRIMARY = "MONITOR ups@localhost 1 admin pw primary\n"
SECONDARY = "MONITOR ups@nas 1 mon pw secondary\n"
TIMINGS = "DEADTIME 15\nHOSTSYNC 15\nNOCOMMWARNTIME 300\nRBWARNTIME 43200\n"


def policy(text: str, now: float = 0.0) -> Policy:
    conf, diagnostics = parse_upsmon_conf(text + TIMINGS)
    assert diagnostics == []
    return Policy(conf, now)


def kinds(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.kind for n in decision.notices]


def test_power_failure_on_a_primary_sets_fsd_then_shuts_down() -> None:
    p = policy(PRIMARY)
    assert kinds(p.observe("ups@localhost", "OL", 1)) == []  # no ONLINE at start-up
    assert kinds(p.observe("ups@localhost", "OB DISCHRG", 2)) == ["ONBATT"]
    assert kinds(p.observe("ups@localhost", "OB DISCHRG", 3)) == []
    low = p.observe("ups@localhost", "OB DISCHRG LB", 4)
    assert kinds(low) == ["LOWBATT", "SHUTDOWN"]
    assert low.set_fsd == ["ups@localhost"] and low.shutdown
    again = p.observe("ups@localhost", "FSD OB LB", 5)
    assert kinds(again) == ["FSD"] and not again.shutdown and again.set_fsd == []


def test_power_returns_before_low_battery() -> None:
    p = policy(PRIMARY)
    p.observe("ups@localhost", "OB", 1)
    back = p.observe("ups@localhost", "OL CHRG", 2)
    assert kinds(back) == ["ONLINE"] and not back.shutdown


def test_secondary_shuts_down_on_fsd_and_waits_hostsync_for_its_primary() -> None:
    p = policy(SECONDARY)
    p.observe("ups@nas", "OL", 0)
    waiting = p.observe("ups@nas", "OB LB", 10)
    assert kinds(waiting) == ["ONBATT", "LOWBATT"] and not waiting.shutdown and waiting.set_fsd == []
    assert not p.observe("ups@nas", "OB LB", 15).shutdown  # 15 s after the last non-critical poll (t=0)
    gave_up = p.observe("ups@nas", "OB LB", 16)  # more than HOSTSYNC: it gives up on the primary
    assert gave_up.shutdown
    late = policy(SECONDARY)
    assert late.observe("ups@nas", "OB LB", 100).shutdown  # first seen critical: no wait, as NUT

    q = policy(SECONDARY)
    q.observe("ups@nas", "OL", 0)
    fsd = q.observe("ups@nas", "FSD OL", 1)
    assert kinds(fsd) == ["FSD", "SHUTDOWN"] and fsd.shutdown


def test_lost_contact_while_on_battery_becomes_critical_after_deadtime() -> None:
    p = policy(PRIMARY)
    p.observe("ups@localhost", "OB", 0)
    lost = p.observe("ups@localhost", None, 5)
    assert kinds(lost) == ["COMMBAD"] and not lost.shutdown
    assert not p.tick(14).shutdown
    assert p.tick(16).shutdown


def test_lost_contact_while_on_line_is_only_reported() -> None:
    p = policy(PRIMARY)
    p.observe("ups@localhost", "OL", 0)
    assert kinds(p.observe("ups@localhost", None, 1)) == ["COMMBAD"]
    assert kinds(p.tick(200)) == []
    assert kinds(p.tick(302)) == ["NOCOMM"]
    assert kinds(p.tick(400)) == []
    assert kinds(p.tick(603)) == ["NOCOMM"]
    assert kinds(p.observe("ups@localhost", "OL", 604)) == ["COMMOK"]
    assert not p.tick(10_000).shutdown


def test_calibration_is_never_critical_and_pairs_are_reported() -> None:
    p = policy(PRIMARY)
    p.observe("ups@localhost", "OL", 0)
    cal = p.observe("ups@localhost", "OB LB CAL", 1)
    assert kinds(cal) == ["ONBATT", "LOWBATT", "CAL"] and not cal.shutdown
    assert kinds(p.observe("ups@localhost", "OL BYPASS", 2)) == ["ONLINE", "NOTCAL", "BYPASS"]
    assert kinds(p.observe("ups@localhost", "OL", 3)) == ["NOTBYPASS"]


def test_replace_battery_is_repeated_every_rbwarntime() -> None:
    p = policy(PRIMARY)
    assert kinds(p.observe("ups@localhost", "OL RB", 0)) == ["REPLBATT"]
    assert kinds(p.tick(43_000)) == []
    assert kinds(p.tick(43_201)) == ["REPLBATT"]


def test_minsupplies_counts_power_values() -> None:
    p = policy("MONITOR a@h 1 u p primary\nMONITOR b@h 1 u p primary\nMINSUPPLIES 1\n")
    p.observe("a@h", "OL", 0)
    p.observe("b@h", "OL", 0)
    one_down = p.observe("a@h", "OB LB", 1)
    assert not one_down.shutdown and one_down.set_fsd == ["a@h"]
    both_down = p.observe("b@h", "OB LB", 2)
    assert both_down.shutdown and Notice("SHUTDOWN", "") in both_down.notices
