"""Tripp Lite 09ae:0001 units on the fake pyusb bus: tests/tripplite_unit.py's units as :class:`FakeDevice` objects."""

from __future__ import annotations

from tests.fake_usb import FakeDevice
from tests.tripplite_unit import FIXTURES, Fixture, TrippliteUnit, ddl_values, parse_frame

__all__ = ["FIXTURES", "Fixture", "TrippliteSim", "ddl_values", "parse_frame"]


class TrippliteSim(TrippliteUnit, FakeDevice):
    """A :class:`TrippliteUnit` answering SET_REPORT and interrupt IN on the fake bus."""

    def __init__(self, fixture: Fixture, *, address: int = 2, serial: str | None = None) -> None:
        TrippliteUnit.__init__(self, fixture)
        FakeDevice.__init__(
            self,
            0x09AE,
            0x0001,
            manufacturer="TRIPP LITE",
            product=f"TRIPP LITE {fixture.model} ",
            serial=serial,
            address=address,
        )

    def set_report(self, report_type: int, report_id: int, data: bytes) -> bool:
        """Feature report 0 carries commands; anything else is ignored as malformed."""
        if report_type == 3 and report_id == 0:
            self.receive(data)
        else:
            self.bad_frames.append(data)
        return True

    def interrupt_in(self, length: int, timeout_ms: int) -> bytes | None:
        """The current answer, again and again."""
        return self.current
