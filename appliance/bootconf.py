"""``appliance boot-config``: the configuration a user drops on the SD card's boot partition, checked and installed.

At every boot (appliance-config.service, before the drivers and upsd):

1. The candidate set is the image's defaults (``/usr/share/appliance/nut``) with the user's files from the boot
   partition's ``appliance/`` folder laid over them: NUT files, appliance.toml, device dumps, certificates, plus
   ``authorized_keys`` (SSH) and ``wpa_supplicant.conf`` (Wi-Fi). A file removed from the folder goes back to its
   default.
2. The candidate is checked as a whole (``check-config`` on a staging copy, SSH keys and Wi-Fi settings parsed). A good
   set becomes the last good set on the data partition (``/var/lib/appliance/config``): a new directory, fsynced, then
   a symlink renamed over the old one, so a power cut leaves either the old set or the new one. A bad set changes
   nothing: the last good set keeps running (the defaults on a fresh card). An unchanged set writes nothing.
3. The last good set is installed into /etc/nut (the root is a RAM overlay), SSH keys for root and the Wi-Fi settings
   likewise; each file is written to a temporary name and renamed.
4. ``STATUS.txt`` in the boot folder says what happened, every problem as ``file:line: key: message (hint)``.
5. The units to start are returned: one driver per ups.conf section, sshd only when keys were given, wpa_supplicant
   only when Wi-Fi was configured. The command starts them with ``systemctl start --no-block``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import dataclasses
import datetime
import grp
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from appliance import __version__
from appliance.nutconf.check import check_directory
from appliance.nutconf.diagnostics import Diagnostic
from appliance.nutconf.ups_conf import parse_ups_conf

SSH_KEYS = "authorized_keys"
WIFI = "wpa_supplicant.conf"
# Files of the boot folder that are ours to write or explain, never configuration.
NOT_CONFIG = {"README.txt", "STATUS.txt"}
MAX_FILE_SIZE = 1 << 20  # a config file larger than this on a FAT partition is a mistake, not a config
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
SSHD_CONFIG = """\
# Written by appliance boot-config: SSH with the keys of the boot partition's authorized_keys only.
HostKey {host_key}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
"""


@dataclass(frozen=True)
class BootPaths:
    """Where boot-config reads and writes; every path is injectable so that tests run in a temporary tree."""

    boot_dir: Path = Path("/boot/firmware/appliance")
    defaults_dir: Path = Path("/usr/share/appliance/nut")
    data_dir: Path = Path("/var/lib/appliance")
    config_dir: Path = Path("/etc/nut")
    root: Path = Path("/")

    @property
    def last_good(self) -> Path:
        """The symlink on the data partition naming the directory of the last good set."""
        return self.data_dir / "config"

    @property
    def authorized_keys(self) -> Path:
        """root's authorized_keys."""
        return self.root / "root/.ssh/authorized_keys"

    @property
    def sshd_drop_in(self) -> Path:
        """The sshd_config.d file that points sshd at the host key kept on the data partition."""
        return self.root / "etc/ssh/sshd_config.d/appliance.conf"

    @property
    def host_key(self) -> Path:
        """The SSH host key, generated once per card and kept on the data partition."""
        return self.data_dir / "ssh/ssh_host_ed25519_key"

    @property
    def wpa_config(self) -> Path:
        """wpa_supplicant@wlan0's configuration."""
        return self.root / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"


@dataclass
class BootResult:
    """What boot-config did: the outcome, the problems, and the units to start."""

    accepted: bool
    user_files: list[str]
    problems: list[Diagnostic] = field(default_factory=list)
    running: dict[str, str] = field(default_factory=dict)  # file name -> "this folder" or "default"
    ups: dict[str, str] = field(default_factory=dict)  # UPS name -> driver
    ssh_keys: int = 0
    wifi: bool = False
    units: list[str] = field(default_factory=list)
    persisted: bool = True

    @property
    def errors(self) -> list[Diagnostic]:
        """The problems that made the set bad (warnings excluded)."""
        return [p for p in self.problems if p.is_error]


