"""The shape of a usbhid-ups subdriver: which devices it takes, its vendor usages, its HID-to-NUT tables.

A :class:`Subdriver` restates one of NUT 2.8.0's ``*-hid.c`` files: the USB IDs it claims, the names of its
vendor usages (so descriptor paths read as NUT writes them), and its ``hid2nut`` table split in lists:

- :class:`HidVariable`: a NUT variable read from a usage path (first path present in the descriptor wins, in
  table order, as NUT's init walk does), with its format or conversion, flags and poll class;
- :class:`HidFlag`: a status bit (``online``, ``dischrg``...) read from a path (NUT's "BOOL" rows);
- :class:`HidAlarm`: an ``ups.alarm`` text read from a path (NUT's vendor "ups.alarm" rows);
- :class:`HidCommand`: an instant command that writes a value to a path;
- :class:`ServerSetting`: a writable variable kept by the driver, not the device (NUT's HU_FLAG_ABSENT rows,
  ``ups.delay.shutdown``/``ups.delay.start``), published when its path exists.

Conversions are :class:`Conversion` objects (lookup tables, dates, Kelvin, string indexes). What a vendor's
C code does beyond its table (patching a lying descriptor, scaling values by product ID, formatting the model
name) is a :class:`Quirks` subclass, made fresh for each device the driver opens. Where a vendor's conversion
or status rule depends on what the device said before (mge-hid.c's ABM state, its model type), the row's
``device_text``/``device_number``/``device_bits`` function takes that device's Quirks object, which keeps
the state.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from appliance.drivers.hid_descriptor import STANDARD_USAGES, ReportDescriptor
from appliance.drivers.usb_transport import UsbIdentity

DEFAULT_OFFDELAY = 20
DEFAULT_ONDELAY = 30
DEFAULT_POLLFREQ = 30
DEFAULT_RW_LENGTH = 10


Published = Callable[[str], str | None]
"""Reads a variable the driver has published (None: not published)."""


class Withdraw(enum.Enum):
    """A device conversion's answer meaning: delete the variable (NUT's dstate_delinfo from a conversion)."""

    VARIABLE = "withdraw"


class Poll(enum.Enum):
    """When a variable is read (NUT's HU_FLAG_* poll classes)."""

    FULL = "full"
    """Every full walk (pollfreq)."""
    QUICK = "quick"
    """Every poll (pollinterval): status bits and timers."""
    SEMI_STATIC = "semi-static"
    """At start, then only after a SET or a command."""
    STATIC = "static"
    """Once, at start."""


@dataclass(frozen=True)
class Conversion:
    """A value conversion between the device number and the NUT text (NUT's info_lkp_t and its functions).

    Either ``table`` (number -> text, both ways) or ``to_text``/``from_text`` functions. ``string_index``:
    the number is a USB string descriptor index, which the driver resolves. ``device_text``/``device_number``
    also get the device's :class:`Quirks` and the published variables (a conversion with state); with a
    ``table``, the values it lists are a writable variable's choices (those ``device_text`` accepts).
    """

    name: str
    table: Mapping[int, str] = field(default_factory=dict)
    to_text: Callable[[float], str | None] | None = None
    from_text: Callable[[str], float | None] | None = None
    string_index: bool = False
    device_text: Callable[[Quirks, float, Published], str | Withdraw | None] | None = None
    device_number: Callable[[Quirks, str, Published], float | None] | None = None

    def text(self, value: float) -> str | None:
        """The NUT text for a device value; None when the value has no text (not published)."""
        if self.to_text is not None:
            return self.to_text(value)
        return self.table.get(int(value))

    def text_on(self, quirks: Quirks, value: float, published: Published) -> str | Withdraw | None:
        """The text for a device value on one device (its state considered when the conversion has one)."""
        if self.device_text is not None:
            return self.device_text(quirks, value, published)
        return self.text(value)

    def number_on(self, quirks: Quirks, text: str, published: Published) -> float | None:
        """The device value for a NUT text on one device."""
        if self.device_number is not None:
            return self.device_number(quirks, text, published)
        return self.number(text)

    def choices(self, quirks: Quirks, published: Published) -> list[str]:
        """The texts of ``table`` this device accepts, in table order (NUT's enum listing)."""
        return [
            text
            for number, text in self.table.items()
            if isinstance(self.text_on(quirks, float(number), published), str)
        ]

    def number(self, text: str) -> float | None:
        """The device value for a NUT text; None when the text is not one of the allowed values."""
        if self.from_text is not None:
            return self.from_text(text)
        for number, candidate in self.table.items():
            if candidate == text:
                return float(number)
        return None


@dataclass(frozen=True)
class HidVariable:
    """A NUT variable read from ``path`` (a Feature field); RW variables are written back there."""

    name: str
    path: str
    fmt: str = "%.0f"
    conversion: Conversion | None = None
    poll: Poll = Poll.FULL
    writable: bool = False
    length: int = DEFAULT_RW_LENGTH
    enum: bool = False
    """A writable variable whose conversion table's values are listed as its choices (NUT's HU_FLAG_ENUM)."""

    def text(self, value: float) -> str | None:
        """The published text for a device value (None: not published)."""
        if self.conversion is not None:
            return self.conversion.text(value)
        return self.fmt % value

    def text_on(self, quirks: Quirks, value: float, published: Published) -> str | Withdraw | None:
        """The published text on one device (a conversion with state asks the device's quirks)."""
        if self.conversion is not None:
            return self.conversion.text_on(quirks, value, published)
        return self.fmt % value


SET_WHEN_1: Mapping[int, bool] = MappingProxyType({1: True, 0: False})
"""A standard status usage: 1 sets the bit, 0 clears it (NUT's online_info, charging_info...)."""
SET_WHEN_0: Mapping[int, bool] = MappingProxyType({0: True, 1: False})
"""An inverted one: 0 sets the bit (NUT's nobattery_info, off_info for "Good")."""


@dataclass(frozen=True)
class HidFlag:
    """A status bit read from ``path`` (NUT's BOOL rows and their *_info tables).

    ``values`` maps a field value to the bit set (True) or cleared (False); any other value leaves the bit as
    it was, as NUT's lookups do (APCStatusFlag 8 and 16 clear ``off``, 0 sets it, the rest say nothing).
    """

    path: str
    flag: str
    values: Mapping[int, bool] = field(default_factory=lambda: SET_WHEN_1)
    poll: Poll = Poll.FULL
    device_bits: Callable[[Quirks, float, dict[str, bool]], None] | None = None
    """Replaces ``values`` where the bits depend on the device's state (mge-hid.c's ABM rules)."""

    def apply(self, value: float, bits: dict[str, bool], quirks: Quirks | None = None) -> None:
        """Set or clear the bit in ``bits`` for a field value (by ``device_bits`` when the row has one)."""
        if self.device_bits is not None and quirks is not None:
            self.device_bits(quirks, value, bits)
            return
        state = self.values.get(int(value))
        if state is not None:
            bits[self.flag] = state


@dataclass(frozen=True)
class HidAlarm:
    """An ``ups.alarm`` text for a field value (NUT's vendor "ups.alarm" rows), read on full walks."""

    path: str
    texts: Mapping[int, str]


@dataclass(frozen=True)
class HidCommand:
    """An instant command: write ``value`` to ``path``. ``value`` may name a delay ("offdelay"/"ondelay")."""

    name: str
    path: str
    value: str


@dataclass(frozen=True)
class ServerSetting:
    """A writable variable the driver keeps (NUT's HU_FLAG_ABSENT rows), published when ``path`` exists.

    Its value is the driver option ``option`` when given (offdelay, ondelay), else ``default``.
    """

    name: str
    path: str
    default: str
    option: str | None = None
    length: int = DEFAULT_RW_LENGTH


class Quirks:
    """A vendor's corrections beyond its table, for one device (the default corrects nothing).

    ``scale`` multiplies a variable's value before it is formatted (Tripp Lite's per-product battery and
    I/O scales); ``fixed`` replaces a variable's text (firmware known to lie); ``use_interrupt_pipe`` False
    polls only (APC 5G units, whose pipe carries a proprietary protocol).
    """

    use_interrupt_pipe = True

    def __init__(self, identity: UsbIdentity) -> None:
        self.identity = identity
        self.scale: dict[str, float] = {}
        self.fixed: dict[str, str] = {}

    def fix_descriptor(self, descriptor: ReportDescriptor) -> ReportDescriptor:
        """The descriptor with the vendor's known mistakes corrected (NUT's fix_report_desc hook)."""
        return descriptor

    def adjust(self, name: str, value: float, published: Callable[[str], str | None]) -> float:
        """The value to format for variable ``name``; ``published`` reads a variable already published."""
        return value * self.scale.get(name, 1.0)

    def model(self, product: str, device: DeviceFields) -> str | None:
        """ups.model from the USB product string and the device's fields (NUT's format_model hook), read
        before the first walk; None leaves it to the subdriver's ``product_variables``."""
        return None


class DeviceFields(Protocol):
    """What :meth:`Quirks.model` may read of the device before the first walk."""

    def value(self, path: str) -> float | None:
        """The value at a usage path (None: absent or unreadable)."""

    def text(self, path: str) -> str:
        """The USB string a string-index field at ``path`` points at ("" when absent)."""


@dataclass(frozen=True)
class Subdriver:
    """One vendor's table set; see the module docstring."""

    name: str
    vendor_ids: frozenset[int]
    products: Mapping[int, frozenset[int]]
    usages: Mapping[int, str]
    variables: tuple[HidVariable, ...]
    flags: tuple[HidFlag, ...]
    commands: tuple[HidCommand, ...]
    settings: tuple[ServerSetting, ...]
    default_mfr: str
    alarms: tuple[HidAlarm, ...] = ()
    refused: frozenset[tuple[int, int]] = frozenset()
    """(vendor, product) pairs never taken, even with the productid option (another driver's units)."""
    string_claims: Mapping[int, str] = field(default_factory=dict)
    """Vendor ID -> a text its manufacturer or product string must hold for the unit to be taken (another
    subdriver's vendor shared with a brand: mge-hid.c takes Phoenixtec's 06da only for AEG units)."""
    quirks: Callable[[UsbIdentity], Quirks] = field(default=lambda identity: Quirks(identity))
    """Makes the vendor's per-device corrections when a device is opened."""
    product_variables: Callable[[str], dict[str, str]] = lambda product: {"ups.model": product.strip()}
    """The variables the USB product string gives (ups.model; APC adds the firmware)."""
    pollfreq: int = DEFAULT_POLLFREQ

    @property
    def names(self) -> dict[int, str]:
        """Usage names for parsing: the standard pages plus this vendor's."""
        return {**STANDARD_USAGES, **self.usages}

    def is_supported(self, identity: UsbIdentity) -> bool:
        """The device is in this subdriver's table."""
        in_table = identity.productid in self.products.get(identity.vendorid, frozenset())
        return in_table and self._has_claimed_strings(identity)

    def is_possibly_supported(self, identity: UsbIdentity) -> bool:
        """Same vendor, product not listed: NUT takes it only when the productid option is given."""
        pair = (identity.vendorid, identity.productid)
        return identity.vendorid in self.vendor_ids and pair not in self.refused and self._has_claimed_strings(identity)

    def _has_claimed_strings(self, identity: UsbIdentity) -> bool:
        text = self.string_claims.get(identity.vendorid)
        return text is None or any(text in (name or "") for name in (identity.vendor, identity.product))


EXPLORE = Subdriver(
    name="EXPLORE HID 0.2",
    vendor_ids=frozenset(),
    products={},
    usages={},
    variables=(),
    flags=(),
    commands=(),
    settings=(),
    default_mfr="",
)
"""NUT's explore subdriver: no table; with the ``explore`` option it takes any device the matching options
select, and the driver logs every object of its descriptor (for adding an unsupported UPS)."""
