"""Every option Debian's NUT 2.8.0 drivers accept (``-h``), ours accept too, as a flag or a value alike.

A user's ups.conf must work unchanged: an option NUT's driver takes and ours refuses would stop the driver.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from appliance.drivers import driver_class

NUT_DRIVERS = Path("/lib/nut")
OPTION = re.compile(r": -x (?P<name>[\w.]+)(?P<value>=<value>)?$")
SHARED = ("usbhid-ups", "tripplite_usb", "nutdrv_qx", "genericups", "dummy-ups")
# What our nutdrv_qx does not implement yet: the USB transport (its matching and language-ID options) and the
# options of dialects other than megatec (voltronic, hunnox, fabula...). A ups.conf using them is refused with
# the option named, rather than accepted and ignored.
NOT_YET = {
    "nutdrv_qx": {
        *("bus", "device", "product", "productid", "serial", "vendor", "vendorid", "usb_set_altinterface"),
        *("subdriver", "langid_fix", "noscanlangid"),
        *("advanced_eco_mode", "alarm_control", "battery_alarm", "battery_number", "battery_open_status_check"),
        *("bypass_alarm", "bypass_forbidding", "bypass_when_off", "constant_phase_angle", "converter_mode"),
        *("eco_mode", "fault_1", "fault_2", "fault_3", "fault_4", "fault_5", "input_fault_voltage"),
        *("limited_runtime_on_battery", "max_bypass_freq", "max_bypass_volt", "min_bypass_freq", "min_bypass_volt"),
        *("nominal_cell_voltage", "number_of_battery_cells", "output_phase_angle", "output_voltages"),
        *("pins_shutdown_mode", "recharge_time", "reset_to_default", "runtime_full", "runtime_half", "series"),
        *("site_fault_detection", "slave_address", "testing", "work_range_type"),
    }
}


def nut_options(driver: str) -> dict[str, bool]:
    """Option name -> takes a value, from the driver's help text."""
    result = subprocess.run([str(NUT_DRIVERS / driver), "-h"], capture_output=True, text=True, timeout=10, check=False)
    found = {}
    for line in (result.stdout + result.stderr).splitlines():
        match = OPTION.search(line.strip())
        if match:
            found[match["name"]] = match["value"] is not None
    return found


@pytest.mark.parametrize("driver", SHARED)
def test_our_driver_accepts_every_nut_option(driver: str) -> None:
    if not (NUT_DRIVERS / driver).exists():
        pytest.fail(f"Debian's {driver} is not installed (./dev installs nut-server)")
    theirs = nut_options(driver)
    assert theirs, f"no -x options parsed from {driver} -h"
    cls = driver_class(driver)
    assert cls is not None
    ours = {spec.name: spec.takes_value for spec in cls.options}
    missing = sorted(set(theirs) - set(ours) - NOT_YET.get(driver, set()))
    assert not missing, f"{driver}: NUT accepts {missing}, we do not"
    shared = set(theirs) & set(ours)
    assert {name: ours[name] for name in shared} == {name: theirs[name] for name in shared}, driver
