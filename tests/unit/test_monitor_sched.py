"""upssched's timers as a pure state machine (appliance.monitor.sched.Timers), with the clock passed in."""

from __future__ import annotations

from appliance.monitor.sched import SchedCommand, Timers
from appliance.nutconf.upsmon_conf import parse_upssched_conf

CONF = """
CMDSCRIPT /usr/bin/upssched-cmd
AT ONBATT * START-TIMER onbatt 30
AT ONLINE * CANCEL-TIMER onbatt
AT ONLINE * CANCEL-TIMER early ups-back-quickly
AT LOWBATT ups@host EXECUTE lowbatt
AT COMMBAD other@host START-TIMER commbad 10
AT COMMBAD * START-TIMER anycomm 5
"""


def timers() -> Timers:
    conf, problems = parse_upssched_conf(CONF)
    assert problems == []
    return Timers(conf)


def test_timer_fires_after_its_delay_and_only_once() -> None:
    t = timers()
    assert t.notice("ONBATT", "ups@host", now=100.0) == []
    assert t.next_deadline() == 130.0
    assert t.expire(129.9) == []
    assert t.expire(130.0) == [SchedCommand("onbatt", "ONBATT", "ups@host")]
    assert t.expire(500.0) == [] and t.next_deadline() is None


def test_cancel_stops_a_timer_and_runs_its_command_only_when_none_was_running() -> None:
    t = timers()
    t.notice("ONBATT", "ups@host", now=0.0)
    # onbatt was running: cancelled silently; "early" was not: its command runs
    assert t.notice("ONLINE", "ups@host", now=10.0) == [SchedCommand("ups-back-quickly", "ONLINE", "ups@host")]
    assert t.expire(1000.0) == []


def test_execute_runs_at_once_for_the_named_ups_only() -> None:
    t = timers()
    assert t.notice("LOWBATT", "ups@host", now=0.0) == [SchedCommand("lowbatt", "LOWBATT", "ups@host")]
    assert t.notice("LOWBATT", "ups@elsewhere", now=0.0) == []
    assert t.notice("lowbatt", "ups@host", now=0.0) == [SchedCommand("lowbatt", "lowbatt", "ups@host")]


def test_every_matching_rule_acts_and_timers_expire_in_deadline_order() -> None:
    t = timers()
    t.notice("COMMBAD", "other@host", now=0.0)  # matches both COMMBAD rules
    assert sorted(t.running) == ["anycomm", "commbad"]
    assert [c.argument for c in t.expire(60.0)] == ["anycomm", "commbad"]


def test_starting_a_running_timer_keeps_the_first_deadline() -> None:
    # NUT queues a duplicate that fires a second time; one timer per name is kept here (see the module docstring)
    t = timers()
    t.notice("ONBATT", "ups@host", now=0.0)
    t.notice("ONBATT", "ups@host", now=20.0)
    assert t.next_deadline() == 30.0
    assert len(t.expire(100.0)) == 1
