"""Real HID report descriptors of UPSes, as test data: the bytes, where they come from, and what NUT made of them.

Each descriptor lives in ``tests/data/hid_descriptors/<name>.txt``: a header of ``# key: value`` comment lines
(device, usb, subdriver, source, thread, size, how; a line starting ``#   `` continues the previous value) and
then the descriptor as hex bytes. :func:`load_descriptor` checks the byte count against the declared ``size``.

Where the source also shows NUT's own parse (usbhid-ups at debug level 1 to 5 prints one ``Path:`` line per HID
object it found, after the ``Report[...]`` line with the bytes it read), ``<name>.paths`` keeps those lines as
NUT printed them; :func:`load_nut_paths` turns them into :class:`NutObject` records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from appliance.drivers.hid_descriptor import REPORT_TYPE_NAMES

DATA_DIR = Path(__file__).parent / "data" / "hid_descriptors"

_REPORT_TYPES = {name: number for number, name in REPORT_TYPE_NAMES.items()}
_PATH_LINE = re.compile(
    r"Path: (?P<path>\S+), Type: (?P<type>\w+), ReportID: 0x(?P<id>[0-9a-f]{2}), "
    r"Offset: (?P<offset>\d+), Size: (?P<size>\d+), Value: (?P<value>\S+)$"
)
_REPORT_LINE = re.compile(r"Report\[(?P<kind>\w+)\]: \((?P<length>\d+) bytes\) => (?P<bytes>[0-9a-f ]+)$")


@dataclass(frozen=True)
class NutObject:
    """One HID object as NUT 2.8.0 printed it, with the report bytes it read the value from.

    ``report`` starts with the report ID byte; it can be shorter than the report when the device answered short
    (NUT's ``Report[err]``), NUT then reads the missing bytes as zeros. ``buffer_length`` is the length of NUT's
    report buffer for that report ID when the log shows it (a ``Report[buf]`` line), else None.
    """

    path: str
    report_type: int
    report_id: int
    offset: int
    size: int
    value: float
    report: bytes
    buffer_length: int | None


def descriptor_names() -> list[str]:
    """Every stored descriptor, by file name without ``.txt``."""
    return sorted(path.stem for path in DATA_DIR.glob("*.txt"))


def nut_path_names() -> list[str]:
    """The descriptors for which NUT's object list is stored."""
    return sorted(path.stem for path in DATA_DIR.glob("*.paths"))


def _read(name: str, suffix: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """The header (key -> value) and the numbered data lines of one data file."""
    path = DATA_DIR / f"{name}{suffix}"
    header: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    key = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("#   ") and key is not None:
            header[key] += " " + line[4:].strip()
        elif line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if not sep:
                raise ValueError(f"{path}:{number}: header line without 'key:'")
            key = key.strip()
            header[key] = value.strip()
        elif line.strip():
            body.append((number, line.strip()))
    return header, body


def descriptor_header(name: str) -> dict[str, str]:
    """The ``# key: value`` header of a descriptor file (device, usb, subdriver, source, size, ...)."""
    return _read(name, ".txt")[0]


def load_descriptor(name: str) -> bytes:
    """The descriptor bytes; ValueError (naming the file and line) on bad hex or a count other than ``size``."""
    header, body = _read(name, ".txt")
    data = bytearray()
    for number, line in body:
        try:
            data += bytes.fromhex(line)
        except ValueError as error:
            raise ValueError(f"{name}.txt:{number}: not hex bytes: {error}") from None
    declared = int(header["size"])
    if len(data) != declared:
        raise ValueError(f"{name}.txt: {len(data)} bytes, the header declares {declared}")
    return bytes(data)


def nut_paths_header(name: str) -> dict[str, str]:
    """The header of a ``.paths`` file; ``names`` is the subdriver whose usage names NUT printed."""
    return _read(name, ".paths")[0]


def load_nut_paths(name: str) -> list[NutObject]:
    """NUT's objects for a descriptor, each with the report bytes its value was read from."""
    _, body = _read(name, ".paths")
    objects: list[NutObject] = []
    report = b""
    buffer_lengths: dict[int, int] = {}
    for number, line in body:
        if found := _REPORT_LINE.match(line):
            report = bytes.fromhex(found["bytes"])
            if len(report) != int(found["length"]):
                raise ValueError(f"{name}.paths:{number}: {len(report)} bytes, the line says {found['length']}")
            if found["kind"] == "buf":
                buffer_lengths[report[0]] = len(report)
        elif found := _PATH_LINE.match(line):
            report_id = int(found["id"], 16)
            if not report or report[0] != report_id:
                raise ValueError(f"{name}.paths:{number}: no report 0x{report_id:02x} read before this object")
            objects.append(
                NutObject(
                    path=found["path"],
                    report_type=_REPORT_TYPES[found["type"]],
                    report_id=report_id,
                    offset=int(found["offset"]),
                    size=int(found["size"]),
                    value=float(found["value"]),
                    report=report,
                    buffer_length=None,
                )
            )
        else:
            raise ValueError(f"{name}.paths:{number}: neither a Path: nor a Report[...] line")
    return [replace(item, buffer_length=buffer_lengths.get(item.report_id)) for item in objects]
