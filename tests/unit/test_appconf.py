"""appliance.toml: the hosts without NUT, every mistake reported with its line and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.appconf import HostSpec, load_appconf, parse_appconf
from appliance.nutconf.diagnostics import ConfigError

GOOD = """
[shutdown]
dry_run = true

[[shutdown.host]]
name = "nas"
tier = 1
address = "192.168.1.20"
key = "/etc/nut/id_ed25519"
command = "shutdown -h now"

[[shutdown.host]]
name = "printer"
method = "http"
url = "https://192.168.1.30/api/off?now=1"
timeout = 5
"""


def test_a_good_file_with_defaults_filled_in() -> None:
    conf, problems = parse_appconf(GOOD)
    assert problems == []
    assert conf.dry_run is True
    nas, printer = conf.hosts
    assert nas == HostSpec(
        name="nas", method="ssh", address="192.168.1.20", port=22, tier=1, key="/etc/nut/id_ed25519",
        command="shutdown -h now",
    )  # fmt: skip
    assert (printer.address, printer.port, printer.http_method, printer.timeout) == ("192.168.1.30", 443, "POST", 5.0)


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        (
            '[[shutdown.host]]\nname = "a"\naddress = "h"\nkey = "k"\nadress = "x"\n',
            5,
            "adress",
            "did you mean 'address'",
        ),
        ('[[shutdown.host]]\naddress = "h"\nkey = "k"\n', 1, None, "needs 'name'"),
        (
            '[[shutdown.host]]\nname = "a"\naddress = "h"\nmethod = "sshd"\nkey = "k"\n',
            4,
            "method",
            "did you mean 'ssh'",
        ),
        ('[[shutdown.host]]\nname = "a"\nmethod = "http"\naddress = "h"\n', 1, None, "needs 'url'"),
        ('[[shutdown.host]]\nname = "a"\naddress = "h"\n', 1, None, "needs 'key'"),
        ('[[shutdown.host]]\nname = "a"\naddress = "h"\nkey = "k"\ntimeout = "30"\n', 5, "timeout", "a number"),
        ('[[shutdown.host]]\nname = "a"\naddress = "h"\nkey = "k"\ntier = -1\n', 5, "tier", "negative"),
        ('[[shutdown.host]]\nname = "a"\naddress = "h"\nkey = "k"\ntier = 1.5\n', 5, "tier", "a whole number"),
        ('[[shutdown.host]]\nname = "a"\naddress = "h"\nkey = "k"\nport = 70000\n', 5, "port", "at most 65535"),
        ('[[shutdown.host]]\nname = "a"\naddress = "h"\nkey = "k"\ntimeout = 0\n', 5, "timeout", "positive"),
        ('[[shutdown.host]]\nname = "a"\nmethod = "http"\nurl = "ftp://h/x"\n', 4, "url", "http:// or https://"),
        ('[[shutdown.host]]\nname = "a"\nmethod = "http"\nurl = "http://h:99999/"\n', 4, "url", "not a valid URL"),
        (
            '[[shutdown.host]]\nname = "a"\nmethod = "http"\nurl = "http://h/"\nhttp_method = "PO ST"\n',
            5,
            "http_method",
            "not an HTTP method",
        ),
        ("[shutdown]\ndry_run = 1\n", 2, "dry_run", "true or false"),
        ('shutdown = "now"\n', 1, "shutdown", "must be a [shutdown] table"),
        ('[shutdown]\nhost = "nas"\n', 2, "shutdown.host", "[[shutdown.host]] table"),
        ("[shutdown]\nhost = [1]\n", 2, "shutdown.host", "[[shutdown.host]] table"),
        ("[shutdown]\ndryrun = true\n", 2, "dryrun", "did you mean 'dry_run'"),
        ("[shutdwn]\n", 1, "shutdwn", "did you mean 'shutdown'"),
        ('[[shutdown.host]]\nname = "a"\naddress = \n', 3, None, "not valid TOML"),
        (
            '[[shutdown.host]]\nname = "a"\naddress = "h"\nkey = "k"\n[[shutdown.host]]\nname = "a"\naddress = "i"\n'
            'key = "k"\n',
            6,
            "name",
            "named twice",
        ),
    ],
)
def test_every_mistake_names_its_line_key_and_fix(text: str, line: int, key: str | None, words: str) -> None:
    _, problems = parse_appconf(text, "appliance.toml")
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem.line, problem.key) == (line, key), problem
    assert words in str(problem)


def test_missing_file_means_no_hosts_and_errors_raise_all_at_once(tmp_path: Path) -> None:
    assert load_appconf(tmp_path).hosts == ()
    (tmp_path / "appliance.toml").write_text("[[shutdown.host]]\nname = 1\nfoo = 2\n")
    with pytest.raises(ConfigError) as raised:
        load_appconf(tmp_path)
    assert len(raised.value.diagnostics) >= 3  # name not a string, unknown foo, no address, no key
    assert all(str(tmp_path / "appliance.toml") in str(d) for d in raised.value.diagnostics)


def test_the_file_is_found_in_nut_config_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "appliance.toml").write_text(
        '[[shutdown.host]]\nname = "box"\nmethod = "http"\nurl = "http://box:8080/"\n'
    )
    monkeypatch.setenv("NUT_CONFPATH", str(tmp_path))
    [box] = load_appconf().hosts
    assert (box.address, box.port, box.url) == ("box", 8080, "http://box:8080/")


def test_stay_up_and_killpower_switches() -> None:
    conf, problems = parse_appconf("[shutdown]\nstay_up = true\nkillpower = true\n")
    assert problems == [] and conf.stay_up and conf.killpower and not conf.dry_run
    _, problems = parse_appconf("[shutdown]\nkillpower = true\n", "appliance.toml")
    assert [(p.line, p.key) for p in problems] == [(2, "killpower")]
    assert "needs stay_up = true" in str(problems[0])
    _, problems = parse_appconf("[shutdown]\nstayup = true\n", "appliance.toml")
    assert "did you mean 'stay_up'" in str(problems[0])
