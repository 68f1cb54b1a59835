"""NUT's config files: real samples parse, realistic configs give the right values, broken ones the right errors."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.nutconf.check import FILES
from appliance.nutconf.diagnostics import ConfigError
from appliance.nutconf.ups_conf import load_ups_conf, parse_ups_conf
from appliance.nutconf.upsd_conf import parse_upsd_conf
from appliance.nutconf.upsd_users import load_upsd_users, parse_upsd_users
from appliance.nutconf.upsmon_conf import parse_upsmon_conf, parse_upssched_conf

ROOT = Path(__file__).resolve().parents[2]


def _pristine_debian_conffiles() -> dict[str, Path]:
    """Debian's NUT sample configs (installed as /etc/nut/*), kept only if unmodified (md5 from dpkg)."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Conffiles}\n", "nut-server", "nut-client"], capture_output=True, text=True
    ).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and Path(parts[0]).name in FILES:
            path = Path(parts[0])
            if path.exists() and hashlib.md5(path.read_bytes()).hexdigest() == parts[1]:
                found[path.name] = path
    return found


def test_debians_nut_samples_parse_without_errors() -> None:
    samples = _pristine_debian_conffiles()
    nut_files = set(FILES) - {"appliance.toml"}  # ours, not NUT's
    assert set(samples) == nut_files, "Debian's nut-server/nut-client samples must be installed and pristine"
    for name, path in samples.items():
        parse = FILES[name][0]
        _, diagnostics = parse(path.read_text(), str(path))
        assert [d for d in diagnostics if d.is_error] == [], name


def test_ups_conf_realistic() -> None:
    conf, diagnostics = parse_ups_conf(
        "maxretry = 3\nretrydelay = 10\npollinterval = 4\nuser = nut\n"
        '[office]\n  driver = dummy-ups\n  port = /etc/nut/office.seq\n  desc = "Office rack"\n  sdorder = 1\n'
        "  override.battery.charge.low = 30\n  default.input.voltage.nominal = 230\n  nolock\n"
        "[lab]\n  driver = usbhid-ups\n  port = auto\n  vendorid = 051d\n"
    )
    assert [d for d in diagnostics if d.is_error] == []
    assert (conf.maxretry, conf.retrydelay, conf.pollinterval, conf.user) == (3, 10, 4, "nut")
    office = conf.ups["office"]
    assert (office.driver, office.port, office.desc, office.sdorder) == (
        "dummy-ups",
        "/etc/nut/office.seq",
        "Office rack",
        1,
    )
    assert office.overrides() == {"battery.charge.low": "30"}
    assert office.defaults() == {"input.voltage.nominal": "230"}
    assert office.options["nolock"] is True
    assert office.driver_options() == {}
    assert conf.ups["lab"].driver_options() == {"vendorid": "051d"}
    assert list(conf.ups) == ["office", "lab"]


def test_upsd_conf_and_users_realistic() -> None:
    conf, diagnostics = parse_upsd_conf(
        "LISTEN 0.0.0.0 3493\nLISTEN ::\nMAXAGE 25\nMAXCONN 50\nCERTFILE /etc/nut/upsd.pem\ndebug_min 2\n"
        "ALLOW_NO_DEVICE true\nTRACKINGDELAY 60\n"
    )
    assert diagnostics == []
    assert [(x.address, x.port) for x in conf.listen] == [("0.0.0.0", 3493), ("::", 3493)]
    assert (conf.maxage, conf.maxconn, conf.certfile, conf.debug_min) == (25, 50, "/etc/nut/upsd.pem", 2)
    assert conf.allow_no_device and conf.trackingdelay == 60
    default, _ = parse_upsd_conf("")
    assert [(x.address, x.port) for x in default.effective_listen()] == [("::1", 3493), ("127.0.0.1", 3493)]
    assert [x.address for x in default.effective_listen("4")] == ["127.0.0.1"]

    users, diagnostics = parse_upsd_users(
        "[admin]\n  password = s3cret\n  actions = SET\n  actions = FSD\n  instcmds = ALL\n"
        "[monuser]\n  password = secret\n  upsmon slave\n"
        "[ops]\n  password=x\n  instcmds = test.battery.start beeper.toggle\n  upsmon = master\n"
    )
    assert diagnostics == []
    admin, mon, ops = users["admin"], users["monuser"], users["ops"]
    assert admin.may("set") and admin.may("FSD") and admin.may_run("load.off") and not admin.may("LOGIN")
    assert mon.upsmon == "secondary" and mon.may("LOGIN") and not mon.may("FSD") and not mon.may("SET")
    assert ops.upsmon == "primary" and ops.may("MASTER") and ops.may("PRIMARY") and ops.may("FSD")
    assert ops.may_run("beeper.toggle") and not ops.may_run("load.off")


