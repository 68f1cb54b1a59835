"""upsd's end of a driver socket (NUT's server/sstate.c): connect, DUMPALL, keep a replica, detect silence.

One :class:`DriverLink` per UPS. It connects to ``<statepath>/<driver>-<ups>``, sends ``DUMPALL`` and applies
every message to a :class:`~appliance.state.DeviceState` replica. Staleness follows NUT exactly: any message
refreshes "last heard"; a ``PING`` goes out when more than MAXAGE/3 has passed since both the last message and
the last ping; more than MAXAGE of silence makes the data stale, and so does a finished dump without DATAOK.
When the socket closes (the driver restarted) the replica is flushed and the link reconnects and dumps again;
a driver that is not there yet is retried, so upsd and its drivers can start in any order.

Change events: :meth:`DriverLink.subscribe` registers ``listener(ups_name, message)``, called for every
state message applied to the replica (``("SETINFO", var, value)``, ``("DATASTALE",)`` ...) plus the link's own
``("CONNECTED",)``, ``("DISCONNECTED",)`` and ``("DUMPDONE",)``. This is the push feed for MQTT, metrics and the
monitor: nothing needs to poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from appliance.protocol.driver_socket import TRACKING_RESULTS, LineCodec, ProtocolError, format_message
from appliance.state import STATE_MESSAGES, DeviceState, Message, StateError

log = logging.getLogger(__name__)

LinkListener = Callable[[str, Message], None]
RECONNECT_DELAY = 1.0


class DriverLink:
    """The replica of one UPS fed by its driver; see the module docstring."""

    def __init__(
        self,
        ups: str,
        socket_path: str | Path,
        *,
        maxage: float = 15.0,
        trackingdelay: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        reconnect_delay: float = RECONNECT_DELAY,
    ) -> None:
        self.ups = ups
        self.socket_path = Path(socket_path)
        self.maxage = maxage
        self.clock = clock
        self.reconnect_delay = reconnect_delay
        self.state = DeviceState()
        self.connected = False
        self.dump_done = False
        self.last_heard = 0.0
        self.last_ping = 0.0
        self.tracking: dict[str, str] = {}
        self.trackingdelay = trackingdelay
        self._tracking_since: dict[str, float] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._listeners: list[LinkListener] = []
        self._task: asyncio.Task[None] | None = None
        self._missing_logged = False
        self.state.subscribe(self._forward)

    # -- events -------------------------------------------------------------------------------------
    def subscribe(self, listener: LinkListener) -> None:
        """Call ``listener(ups, message)`` for every change; see the module docstring."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: LinkListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def announce(self, message: Message) -> None:
        """Tell the change listeners of an upsd-level change that no driver message carries (``("FSD",)``)."""
        self._forward(message)

    def _forward(self, message: Message) -> None:
        for listener in list(self._listeners):
            try:
                listener(self.ups, message)
            except Exception:  # a consumer's bug must not break the replica
                log.exception("change listener failed for %s", self.ups)

    # -- status --------------------------------------------------------------------------------------
    @property
    def is_stale(self) -> bool:
        """NUT's sstate_dead: not connected, DATASTALE after the dump, or silent for more than MAXAGE.

        While the first dump is still arriving the data is not stale: ``ups.status`` reads ``WAIT``.
        """
        if not self.connected:
            return True
        if self.dump_done and not self.state.data_ok:
            return True
        return self.clock() > self.fresh_until

    @property
    def fresh_until(self) -> float:
        """The instant (on :attr:`clock`) at which silence from the driver would make the data stale."""
        return self.last_heard + self.maxage

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin connecting (and reconnecting) in the background."""
        self._task = asyncio.create_task(self._run(), name=f"driver-link-{self.ups}")

    async def close(self) -> None:
        """Stop the link and close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._drop_connection()

    async def _run(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
            except OSError as exc:
                if not self._missing_logged:
                    log.warning("Can't connect to UPS [%s] (%s): %s", self.ups, self.socket_path.name, exc.strerror)
                    self._missing_logged = True
                await asyncio.sleep(self.reconnect_delay)
                continue
            self._missing_logged = False
            log.info("Connected to UPS [%s]: %s", self.ups, self.socket_path.name)
            self._writer = writer
            self.connected = True
            self.dump_done = False
            self.state.clear()
            self.state.set_info("ups.status", "WAIT")  # as upsd does until the driver's dump arrives
            self.last_heard = self.last_ping = self.clock()
            self._forward(("CONNECTED",))
            try:
                writer.write(b"DUMPALL\n")
                await writer.drain()
                await self._read(reader)
            except (OSError, ConnectionError) as exc:
                log.warning("Driver connection for UPS [%s] lost: %s", self.ups, exc)
            finally:
                self._drop_connection()
            await asyncio.sleep(self.reconnect_delay)

    def _drop_connection(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.connected:
            self.connected = False
            self.dump_done = False
            log.warning("Data for UPS [%s] is stale: driver disconnected", self.ups)
            self._forward(("DISCONNECTED",))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        codec = LineCodec()
        heartbeat = max(self.maxage / 3, 0.05)
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout=heartbeat / 2)
            except TimeoutError:
                await self._maybe_ping()
                continue
            if not data:
                log.warning("Driver for UPS [%s] closed the connection", self.ups)
                return
            self.last_heard = self.clock()
            for event in codec.receive(data):
                if isinstance(event, ProtocolError):
                    log.warning("UPS [%s]: bad line from driver (%s): %r", self.ups, event.reason, event.excerpt)
                else:
                    self._handle(event)
            await self._maybe_ping()

    async def _maybe_ping(self) -> None:
        now = self.clock()
        third = self.maxage / 3
        if now - self.last_heard > third and now - self.last_ping > third and self._writer is not None:
            self.last_ping = now
            self._writer.write(b"PING\n")
            await self._writer.drain()

    def _handle(self, words: tuple[str, ...]) -> None:
        verb = words[0].upper()
        if verb in STATE_MESSAGES:
            try:
                self.state.apply(words)
            except StateError as exc:
                log.warning("UPS [%s]: driver sent %s: %s", self.ups, " ".join(words)[:80], exc)
        elif verb == "DUMPDONE":
            if not self.dump_done:
                self.dump_done = True
                self._forward(("DUMPDONE",))
        elif verb == "TRACKING" and len(words) >= 3:
            code = int(words[2]) if words[2].isdigit() else 3
            self.tracking[words[1]] = TRACKING_RESULTS.get(code, "ERR FAILED")
        elif verb not in ("PONG", "PID", "OK"):
            log.debug("UPS [%s]: ignoring driver message %s", self.ups, verb)

    # -- requests to the driver ------------------------------------------------------------------------
    def send(self, words: tuple[str, ...]) -> bool:
        """Queue one message to the driver; False when it is not connected."""
        if self._writer is None or self._writer.is_closing():
            return False
        self._writer.write(format_message(words))
        return True

    def instcmd(self, command: str, param: str | None = None, tracking_id: str | None = None) -> bool:
        """Ask the driver to run an instant command; the result lands in :attr:`tracking` when tracked."""
        return self._request(["INSTCMD", command, *([param] if param is not None else [])], tracking_id)

    def set_var(self, var: str, value: str, tracking_id: str | None = None) -> bool:
        """Ask the driver to set a variable; the result lands in :attr:`tracking` when tracked."""
        return self._request(["SET", var, value], tracking_id)

    def _request(self, words: list[str], tracking_id: str | None) -> bool:
        if tracking_id:
            now = self.clock()
            # NUT forgets tracking results TRACKINGDELAY seconds after the request
            for old in [k for k, t in self._tracking_since.items() if now - t > self.trackingdelay]:
                self.tracking.pop(old, None)
                del self._tracking_since[old]
            words += ["TRACKING", tracking_id]
            self.tracking[tracking_id] = "PENDING"
            self._tracking_since[tracking_id] = now
        return self.send(tuple(words))