def check_authorized_keys(text: str, name: str = SSH_KEYS) -> tuple[int, list[Diagnostic]]:
    """The number of keys in an authorized_keys text and a diagnostic for each line that is not a public key.

    Each line must be ``TYPE BASE64 [comment]`` whose base64 blob starts with the same TYPE, as every OpenSSH public
    key does (a private key or a truncated paste fails here rather than locking the user out silently).
    """
    count = 0
    problems: list[Diagnostic] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        kind = words[0]
        if kind not in SSH_KEY_TYPES or len(words) < 2:
            hint = "paste the .pub file's single line, e.g. ssh-ed25519 AAAA... you@host"
            problems.append(Diagnostic(name, number, None, f"not an SSH public key ({kind[:20]!r})", hint))
            continue
        try:
            blob = base64.b64decode(words[1], validate=True)
        except (binascii.Error, ValueError):
            problems.append(Diagnostic(name, number, None, "the key's base64 part is damaged", "copy the line again"))
            continue
        length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
        if blob[4 : 4 + length].decode("ascii", "replace") != kind:
            problems.append(Diagnostic(name, number, None, f"the key data is not a {kind} key", "copy the line again"))
            continue
        count += 1
    if not count and not problems:
        problems.append(Diagnostic(name, 0, None, "no key in the file", "remove the file to keep SSH off"))
    return count, problems


def check_wifi(text: str, name: str = WIFI) -> list[Diagnostic]:
    """Problems with a wpa_supplicant.conf: at least one ``network={...}`` block with an ssid, braces balanced."""
    problems: list[Diagnostic] = []
    depth = 0
    networks = 0
    has_ssid = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.replace(" ", "").startswith("network={"):
            if depth:
                problems.append(Diagnostic(name, number, "network", "a network block inside another", "add }"))
            depth, has_ssid = depth + 1, False
        elif line == "}":
            if not depth:
                problems.append(Diagnostic(name, number, None, "} without network={"))
                continue
            depth -= 1
            networks += 1
            if not has_ssid:
                problems.append(Diagnostic(name, number, "ssid", "a network block without ssid", 'add ssid="..."'))
        elif depth and line.startswith("ssid="):
            has_ssid = True
    if depth:
        problems.append(Diagnostic(name, 0, "network", "a network block is not closed", "end it with }"))
    if not networks and not problems:
        problems.append(Diagnostic(name, 0, "network", "no network={...} block", 'network={ ssid="..." psk="..." }'))
    return problems


def _read_folder(directory: Path) -> tuple[dict[str, bytes], list[Diagnostic]]:
    """The user's files (name -> bytes) in the boot folder, skipping ours, hidden files and subfolders."""
    files: dict[str, bytes] = {}
    problems: list[Diagnostic] = []
    if not directory.is_dir():
        return files, problems
    for path in sorted(directory.iterdir()):
        name = path.name
        if name in NOT_CONFIG or name.startswith(".") or not path.is_file():
            continue
        try:
            size = path.stat().st_size
            if size > MAX_FILE_SIZE:
                problems.append(Diagnostic(name, 0, None, f"{size} bytes is too big for a config file"))
                continue
            files[name] = path.read_bytes()
        except OSError as exc:
            problems.append(Diagnostic(name, 0, None, f"cannot read: {exc.strerror or exc}", "check the card"))
    return files, problems


def _read_set(directory: Path) -> dict[str, bytes]:
    """Every file of a configuration directory (defaults or a last good set)."""
    if not directory.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file() and not p.name.startswith(".")}


