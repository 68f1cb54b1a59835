"""What appliance.toml adds beside upsd: the MQTT publisher and the Prometheus endpoint.

Started by ``appliance run`` and by ``appliance upsd`` alike (the image runs upsd as its own unit), each only when
its table is present, and each importing its library (paho-mqtt, prometheus-client) only then.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from appliance.appconf import load_appconf
from appliance.nutconf.diagnostics import ConfigError
from appliance.server.listener import UpsdServer

log = logging.getLogger(__name__)


class Extra(Protocol):
    """Something started beside upsd that must be closed with it."""

    async def close(self) -> None:
        """Stop it."""


async def start_extras(confdir: Path, server: UpsdServer) -> list[Extra]:
    """What appliance.toml adds to upsd: the MQTT publisher and the Prometheus endpoint.

    A problem with either is logged and leaves it off; the NUT side runs regardless.
    """
    try:
        appconf = load_appconf(confdir)
    except ConfigError as exc:
        log.error("appliance.toml ignored (MQTT and metrics off):\n%s", exc)
        return []
    extras: list[Extra] = []
    if appconf.mqtt is not None:
        from appliance.mqtt.publisher import MqttPublisher, MqttSetupError  # paho only when MQTT is on

        try:
            publisher = MqttPublisher(appconf.mqtt, server)
        except MqttSetupError as exc:
            log.error("%s: MQTT off", exc)
        else:
            publisher.start()
            extras.append(publisher)
    if appconf.metrics is not None:
        from appliance.metrics import MetricsServer  # prometheus-client only when metrics are on

        try:
            extras.append(await MetricsServer.start(appconf.metrics, server))
        except OSError as exc:
            log.error("metrics endpoint %s:%d: %s", appconf.metrics.listen, appconf.metrics.port, exc)
    return extras
