"""``appliance boot-config`` as appliance-config.service runs it at boot, on a temporary card: the shipped defaults
(overlays/etc/nut), a boot folder, a data partition, /etc/nut and root's SSH files, with Debian's ssh-keygen."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "overlays/etc/nut"

TWO_UPSES = """\
[rack]
  driver = dummy-ups
  port = simulated.seq
[closet]
  driver = dummy-ups
  port = simulated.seq
  desc = "second UPS"
"""
BAD_UPS_CONF = "[rack]\n  driver = dummy-ups\n  port = simulated.seq\n  pollinterval = often\n"


class Card:
    """A card's worth of directories, and boot-config run on them."""

    def __init__(self, base: Path) -> None:
        self.boot = base / "boot/appliance"
        self.data = base / "data"
        self.etc_nut = base / "root/etc/nut"
        self.root = base / "root"
        self.boot.mkdir(parents=True)
        self.data.mkdir()

    def run(self) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "appliance", "boot-config", "--no-start", "--boot-dir", str(self.boot)]
        args += ["--defaults", str(DEFAULTS), "--data-dir", str(self.data), "--config-dir", str(self.etc_nut)]
        args += ["--root", str(self.root)]
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    @property
    def status(self) -> str:
        return (self.boot / "STATUS.txt").read_text()

    def units(self, result: subprocess.CompletedProcess[str]) -> list[str]:
        line = next(x for x in result.stdout.splitlines() if x.startswith("units: "))
        return line.split()[1:]


@pytest.fixture
def card(tmp_path: Path) -> Card:
    return Card(tmp_path)


