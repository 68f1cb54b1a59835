"""The MQTT publisher: every change upsd's driver links see goes to the broker at once (paho-mqtt 2.x).

It hangs on :meth:`DriverLink.subscribe`: a burst of driver messages (a DUMPALL, a status flip) is folded into
one flush on the next loop turn, which publishes only the retained topics whose payload changed, the
upsmon-style notifications the change implies (the monitor's own :class:`~appliance.monitor.policy.Policy`
decides them), and the Home Assistant discovery configs. A once-a-second tick catches what no message announces:
silence past MAXAGE, a UPS added or removed by a reload.

Resilience: paho runs its network loop in its own thread and reconnects by itself (the broker down at start,
lost, restarted). Nothing here ever waits for the broker, so upsd is never slowed. While disconnected nothing is
queued but the latest notifications (bounded); on every connect the whole retained state is published afresh
from the live replica, so the broker has the true state right after it returns and no status change can be lost.

Commands (``commands = true``): ``<ups>/command`` takes a command name, or JSON ``{"command": ..., "param": ...}``
or ``{"set": var, "value": ...}``, with an optional ``"id"``; it runs through a NUT connection to this very upsd
as ``command_user`` — upsd's own access rules decide — and the result goes to ``<ups>/command/result``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
import socket
import ssl
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from appliance.appconf import MqttConf
from appliance.clients.nut_client import AsyncNutClient, NutError
from appliance.monitor.policy import Policy
from appliance.mqtt.topics import (
    UpsSnapshot,
    base_topic,
    device_identities,
    discovery_messages,
    event_message,
    state_messages,
)
from appliance.nutconf.upsmon_conf import Monitor, UpsmonConf
from appliance.server.commands import UpsEntry
from appliance.server.listener import UpsdServer
from appliance.state import Message

log = logging.getLogger(__name__)

MAX_PENDING_EVENTS = 256
TICK = 1.0


class MqttSetupError(Exception):
    """The [mqtt] settings cannot be used (a TLS file is missing or unreadable); the message says which."""


def snapshot(entry: UpsEntry, with_commands: bool) -> UpsSnapshot:
    """The publishable state of one served UPS, exactly as upsd would serve it."""
    link = entry.link
    values = {var.name: var.value for var in link.state.variables()}
    if entry.fsd and "ups.status" in values:
        values["ups.status"] = f"FSD {values['ups.status']}"
    commands = link.state.commands() if with_commands else []
    return UpsSnapshot(entry.name, values, commands, stale=link.is_stale, desc=entry.desc)


class MqttPublisher:
    """Publishes the UPSes of one running upsd to one broker."""

    def __init__(self, conf: MqttConf, server: UpsdServer, hostname: str | None = None) -> None:
        self.conf = conf
        self.server = server
        self.hostname = hostname or socket.gethostname().split(".")[0]
        self.base = base_topic(conf.prefix, self.hostname)
        self.availability = f"{self.base}/availability"
        self.loop = asyncio.get_running_loop()
        self.sent: dict[str, str] = {}  # retained topic -> payload the broker has (as far as we know)
        self.events: collections.deque[tuple[str, str]] = collections.deque(maxlen=MAX_PENDING_EVENTS)
        self.connected = False
        self._dirty = False
        self._watched: dict[str, UpsEntry] = {}
        self._policy = Policy(UpsmonConf(path="", minsupplies=0), self.loop.time())
        self._last_status: dict[str, str | None] = {}
        self._tick: asyncio.Task[None] | None = None
        self._reported: str | None = None
        self.client = self._make_client()

    # -- the paho client, in its own thread --------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        conf = self.conf
        v5 = conf.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=conf.client_id or f"appliance-{self.hostname}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else True,
        )
        if conf.username:
            client.username_pw_set(conf.username, conf.password)
        if conf.tls_ca:
            try:
                client.tls_set(ca_certs=conf.tls_ca, certfile=conf.tls_cert, keyfile=conf.tls_key)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise MqttSetupError(f"MQTT TLS files (tls_ca/tls_cert/tls_key) cannot be used: {exc}") from None
        client.will_set(self.availability, "offline", qos=conf.qos, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=1)  # back within a second of the broker's return
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def _report(self, message: str, level: int = logging.WARNING) -> None:
        """Log a connection problem once, not on every retry."""
        if message != self._reported:
            log.log(level, "%s", message)
            self._reported = message

    def _on_connect(self, client: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any = None) -> None:
        if reason.is_failure:
            self._report(f"MQTT broker {self.conf.host} refused the connection: {reason} (retrying)")
            return
        self._report(f"MQTT: connected to {self.conf.host}", logging.INFO)
        if self.conf.commands:
            client.subscribe(f"{self.base}/+/command", qos=self.conf.qos)
        self.loop.call_soon_threadsafe(self._connected)

    def _on_disconnect(self, _: mqtt.Client, __: Any, ___: Any, reason: Any, ____: Any = None) -> None:
        self.loop.call_soon_threadsafe(self._disconnected, str(reason))

    def _on_connect_fail(self, _: mqtt.Client, __: Any) -> None:
        trust = " or its TLS certificate is not trusted (tls_ca)" if self.conf.tls_ca else ""
        self._report(f"MQTT broker {self.conf.host}:{self._port} cannot be reached{trust} (retrying every second)")

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        ups = message.topic[len(self.base) + 1 :].rsplit("/", 1)[0]
        self.loop.call_soon_threadsafe(self._command, ups, bytes(message.payload))

    @property
    def _port(self) -> int:
        return self.conf.port or (8883 if self.conf.tls_ca else 1883)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and start following every UPS."""
        try:
            self.client.connect_async(self.conf.host, self._port, keepalive=30)
        except (OSError, ValueError, ssl.SSLError) as exc:
            self._report(f"MQTT: cannot connect to {self.conf.host}:{self._port}: {exc}", logging.ERROR)
        self.client.loop_start()
        self._follow()
        self._tick = self.loop.create_task(self._ticker())

    async def close(self) -> None:
        """Say offline, stop the network thread."""
        if self._tick is not None:
            self._tick.cancel()
        for entry in self._watched.values():
            entry.link.unsubscribe(self._changed)
        if self.connected:
            info = self.client.publish(self.availability, "offline", qos=self.conf.qos, retain=True)
            await asyncio.to_thread(info.wait_for_publish, 2.0)
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    def _connected(self) -> None:
        self.connected = True
        self.sent.clear()  # the broker may have lost anything: publish the whole truth again
        self._publish(self.availability, "online", retain=True)
        self.flush()

    def _disconnected(self, reason: str) -> None:
        if self.connected:
            self._report(f"MQTT: lost the broker ({reason}); reconnecting")
        self.connected = False

    # -- following the UPSes -----------------------------------------------------------------------------------
    def _follow(self) -> None:
        """Subscribe to UPSes new in upsd (a reload adds them) and forget removed ones."""
        current = dict(self.server.model.ups)
        for key in set(self._watched) - set(current):
            self._watched.pop(key).link.unsubscribe(self._changed)
            self._dirty = True
        for key, entry in current.items():
            if self._watched.get(key) is not entry:
                entry.link.subscribe(self._changed)
                self._watched[key] = entry
                self._policy.reconfigure(self._policy_conf())
                self._dirty = True

    def _policy_conf(self) -> UpsmonConf:
        monitors = [Monitor(e.name, e.name, "localhost", 0, 0, "", "", "secondary", 0) for e in self._watched.values()]
        return UpsmonConf(path="", monitors=monitors, minsupplies=0)

    def _changed(self, _ups: str, _message: Message) -> None:
        if not self._dirty:
            self._dirty = True
            self.loop.call_soon(self.flush)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self._follow()
            self.flush()

    def flush(self) -> None:
        """Publish what changed since the last flush (everything after a reconnect)."""
        self._dirty = False
        wanted: dict[str, str] = {}
        now = time.time()
        upses = [snapshot(entry, self.conf.commands) for entry in self._watched.values()]
        identities = device_identities(self.hostname, upses)
        for ups in upses:
            wanted.update(state_messages(self.base, ups))
            if self.conf.discovery:
                prefix = self.conf.discovery_prefix
                wanted.update(discovery_messages(prefix, self.base, identities[ups.name], ups))
            self._notices(ups.name, None if ups.stale else ups.values.get("ups.status"), now)
        if not self.connected:
            return
        for topic in [t for t in self.sent if t not in wanted and t != self.availability]:
            self._publish(topic, "", retain=True)  # a variable or UPS that went away: clear its retained topic
            del self.sent[topic]
        for topic, payload in wanted.items():
            if self.sent.get(topic) != payload:
                self._publish(topic, payload, retain=True)
        while self.events:
            self._publish(*self.events.popleft(), retain=False)

    def _notices(self, ups: str, status: str | None, now: float) -> None:
        """Queue the notifications the monitor's policy derives from a status change."""
        if self._last_status.get(ups, "") == status:
            return
        self._last_status[ups] = status
        if status == "WAIT":
            return
        for notice in self._policy.observe(ups, status, self.loop.time()).notices:
            message = f"UPS {ups}: {notice.kind}"
            self.events.append((f"{self.base}/{ups}/event", event_message(notice.kind, ups, message, now)))

    def _publish(self, topic: str, payload: str, *, retain: bool) -> None:
        info = self.client.publish(topic, payload, qos=self.conf.qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            if retain:
                self.sent[topic] = payload
        elif retain:
            self.sent.pop(topic, None)  # not sent: the next flush tries again

    # -- commands ----------------------------------------------------------------------------------------------
    def _command(self, ups: str, payload: bytes) -> None:
        self.loop.create_task(self._run_command(ups, payload))

    async def _run_command(self, ups: str, payload: bytes) -> None:
        request = parse_command(payload)
        if isinstance(request, str):
            log.warning("MQTT command for %s refused: %s", ups, request)
            self._result(ups, {"result": f"ERR {request}"})
            return
        result = await self._through_upsd(ups, request)
        log.info("MQTT command %s for %s: %s", request, ups, result)
        self._result(ups, {**request, "result": result})

    async def _through_upsd(self, ups: str, request: dict[str, str]) -> str:
        user = self.server.model.users.get(self.conf.command_user or "")
        if user is None or not self.server.bound:
            return "ERR ACCESS-DENIED"
        address, port = self.server.bound[0]
        host = "127.0.0.1" if address in ("0.0.0.0", "") else ("::1" if address == "::" else address)
        try:
            client = await AsyncNutClient.connect(host, port)
        except OSError as exc:
            return f"ERR upsd unreachable: {exc}"
        try:
            await client.username(user.name)
            await client.password(user.password or "")
            await client.tracking(True)
            if "set" in request:
                tracking = await client.set_var(ups, request["set"], request.get("value", ""))
            else:
                tracking = await client.instcmd(ups, request["command"], request.get("param"))
            return await self._tracked(client, tracking)
        except NutError as exc:
            return f"ERR {exc.token or exc}"
        except OSError as exc:
            return f"ERR {exc}"
        finally:
            await client.close()

    @staticmethod
    async def _tracked(client: AsyncNutClient, tracking: str | None) -> str:
        """Wait (bounded) for the driver's verdict on a tracked request."""
        if not tracking:
            return "OK"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = str(await client.get_tracking(tracking))
            if state != "PENDING":
                return state
            await asyncio.sleep(0.1)
        return "PENDING"

    def _result(self, ups: str, result: dict[str, str]) -> None:
        if self.connected:
            self._publish(f"{self.base}/{ups}/command/result", json.dumps(result, sort_keys=True), retain=False)


def parse_command(payload: bytes) -> dict[str, str] | str:
    """A command payload as a request dict, or the reason it is refused."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "INVALID-ARGUMENT (payload is not UTF-8)"
    if not text:
        return "INVALID-ARGUMENT (empty payload)"
    if not text.startswith("{"):
        if re.fullmatch(r"[A-Za-z0-9._-]+", text):
            return {"command": text}
        return "INVALID-ARGUMENT (a command name like beeper.toggle, or JSON)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"INVALID-ARGUMENT (bad JSON: {exc.msg})"
    if not isinstance(data, dict) or not all(isinstance(v, str | int | float) for v in data.values()):
        return "INVALID-ARGUMENT (a JSON object of strings)"
    request = {k: str(v) for k, v in data.items() if k in ("command", "param", "set", "value", "id")}
    if ("command" in request) == ("set" in request):
        return "INVALID-ARGUMENT (give either 'command' or 'set')"
    if "set" in request and "value" not in request:
        return "INVALID-ARGUMENT ('set' needs 'value')"
    return request
