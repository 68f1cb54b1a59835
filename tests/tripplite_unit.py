"""Tripp Lite 09ae:0001 units simulated from the real answers in the nut-ddl dumps (pure: no USB library).

:class:`TrippliteUnit` is the unit's side of the protocol; tests/tripplite_sim.py puts it on the fake pyusb bus
and tests/integration/tripplite_umockdev.py behind umockdev's usbdevfs, where this module must import with
nothing but the system Python.

Each DDL dump of tripplite_usb carries ``ups.debug.X`` variables: bytes 1..7 of the unit's answer to command X
(byte 0 is the letter itself). A :class:`TrippliteSim` answers those commands with exactly those bytes. Answers a
dump does not carry are built from the values the dump publishes, through the protocol rules of
shared/reference/hardware.md §3.2; each fixture in :data:`FIXTURES` says which ones.

The unit's behaviour: a command arrives as an 8-byte Feature SET_REPORT (``:`` payload checksum CR); a frame with
a bad checksum is ignored; an unsupported command makes the unit repeat its previous answer; the answer is
repeated on every interrupt IN poll (the unit ignores Set_Idle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.nut_reference import DDL as DDL_ROOT

DDL = DDL_ROOT / "Tripp_Lite"
ACCEPTED = b"\r\0\0\0\0\0\0"


def checksum(payload: bytes) -> int:
    """255 minus the byte sum, modulo 256 (the unit's own check, written independently of the driver's)."""
    total = 0
    for byte in payload:
        total = (total + byte) % 256
    return 255 - total


def parse_frame(data: bytes) -> bytes | None:
    """The payload of a well-formed command frame, or None when the frame is malformed."""
    if len(data) != 8 or data[0] != ord(":"):
        return None
    for end in range(2, 6):
        if data[end + 1] == 0x0D and data[end] == checksum(data[1:end]) and not any(data[end + 2 :]):
            return data[1:end]
    return None


def ddl_values(name: str) -> dict[str, str]:
    """``variable -> value`` of a DDL dump, values exactly as upsc printed them (leading blanks kept)."""
    values: dict[str, str] = {}
    for line in (DDL / name).read_text(encoding="latin-1").splitlines():
        if line.startswith("#") or ": " not in line:
            continue
        key, value = line.split(": ", 1)
        values[key] = value.split("\t#", 1)[0]
    return values


def debug_bytes(value: str) -> bytes:
    """The 7 answer bytes of a ``ups.debug.X`` value (``01 04 00 00 64 00 0d '....d..'``)."""
    return bytes.fromhex(value.split("'", 1)[0])


@dataclass
class Fixture:
    """One simulated unit: the dump it comes from, its protocol, and answers (letter -> 7 bytes)."""

    dump: str | None
    protocol: int
    model: str
    built: dict[str, bytes] = field(default_factory=dict)
    """Answers the dump does not carry, built from the values it publishes (see each fixture's comment)."""

    def answers(self) -> dict[bytes, bytes]:
        """Every answer: the dump's ups.debug.* bytes, then the built ones, then the protocol number."""
        values = ddl_values(self.dump) if self.dump else {}
        answers = {
            key[len("ups.debug.") :].encode(): debug_bytes(value)
            for key, value in values.items()
            if key.startswith("ups.debug.") and len(key) == len("ups.debug.X")
        }
        answers.pop(b"0", None)
        answers.update({letter.encode(): data for letter, data in self.built.items()})
        answers[b"\0"] = bytes([self.protocol >> 8, self.protocol & 0xFF]) + b"XXXX\r"
        return answers


FIXTURES: dict[int, Fixture] = {
    # SMART500RT1U (protocol 3005, binary): S D L M P T V are the dump's own bytes; F spells its firmware
    # "F334401"; U = ups.id 0.
    0x3005: Fixture(
        "Tripp_Lite__SMART500RT1U__tripplite_usb__2.7.2__02.dev",
        0x3005,
        "SMART500RT1U",
        {"F": b"334401\r", "U": b"\0\0XXXX\r"},
    ),
    # SMX1500XLRT2U (protocol 3003, a 230 V unit with 3 switchable banks): D M S T V are the dump's bytes;
    # P = 1500 VA, F = "1091.A", U = 65535, L = ups.load 36 (hex "24").
    0x3003: Fixture(
        "Tripp_Lite__SMX1500XLRT2U__tripplite_usb__2.2.2__01.dev",
        0x3003,
        "SMX1500XLRT2U",
        {"P": b"1500XX\r", "F": b"1091.A\r", "U": b"\xff\xffXXXX\r", "L": b"24XXXX\r"},
    ),
    # OMNISMART500 (protocol 2001): V is the dump's; B from input.voltage 108.60 (hex 0CBA / 3600 * 120) and
    # battery.voltage 14.56 (hex E9 / 16); L from output.voltage 113.0 (hex 00E2 / 240 * 120); S is OL with
    # "Battery OK"; P = 500 VA, F = "0966.A", U = 65535.
    0x2001: Fixture(
        "Tripp_Lite__OMNISMART500__tripplite_usb__2.4.3__01.dev",
        0x2001,
        "OMNISMART500",
        {
            "S": b"100\x000X\r",
            "B": b"0CBAE9X\r",
            "L": b"00E2XX\r",
            "P": b"500XXX\r",
            "F": b"0966.A\r",
            "U": b"\xff\xffXXXX\r",
        },
    ),
    # OMNIVSINT800 (protocol 1001): V is the dump's; B from input.voltage 251.93 at the dump's 240 V scale
    # (hex 0EC3) and battery.voltage 14.50 (hex E8 / 16); L from output.voltage 226.0 (hex 01C4 / 240 * 240);
    # S = OL ('0'); P = 800 VA; F = "1145.A". 1001 units have no U.
    0x1001: Fixture(
        "Tripp_Lite__OMNIVSINT800__tripplite_usb__2.7.2__01.dev",
        0x1001,
        "OMNIVSINT800",
        {"S": b"100\x000X\r", "B": b"0EC3E8X\r", "L": b"00E2XX\r", "P": b"800XXX\r", "F": b"1145.A\r"},
    ),
    # No DDL dump names protocol 0004. SMART1500RMXL2U (a 2006 report, before the driver printed the protocol)
    # shares its D M S layout, so those are its bytes; its T is 3003-shaped (frequency in 3 digits), so a 0004
    # T is built: "68" then "0258" (60.0 Hz in 4 digits). P = "150" (x10 on 0004 gives its 1500 VA),
    # L = ups.load 17 (hex "11"), V = 120 V range, 36 V battery ('06'), no banks; F = "1218.A".
    0x0004: Fixture(
        "Tripp_Lite__SMART1500RMXL2U__tripplite_usb__2.1.0__01.dev",
        0x0004,
        "SMART1500RMXL2Ua",
        {"T": b"680258\r", "P": b"150XXX\r", "L": b"11XXXX\r", "V": b"106XXX\r", "F": b"1218.A\r"},
    ),
    # Protocol 3017 has no DDL dump (NUT's sources name the UK SMX1200XLHG), so every answer is built to the
    # protocol's rules: V = 230 V range ('2'), 24 V battery ("04" x 6), 1 switchable bank; D = "7B" "88" (hex,
    # in 120 V units before scaling, and a 13.6 V block); M = "77" "7D"; T = "8B" (temperature) "1F4" (50.0 Hz)
    # '0' (50 Hz nominal); L = 20 % ("14"); S = OL, battery OK; U = 7.
    0x3017: Fixture(
        None,
        0x3017,
        "SMX1200XLHG",
        {
            "S": b"100\x00X0\r",
            "D": b"7B88\r\0\0",
            "M": b"777D\r\0\0",
            "T": b"8B1F40\r",
            "L": b"14XXXX\r",
            "V": b"2041XX\r",
            "P": b"1200XX\r",
            "F": b"2101.A\r",
            "U": b"\x00\x07XXXX\r",
        },
    ),
}


class TrippliteUnit:
    """The unit's side: takes command frames, keeps the answer it repeats on every interrupt IN poll.

    ``commands`` lists every well-formed payload received, ``bad_frames`` the malformed ones. ``unsupported``
    holds letters the unit does not know (it repeats its previous answer); ``answers`` can be edited by a test.
    """

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.answers = fixture.answers()
        self.commands: list[bytes] = []
        self.bad_frames: list[bytes] = []
        self.unsupported: set[bytes] = set()
        self.current: bytes | None = None

    def receive(self, data: bytes) -> None:
        """Take one Feature report 0: answer a well-formed command, ignore anything else."""
        payload = parse_frame(data)
        if payload is None:
            self.bad_frames.append(data)
            return
        self.commands.append(payload)
        letter = payload[:1]
        if letter not in self.unsupported:
            self.current = letter + self.answers.get(letter, ACCEPTED)

    def letters(self) -> list[str]:
        """The commands received, as their letters (the protocol query as "0")."""
        return [chr(p[0]) if p[0] else "0" for p in self.commands]

    def set_on_battery(self, on_battery: bool) -> None:
        """Switch the S answer between on line and on battery as this protocol encodes it."""
        s = bytearray(self.answers[b"S"])
        if self.fixture.protocol == 0x1001:
            s[1] = ord("1") if on_battery else ord("0")  # answer byte 2
        else:
            s[3] = (s[3] | 1) if on_battery else (s[3] & ~1)  # answer byte 4, bit 0
        self.answers[b"S"] = bytes(s)
