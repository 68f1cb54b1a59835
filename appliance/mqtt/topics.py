"""What the MQTT publisher sends, as pure functions: a UPS's state in, ``{topic: payload}`` out.

Topics, under ``<prefix>/<hostname>`` (the host part keeps two appliances with a UPS called ``ups`` apart):

- ``<ups>/<nut.var.name>`` — one retained topic per variable, its value as upsd serves it (``ups.status`` with FSD);
- ``<ups>/status`` — retained: the ups.status tokens (``OB LB``), or ``WAIT`` / ``STALE``;
- ``<ups>/connected`` — retained ``ON``/``OFF``: the data is fresh (Home Assistant's connectivity sensor);
- ``<ups>/json`` — retained snapshot of every variable, plus ``stale``;
- ``<ups>/event`` — not retained: each upsmon-style notification (ONBATT, LOWBATT, FSD, COMMBAD, ...) as JSON;
- ``<ups>/command`` and ``<ups>/command/result`` — commands in, their results out (when enabled);
- ``availability`` — retained ``online``/``offline``, ``offline`` also being the last will.

Home Assistant discovery configs (retained, under the discovery prefix) describe one HA device per UPS,
identified by its serial number, with the sensors, device classes and units of Home Assistant's own NUT
integration, binary sensors for on-line, low battery, replace battery and connectivity, and a button per command.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# variable -> (device_class, unit): as Home Assistant's NUT integration describes its sensors
SENSORS: dict[str, tuple[str | None, str | None]] = {
    "battery.charge": ("battery", "%"),
    "battery.charge.low": ("battery", "%"),
    "battery.runtime": ("duration", "s"),
    "battery.runtime.low": ("duration", "s"),
    "battery.voltage": ("voltage", "V"),
    "battery.voltage.nominal": ("voltage", "V"),
    "battery.temperature": ("temperature", "°C"),
    "ups.temperature": ("temperature", "°C"),
    "ups.load": (None, "%"),
    "ups.realpower": ("power", "W"),
    "ups.realpower.nominal": ("power", "W"),
    "ups.power": ("apparent_power", "VA"),
    "ups.power.nominal": ("apparent_power", "VA"),
    "input.voltage": ("voltage", "V"),
    "input.voltage.nominal": ("voltage", "V"),
    "input.frequency": ("frequency", "Hz"),
    "input.current": ("current", "A"),
    "output.voltage": ("voltage", "V"),
    "output.voltage.nominal": ("voltage", "V"),
    "output.frequency": ("frequency", "Hz"),
    "output.current": ("current", "A"),
}
# binary sensor -> (device_class, the template that reads it from the status topic)
STATUS_BINARY: dict[str, tuple[str, str]] = {
    "online": ("power", "{{ 'ON' if 'OL' in value.split() else 'OFF' }}"),
    "low_battery": ("battery", "{{ 'ON' if 'LB' in value.split() else 'OFF' }}"),
    "replace_battery": ("problem", "{{ 'ON' if 'RB' in value.split() else 'OFF' }}"),
}


@dataclass
class UpsSnapshot:
    """What the publisher knows of one UPS at one moment."""

    name: str
    values: dict[str, str] = field(default_factory=dict)  # as upsd serves them (FSD folded into ups.status)
    commands: list[str] = field(default_factory=list)
    stale: bool = True
    desc: str | None = None

    @property
    def status(self) -> str:
        """``ups.status``, or ``STALE`` when the data cannot be trusted."""
        return "STALE" if self.stale else self.values.get("ups.status", "WAIT")

    @property
    def device_id(self) -> str | None:
        """A stable identity: the serial number, when the UPS reports a usable one."""
        for key in ("device.serial", "ups.serial"):
            serial = self.values.get(key, "").strip()
            if serial and serial.strip("0") and serial.lower() not in ("unknown", "none"):
                return re.sub(r"[^A-Za-z0-9_-]", "_", serial)
        return None


def base_topic(prefix: str, hostname: str) -> str:
    """``<prefix>/<hostname>``."""
    return f"{prefix.rstrip('/')}/{hostname}"


def state_messages(base: str, ups: UpsSnapshot) -> dict[str, str]:
    """The retained state topics of one UPS."""
    root = f"{base}/{ups.name}"
    messages = {f"{root}/{name}": value for name, value in ups.values.items()}
    messages[f"{root}/status"] = ups.status
    messages[f"{root}/connected"] = "OFF" if ups.stale else "ON"
    messages[f"{root}/json"] = json.dumps({**ups.values, "stale": ups.stale}, sort_keys=True)
    return messages


def event_message(notice_kind: str, ups: str, message: str, when: float) -> str:
    """The JSON payload of one notification."""
    return json.dumps({"type": notice_kind, "ups": ups, "message": message, "time": round(when, 3)})


def device_identities(hostname: str, upses: list[UpsSnapshot]) -> dict[str, str]:
    """Each UPS's Home Assistant identity: its serial, unless missing or shared (then ``<hostname>_<ups>``)."""
    serials = [u.device_id for u in upses]
    return {
        u.name: serial if serial and serials.count(serial) == 1 else f"{hostname}_{u.name}"
        for u, serial in zip(upses, serials, strict=True)
    }


def discovery_messages(discovery_prefix: str, base: str, identity: str, ups: UpsSnapshot) -> dict[str, str]:
    """Home Assistant discovery configs for one UPS (retained); ``identity`` from :func:`device_identities`."""
    node = re.sub(r"[^A-Za-z0-9_-]", "_", f"nut_{identity}")
    root = f"{base}/{ups.name}"
    device = {
        "identifiers": [node],
        "name": ups.desc or f"{ups.name} on {base.rsplit('/', 1)[-1]}",
        "manufacturer": ups.values.get("device.mfr") or ups.values.get("ups.mfr") or "unknown",
        "model": ups.values.get("device.model") or ups.values.get("ups.model") or "UPS",
    }
    availability = [{"topic": f"{base}/availability"}]

    def config(component: str, object_id: str, name: str, **extra: object) -> tuple[str, str]:
        payload = {
            "name": name,
            "unique_id": f"{node}_{object_id}",
            "object_id": f"{ups.name}_{object_id}",
            "device": device,
            "availability": availability,
            **extra,
        }
        return f"{discovery_prefix}/{component}/{node}/{object_id}/config", json.dumps(payload, sort_keys=True)

    configs = [config("sensor", "status", "Status", state_topic=f"{root}/status")]
    for var, (device_class, unit) in SENSORS.items():
        if var not in ups.values:
            continue
        extra: dict[str, object] = {"state_topic": f"{root}/{var}", "unit_of_measurement": unit}
        if device_class:
            extra["device_class"] = device_class
        if not var.endswith((".nominal", ".low")):
            extra["state_class"] = "measurement"
        else:
            extra["entity_category"] = "diagnostic"
        configs.append(config("sensor", var.replace(".", "_"), var, **extra))
    for object_id, (device_class, template) in STATUS_BINARY.items():
        configs.append(
            config(
                "binary_sensor",
                object_id,
                object_id.replace("_", " ").capitalize(),
                state_topic=f"{root}/status",
                value_template=template,
                device_class=device_class,
            )
        )
    configs.append(
        config(
            "binary_sensor",
            "connectivity",
            "Connectivity",
            state_topic=f"{root}/connected",
            device_class="connectivity",
            entity_category="diagnostic",
        )
    )
    for command in ups.commands:
        configs.append(
            config(
                "button",
                f"cmd_{command.replace('.', '_')}",
                command,
                command_topic=f"{root}/command",
                payload_press=command,
                entity_category="config",
            )
        )
    return dict(configs)