def _check_set(files: dict[str, bytes]) -> list[Diagnostic]:
    """Every problem of a candidate set, with paths given as the file names the user knows."""
    with tempfile.TemporaryDirectory(prefix="appliance-stage.") as stage:
        for name, data in files.items():
            if name not in (SSH_KEYS, WIFI):
                (Path(stage) / name).write_bytes(data)
        found = [d for diagnostics in check_directory(Path(stage)).values() for d in diagnostics or ()]
    problems = [dataclasses.replace(d, path=Path(d.path).name) for d in found]
    if SSH_KEYS in files:
        problems += check_authorized_keys(files[SSH_KEYS].decode("utf-8", "replace"))[1]
    if WIFI in files:
        problems += check_wifi(files[WIFI].decode("utf-8", "replace"))
    return problems


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o640, group: str | None = None) -> None:
    """Write ``path`` through a temporary file in the same directory, fsynced, renamed over the old one, and the
    directory fsynced: after a power cut the file is either the old one or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        if group is not None and os.geteuid() == 0:
            with contextlib.suppress(KeyError):  # no such group on this machine: root keeps the file
                os.chown(temp, 0, grp.getgrnam(group).gr_gid)
        os.replace(temp, path)
        _fsync_dir(path.parent)  # the rename itself must reach the card (seen lost on FAT after a power cut)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _digest(files: dict[str, bytes]) -> str:
    hasher = hashlib.sha256()
    for name in sorted(files):
        hasher.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return hasher.hexdigest()


def persist_last_good(paths: BootPaths, files: dict[str, bytes]) -> bool:
    """Make ``files`` the last good set on the data partition; False when it already was (nothing written)."""
    link = paths.last_good
    digest = _digest(files)
    if link.is_dir() and _digest(_read_set(link)) == digest:
        return False
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    new_dir = Path(tempfile.mkdtemp(prefix="config.", dir=paths.data_dir))
    for name, data in files.items():
        write_atomically(new_dir / name, data, 0o600)  # each file and new_dir's entry for it are fsynced
    old_target = link.resolve() if link.is_symlink() else None
    temp_link = paths.data_dir / ".config.new"
    temp_link.unlink(missing_ok=True)
    temp_link.symlink_to(new_dir.name)
    os.replace(temp_link, link)
    _fsync_dir(paths.data_dir)
    if old_target is not None and old_target != new_dir and old_target.parent == paths.data_dir:
        shutil.rmtree(old_target, ignore_errors=True)
    return True


def _install(paths: BootPaths, files: dict[str, bytes]) -> None:
    """Install a good set where the daemons read it; files of the config dir no longer in the set are removed."""
    nut_files = {n: d for n, d in files.items() if n not in (SSH_KEYS, WIFI)}
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    for stale in paths.config_dir.iterdir():
        if stale.is_file() and stale.name not in nut_files:
            stale.unlink()
    for name, data in nut_files.items():
        write_atomically(paths.config_dir / name, data, 0o640, "nut")
    if SSH_KEYS in files:
        write_atomically(paths.authorized_keys, files[SSH_KEYS], 0o600)
        write_atomically(paths.sshd_drop_in, SSHD_CONFIG.format(host_key=paths.host_key).encode(), 0o644)
    else:
        paths.authorized_keys.unlink(missing_ok=True)
        paths.sshd_drop_in.unlink(missing_ok=True)
    if WIFI in files:
        write_atomically(paths.wpa_config, files[WIFI], 0o600)
    else:
        paths.wpa_config.unlink(missing_ok=True)


def ensure_host_key(paths: BootPaths) -> None:
    """Generate the card's SSH host key on the data partition once (``ssh-keygen``), so it survives reboots."""
    if paths.host_key.exists():
        return
    paths.host_key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "appliance", "-f", str(paths.host_key)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def apply(paths: BootPaths) -> BootResult:
    """Check the boot folder's set, keep it if good, install the last good set; see the module docstring."""
    defaults = _read_set(paths.defaults_dir)
    user, problems = _read_folder(paths.boot_dir)
    candidate = {**defaults, **user}
    problems += _check_set(candidate)
    result = BootResult(accepted=not any(p.is_error for p in problems), user_files=sorted(user), problems=problems)
    if result.accepted:
        chosen, origin = candidate, user
        try:
            persist_last_good(paths, candidate)
        except OSError as exc:
            result.persisted = False
            hint = "the card's data partition is missing or full: the set is not kept across boots"
            result.problems.append(Diagnostic(str(paths.data_dir), 0, None, f"cannot keep: {exc}", hint, "warning"))
    else:
        kept = _read_set(paths.last_good)
        chosen = kept or defaults
        origin = {n: d for n, d in kept.items() if defaults.get(n) != d}
    _install(paths, chosen)
    result.running = {name: ("this folder" if name in origin else "default") for name in sorted(chosen)}
    conf, _ = parse_ups_conf(chosen.get("ups.conf", b"").decode("utf-8", "replace"))
    result.ups = {name: section.driver for name, section in conf.ups.items()}
    result.units = [f"appliance-driver@{name}.service" for name in result.ups]
    if SSH_KEYS in chosen:
        result.ssh_keys = check_authorized_keys(chosen[SSH_KEYS].decode("utf-8", "replace"))[0]
        ensure_host_key(paths)
        result.units.append("ssh.service")
    if WIFI in chosen:
        result.wifi = True
        result.units.append("wpa_supplicant@wlan0.service")
    return result