def public_key(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_a_fresh_card_runs_the_defaults_and_says_so(card: Card) -> None:
    result = card.run()
    assert result.returncode == 0, result.stderr
    assert (card.etc_nut / "ups.conf").read_bytes() == (DEFAULTS / "ups.conf").read_bytes()
    assert card.units(result) == ["appliance-driver@ups.service"]
    assert "runs its defaults" in card.status and "SSH: off" in card.status
    assert stat.S_IMODE((card.etc_nut / "ups.conf").stat().st_mode) == 0o640
    # the installed set passes check-config as the daemons will read it
    check = subprocess.run([sys.executable, "-m", "appliance", "check-config", "--config-dir", str(card.etc_nut)])
    assert check.returncode == 0


def test_a_good_set_is_installed_kept_on_the_data_partition_and_not_rewritten(card: Card) -> None:
    (card.boot / "ups.conf").write_text(TWO_UPSES)
    result = card.run()
    assert result.returncode == 0, result.stderr
    assert (card.etc_nut / "ups.conf").read_text() == TWO_UPSES
    assert card.units(result) == ["appliance-driver@rack.service", "appliance-driver@closet.service"]
    assert "is running: ups.conf" in card.status and "rack (dummy-ups), closet (dummy-ups)" in card.status
    kept = card.data / "config"
    assert kept.is_symlink() and (kept / "ups.conf").read_text() == TWO_UPSES
    target = kept.resolve()
    again = card.run()
    assert again.returncode == 0
    assert kept.resolve() == target, "an unchanged set must not be written to the card again"


def test_a_bad_set_changes_nothing_and_the_error_is_readable_on_the_boot_partition(card: Card) -> None:
    (card.boot / "ups.conf").write_text(TWO_UPSES)
    assert card.run().returncode == 0
    target = (card.data / "config").resolve()
    (card.boot / "ups.conf").write_text(BAD_UPS_CONF)
    result = card.run()
    assert result.returncode == 1
    assert "NOT installed" in card.status
    assert "ups.conf:4: pollinterval:" in card.status, card.status
    assert (card.etc_nut / "ups.conf").read_text() == TWO_UPSES, "the last good set keeps running"
    assert (card.data / "config").resolve() == target
    assert card.units(result) == ["appliance-driver@rack.service", "appliance-driver@closet.service"]
    assert "ups.conf                 this folder" in card.status


def test_a_bad_set_on_a_fresh_card_runs_the_defaults(card: Card) -> None:
    (card.boot / "upsd.users").write_text("[admin]\n  password = x\n  actions = fly\n")
    result = card.run()
    assert result.returncode == 1
    assert "upsd.users:3: actions:" in card.status
    assert (card.etc_nut / "upsd.users").read_bytes() == (DEFAULTS / "upsd.users").read_bytes()


def test_a_file_removed_from_the_folder_goes_back_to_its_default(card: Card) -> None:
    (card.boot / "ups.conf").write_text(TWO_UPSES)
    (card.boot / "simulated.dev").write_text("ups.status: OL\n")
    assert card.run().returncode == 0
    assert (card.etc_nut / "simulated.dev").exists()
    (card.boot / "ups.conf").unlink()
    (card.boot / "simulated.dev").unlink()
    result = card.run()
    assert result.returncode == 0
    assert (card.etc_nut / "ups.conf").read_bytes() == (DEFAULTS / "ups.conf").read_bytes()
    assert not (card.etc_nut / "simulated.dev").exists()
    assert card.units(result) == ["appliance-driver@ups.service"]


def test_an_ssh_key_turns_ssh_on_with_a_host_key_kept_across_boots(card: Card, tmp_path: Path) -> None:
    key = public_key(tmp_path)
    (card.boot / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    result = card.run()
    assert result.returncode == 0, result.stderr
    assert "ssh.service" in card.units(result)
    installed = card.root / "root/.ssh/authorized_keys"
    assert installed.read_text() == key.with_suffix(".pub").read_text()
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    host_key = card.data / "ssh/ssh_host_ed25519_key"
    drop_in = (card.root / "etc/ssh/sshd_config.d/appliance.conf").read_text()
    assert f"HostKey {host_key}" in drop_in and "PasswordAuthentication no" in drop_in
    first = host_key.read_bytes()
    assert card.run().returncode == 0
    assert host_key.read_bytes() == first
    assert "SSH: on, 1 key(s)" in card.status
    # removing the key turns SSH off again
    (card.boot / "authorized_keys").unlink()
    result = card.run()
    assert "ssh.service" not in card.units(result) and not installed.exists()


def test_a_private_key_pasted_as_authorized_keys_is_refused(card: Card, tmp_path: Path) -> None:
    key = public_key(tmp_path)
    (card.boot / "authorized_keys").write_text(key.read_text())
    result = card.run()
    assert result.returncode == 1
    assert "authorized_keys:1: not an SSH public key" in card.status
    assert not (card.root / "root/.ssh/authorized_keys").exists()


def test_wifi_settings_are_checked_and_installed(card: Card) -> None:
    (card.boot / "wpa_supplicant.conf").write_text('country=DE\nnetwork={\n  ssid="home"\n  psk="secret123"\n}\n')
    result = card.run()
    assert result.returncode == 0, card.status
    assert "wpa_supplicant@wlan0.service" in card.units(result)
    assert "psk" in (card.root / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf").read_text()
    (card.boot / "wpa_supplicant.conf").write_text('network={\n  psk="secret123"\n')
    assert card.run().returncode == 1
    assert "wpa_supplicant.conf: network: a network block is not closed" in card.status


def test_without_a_data_partition_the_set_still_runs_with_a_warning(card: Card) -> None:
    card.data.rmdir()
    card.data.write_text("not a directory")
    (card.boot / "ups.conf").write_text(TWO_UPSES)
    result = card.run()
    assert result.returncode == 0, result.stderr
    assert (card.etc_nut / "ups.conf").read_text() == TWO_UPSES
    assert "warning:" in card.status and "not kept across boots" in card.status


def test_an_oversized_file_and_the_folder_missing(card: Card) -> None:
    (card.boot / "huge.dev").write_bytes(b"x" * (2 << 20))
    result = card.run()
    assert result.returncode == 1 and "huge.dev: 2097152 bytes is too big" in card.status
    (card.boot / "huge.dev").unlink()
    (card.boot / "STATUS.txt").unlink()
    card.boot.rmdir()
    result = card.run()
    assert result.returncode == 0 and "Traceback" not in result.stderr