def test_upsmon_and_upssched_realistic() -> None:
    conf, diagnostics = parse_upsmon_conf(
        "MONITOR ups@localhost 1 upsmon pass primary\nMONITOR nas@[::1]:3494 2 monuser secret slave\n"
        'MINSUPPLIES 2\nSHUTDOWNCMD "/sbin/shutdown -h +0"\nNOTIFYCMD /usr/sbin/upssched\n'
        'NOTIFYMSG ONBATT "UPS %s is on battery!"\nNOTIFYFLAG ONBATT SYSLOG+WALL+EXEC\nNOTIFYFLAG ONLINE IGNORE\n'
        "POLLFREQ 2\nHOSTSYNC 20\nDEADTIME 30\nFINALDELAY 0\nPOWERDOWNFLAG /etc/killpower\nOFFDURATION 10\n"
    )
    assert diagnostics == []
    first, second = conf.monitors
    assert (first.ups, first.host, first.port, first.is_primary) == ("ups", "localhost", 3493, True)
    assert (second.ups, second.host, second.port, second.powervalue, second.role) == (
        "nas",
        "::1",
        3494,
        2,
        "secondary",
    )
    assert conf.shutdowncmd == "/sbin/shutdown -h +0"
    assert conf.message("ONBATT", "ups@localhost") == "UPS ups@localhost is on battery!"
    assert conf.message("LOWBATT", "x") == "UPS x battery is low"
    assert conf.flags("ONBATT") == {"SYSLOG", "WALL", "EXEC"}
    assert conf.flags("ONLINE") == {"IGNORE"}
    assert conf.flags("CAL") == {"SYSLOG"}
    assert (conf.pollfreq, conf.hostsync, conf.deadtime, conf.finaldelay, conf.offduration) == (2, 20, 30, 0, 10)

    sched, diagnostics = parse_upssched_conf(
        "CMDSCRIPT /usr/bin/upssched-cmd\nPIPEFN /run/nut/upssched.pipe\nLOCKFN /run/nut/upssched.lock\n"
        "AT ONBATT * START-TIMER onbatt 300\nAT ONLINE * CANCEL-TIMER onbatt online\nAT LOWBATT ups EXECUTE now\n"
    )
    assert diagnostics == []
    assert [r.action for r in sched.rules] == ["START-TIMER", "CANCEL-TIMER", "EXECUTE"]
    assert sched.rules[0].matches("ONBATT", "nas@host") and not sched.rules[2].matches("LOWBATT", "nas")