def format_report(result: BootResult, now: datetime.datetime) -> str:
    """STATUS.txt: what was read, what runs, and every problem, for a person reading the card on a laptop."""
    lines = [f"UPS appliance {__version__}: configuration report of {now:%Y-%m-%d %H:%M:%S %Z}".rstrip(), ""]
    if not result.user_files:
        lines.append("No files of yours in this folder: the appliance runs its defaults (a simulated UPS).")
    elif result.accepted:
        lines.append("Your configuration was checked and is running: " + ", ".join(result.user_files) + ".")
    else:
        lines.append("Your configuration was NOT installed: the last good configuration keeps running.")
        lines.append("Fix the problems below and restart the appliance.")
    if result.problems:
        lines += ["", "Problems:"] + [f"  {p}" for p in result.problems]
    lines += ["", "Running:"]
    lines += [f"  {name:<24} {origin}" for name, origin in result.running.items()]
    lines += ["", "UPSes: " + (", ".join(f"{n} ({d})" for n, d in result.ups.items()) or "none")]
    lines.append(f"SSH: on, {result.ssh_keys} key(s) for root" if result.ssh_keys else "SSH: off (no authorized_keys)")
    lines.append("Wi-Fi: wpa_supplicant.conf installed for wlan0" if result.wifi else "Wi-Fi: not configured")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Run boot-config; exit status 0 when the boot folder's set is running, 1 when it was refused."""
    defaults = BootPaths()
    parser = argparse.ArgumentParser(prog="appliance boot-config", description=__doc__.splitlines()[0])
    parser.add_argument("--boot-dir", type=Path, default=defaults.boot_dir, help="the user's folder on the card")
    parser.add_argument("--defaults", type=Path, default=defaults.defaults_dir, help="the image's default NUT files")
    parser.add_argument("--data-dir", type=Path, default=defaults.data_dir, help="the data partition")
    parser.add_argument("--config-dir", type=Path, default=defaults.config_dir, help="where the daemons read NUT files")
    parser.add_argument("--root", type=Path, default=defaults.root, help="root for SSH and Wi-Fi files")
    parser.add_argument("--no-start", action="store_true", help="do not start the units (print them)")
    args = parser.parse_args(argv)
    paths = BootPaths(args.boot_dir, args.defaults, args.data_dir, args.config_dir, args.root)
    try:
        result = apply(paths)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"appliance boot-config: {exc}", file=sys.stderr)
        return 1
    report = format_report(result, datetime.datetime.now(datetime.UTC))
    sys.stdout.write(report)
    if paths.boot_dir.is_dir():
        try:
            write_atomically(paths.boot_dir / "STATUS.txt", report.encode(), 0o644)
        except OSError as exc:
            print(f"appliance boot-config: cannot write STATUS.txt: {exc}", file=sys.stderr)
    if result.units and not args.no_start:
        subprocess.run(["systemctl", "start", "--no-block", *result.units], check=False)
    elif result.units:
        print("units: " + " ".join(result.units))
    return 0 if result.accepted else 1