# (file, text, line, key, message fragment)
BROKEN = [
    ("ups.conf", "pollintervall = 5\n", 1, "pollintervall", "did you mean 'pollinterval'"),
    ("ups.conf", "pollinterval = 0\n", 1, "pollinterval", "below the minimum 1"),
    ("ups.conf", "maxretry = many\n", 1, "maxretry", "not a whole number"),
    ("ups.conf", "[ups]\n  port = /dev/x\n", 1, "[ups]", "no 'driver'"),
    ("ups.conf", "[ups]\n  driver = dummy-ups\n", 1, "[ups]", "no 'port'"),
    ("ups.conf", "[a]\ndriver=dummy-ups\nport=x\n[a]\ndriver=dummy-ups\nport=y\n", 4, "[a]", "duplicate UPS"),
    ("ups.conf", "[a]\ndriver=dummy-ups\nport=x\nmod=dummy-loop\n", 4, "mod", "did you mean 'mode'"),
    ("ups.conf", "[a]\ndriver=dummy-ups\nport=x\nsdorder=first\n", 4, "sdorder", "not a whole number"),
    ("ups.conf", '[a]\ndriver=dummy-ups\nport=x\ndesc="a # b"\n', 4, None, "unescaped #"),
    ("ups.conf", "[a]\ndriver dummy-ups\nport=x\n", 2, "driver", "expected 'key = value'"),
    ("ups.conf", "[my ups]\ndriver=dummy-ups\nport=x\n", 1, "[my ups]", "may not be empty or contain spaces"),
    ("upsd.conf", "LISTN 0.0.0.0\n", 1, "LISTN", "did you mean 'LISTEN'"),
    ("upsd.conf", "listen 0.0.0.0\n", 1, "listen", "LISTEN"),
    ("upsd.conf", "LISTEN 0.0.0.0 70000\n", 1, "LISTEN", "1 to 65535"),
    ("upsd.conf", "MAXAGE soon\n", 1, "MAXAGE", "not a whole number"),
    ("upsd.conf", "MAXCONN\n", 1, "MAXCONN", "needs a value"),
    ("upsd.conf", "ALLOW_NO_DEVICE maybe\n", 1, "ALLOW_NO_DEVICE", "not a boolean"),
    ("upsd.users", "password = x\n", 1, "password", "outside a [user] section"),
    ("upsd.users", "[u]\n  pasword = x\n", 2, "pasword", "did you mean 'password'"),
    ("upsd.users", "[u]\n  actions = SET FDS\n", 2, "actions", "unknown action 'FDS'"),
    ("upsd.users", "[u]\n  upsmon = boss\n", 2, "upsmon", "not a upsmon type"),
    ("upsmon.conf", "MONITOR ups@localhost 1 user pass chief\n", 1, "MONITOR", "not primary or secondary"),
    ("upsmon.conf", "MONITOR ups@localhost 1 pass primary\n", 1, "MONITOR", "old-style MONITOR"),
    ("upsmon.conf", "MONITOR ups@host:99999 1 u p primary\n", 1, "MONITOR", "1 to 65535"),
    ("upsmon.conf", "NOTIFYFLAG ONBAT SYSLOG\n", 1, "NOTIFYFLAG", "did you mean 'ONBATT'"),
    ("upsmon.conf", "NOTIFYFLAG ONBATT SYSLOG+EMAIL\n", 1, "NOTIFYFLAG", "unknown notify flag 'EMAIL'"),
    ("upsmon.conf", "POLLFREQ fast\n", 1, "POLLFREQ", "not a whole number"),
    ("upsmon.conf", "SHUTDOWNCOMMAND halt\n", 1, "SHUTDOWNCOMMAND", "did you mean 'SHUTDOWNCMD'"),
    ("upssched.conf", "CMDSCRIPT /x\nAT ONBATT * START-TIMER t soon\n", 2, "AT", "not a whole number"),
    ("upssched.conf", "CMDSCRIPT /x\nAT ONBATT * BEGIN-TIMER t 5\n", 2, "AT", "use START-TIMER, CANCEL-TIMER"),
]


@pytest.mark.parametrize(("name", "text", "line", "key", "fragment"), BROKEN)
def test_broken_files_name_line_key_and_fix(name: str, text: str, line: int, key: str | None, fragment: str) -> None:
    _, diagnostics = FILES[name][0](text, name)
    errors = [d for d in diagnostics if d.is_error]
    assert errors, f"no error for {text!r}"
    assert any(d.line == line and d.key == key and fragment in str(d) for d in errors), [str(d) for d in errors]
    assert all(str(d).startswith(f"{name}:") for d in errors)


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "ups.conf"
    path.write_text("pollintervall = 5\n[a]\n  port = x\n")
    with pytest.raises(ConfigError) as info:
        load_ups_conf(path)
    assert len(info.value.diagnostics) == 2
    with pytest.raises(ConfigError, match="cannot read"):
        load_upsd_users(tmp_path / "missing.users")


def test_check_config_reports_errors_from_three_files_at_once(tmp_path: Path) -> None:
    (tmp_path / "ups.conf").write_text("[ups]\n  driver = dummy-ups\n  port = /x.dev\n  mdoe = dummy-loop\n")
    (tmp_path / "upsd.users").write_text("[admin]\n  password = hunter2\n  actoins = SET\n")
    (tmp_path / "upsd.conf").write_text("LISTEN 127.0.0.1 3493\n")
    (tmp_path / "appliance.toml").write_text('[mqtt]\nhots = "broker"\n')
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "check-config", "--config-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "ups.conf:4: mdoe: not an option of driver dummy-ups (did you mean 'mode'?)" in result.stderr
    assert "upsd.users:3: actoins: unknown setting (did you mean 'actions'?)" in result.stderr
    assert "appliance.toml:2: hots: unknown key in [mqtt] (did you mean 'host'?)" in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert f"{tmp_path / 'upsd.conf'}: OK" in result.stdout


def test_check_config_ok_and_missing_ups_conf(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "appliance", "check-config", "--config-dir", str(tmp_path)]
    missing = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 1 and "ups.conf: file not found" in missing.stderr
    (tmp_path / "ups.conf").write_text("[ups]\n  driver = dummy-ups\n  port = /x.dev\n")
    ok = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and ok.stderr == ""


config_text = st.text(alphabet=st.sampled_from(list('[]=" #\\\nabcdeprtuvx.-_0123456789\t')), max_size=400)


@given(config_text)
def test_parsers_never_raise(text: str) -> None:
    for parse, _ in FILES.values():
        _, diagnostics = parse(text, "fuzz")
        assert all(d.path == "fuzz" for d in diagnostics)
