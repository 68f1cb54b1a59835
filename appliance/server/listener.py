"""upsd's network edge: asyncio listeners, one task per client, replies written with one send each.

Protection against abuse: a request line longer than :data:`MAX_REQUEST` closes the connection; a client whose
unsent output exceeds :data:`MAX_PENDING_OUTPUT` (it does not read) is dropped; MAXCONN bounds the number of
clients; every client is handled in its own task, so a slow or silent one never delays the others.

API for embedding (``appliance run`` uses it)::

    server = await UpsdServer.start(config)      # config: ServerConfig (see appliance.server.daemon.load_config)
    server.bound                                  # [(address, port), ...] actually listening
    server.model                                  # the ServerModel: UPS entries with their driver links
    server.reload(new_config)                     # SIGHUP semantics: clients stay connected
    await server.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from appliance.nutconf.upsd_conf import Listen
from appliance.nutconf.upsd_users import User
from appliance.protocol.driver_socket import LineCodec, ProtocolError
from appliance.server.commands import Descriptions, ServerModel, Session, UpsEntry, dispatch, release
from appliance.server.driver_link import DriverLink

log = logging.getLogger(__name__)

MAX_REQUEST = 8192
MAX_PENDING_OUTPUT = 1 << 20
MAX_CACHED_REPLIES = 4096


@dataclass
class UpsDefinition:
    """What upsd needs to know of one UPS from ups.conf."""

    name: str
    driver: str
    desc: str | None = None


@dataclass
class ServerConfig:
    """Everything upsd reads from its config files, resolved."""

    listen: list[Listen]
    ups: list[UpsDefinition]
    users: dict[str, User]
    statepath: Path
    maxage: int = 15
    trackingdelay: int = 3600
    maxconn: int = 1024
    certfile: str | None = None
    idle_timeout: float = 60.0  # NUT sheds a client after a minute without a complete request
    descriptions: Descriptions = field(default_factory=Descriptions)


def _tls_context(certfile: str | None) -> ssl.SSLContext | None:
    if not certfile:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile)
    return context


class UpsdServer:
    """A running upsd: listeners, clients and one driver link per UPS."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.model = ServerModel(users=config.users, descriptions=config.descriptions)
        self.tls = _tls_context(config.certfile)
        self.model.tls_available = self.tls is not None
        self.bound: list[tuple[str, int]] = []
        self._servers: list[asyncio.Server] = []
        self.connections: set[ClientProtocol] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, config: ServerConfig) -> UpsdServer:
        """Connect to the drivers and open every LISTEN address; raise OSError if none can be bound."""
        server = cls(config)
        server._sync_ups(config)
        for listen in config.listen:
            try:
                srv = await asyncio.get_running_loop().create_server(
                    server._accept, listen.address, listen.port, reuse_address=True
                )
            except OSError as exc:
                log.error("not listening on %s port %s: %s", listen.address, listen.port, exc.strerror or exc)
                continue
            server._servers.append(srv)
            for sock in srv.sockets:
                address, port = sock.getsockname()[:2]
                server.bound.append((address, port))
                log.info("listening on %s port %s", address, port)
        if not server._servers:
            await server.close()
            raise OSError("no listening interface available")
        server._background(server._shed_idle_clients())
        return server

    async def _shed_idle_clients(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(5.0, self.config.idle_timeout / 2))
            limit = loop.time() - self.config.idle_timeout
            for client in [c for c in self.connections if c.last_heard < limit]:
                log.debug("Disconnect %s (timeout)", client.session.addr if client.session else "?")
                if client.transport is not None:
                    client.transport.abort()

    def _sync_ups(self, config: ServerConfig) -> None:
        self.model.invalidate()
        wanted = {u.name.lower(): u for u in config.ups}
        for key in list(self.model.ups):
            if key not in wanted:
                entry = self.model.ups.pop(key)
                log.info("UPS [%s] removed from ups.conf", entry.name)
                self._background(entry.link.close())
        for key, definition in wanted.items():
            socket = config.statepath / f"{definition.driver}-{definition.name}"
            entry = self.model.ups.get(key)
            if entry is not None and entry.link.socket_path == socket:
                entry.desc = definition.desc
                continue
            if entry is not None:
                self._background(entry.link.close())
            link = DriverLink(definition.name, socket, maxage=config.maxage, trackingdelay=config.trackingdelay)
            link.subscribe(self.model.invalidate)
            self.model.ups[key] = UpsEntry(definition.name, link, definition.desc)
            link.start()

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start_tls(self, client: ClientProtocol) -> None:
        """Upgrade a client to TLS after its ``OK STARTTLS`` went out."""
        assert self.tls is not None and client.transport is not None

        async def upgrade() -> None:
            assert client.transport is not None and self.tls is not None
            try:
                transport = await asyncio.get_running_loop().start_tls(
                    client.transport, client, self.tls, server_side=True
                )
            except (OSError, ssl.SSLError) as exc:
                log.info("TLS handshake with %s failed: %s", client.session.addr if client.session else "?", exc)
                client.transport.abort()
                return
            if transport is not None:
                client.upgraded(transport)

        self._background(upgrade())

    def reload(self, config: ServerConfig) -> None:
        """Apply a new configuration (users, UPS list, descriptions) without dropping clients."""
        self.config = config
        self.model.users = config.users
        self._sync_ups(config)
        log.info("configuration reloaded: %d UPS, %d users", len(config.ups), len(config.users))

    async def close(self) -> None:
        """Stop listening, disconnect clients and driver links."""
        for srv in self._servers:
            srv.close()
        for task in list(self._tasks):
            task.cancel()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        for entry in self.model.ups.values():
            await entry.link.close()
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await srv.wait_closed()

    # -- clients ------------------------------------------------------------------------------------
    def _accept(self) -> asyncio.Protocol:
        return ClientProtocol(self)


class ClientProtocol(asyncio.Protocol):
    """One client connection: requests in, replies out, each batch of replies in one write.

    A Protocol rather than streams: upsd's traffic is many tiny requests, and this path costs a fraction of a
    StreamReader/StreamWriter round trip.
    """

    def __init__(self, server: UpsdServer) -> None:
        self.server = server
        self.model = server.model
        self.codec = LineCodec(max_line=MAX_REQUEST, keep_empty=True)  # NUT answers an empty line too
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.partial = False  # part of a request line is buffered in the codec (no cached reply then)
        # the loop, looked up once: asyncio.get_running_loop() costs a getpid() system call on every use
        self.loop = asyncio.get_running_loop()
        self.last_heard = self.loop.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the client, or refuse it past MAXCONN."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        if len(self.model.sessions) >= self.server.config.maxconn:
            log.warning("MAXCONN (%d) reached: refusing a connection", self.server.config.maxconn)
            self.transport.close()
            return
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.session = Session(addr=str(peer[0]))
        self.model.sessions.append(self.session)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the client and its login."""
        if self.session is not None:
            release(self.model, self.session)
        self.server.connections.discard(self)

    def pause_writing(self) -> None:
        """The client stopped reading; drop it if its backlog keeps growing (see data_received)."""
        self.paused = True

    def resume_writing(self) -> None:
        """The client reads again."""
        self.paused = False

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in ``data`` with one write."""
        session, transport = self.session, self.transport
        if session is None or transport is None or session.closing:
            return
        cached = self.model.reply_cache.get(data)
        if cached is not None and not self.partial:
            reply, link, fresh_until = cached
            if link.clock() <= fresh_until:  # the only staleness that comes without a change event: silence
                self.last_heard = self.loop.time()
                transport.write(reply)
                return
        replies: list[str] = []
        events = self.codec.receive(data)
        self.partial = self.codec.pending
        for event in events:
            if isinstance(event, ProtocolError):
                if event.reason.startswith("line longer"):
                    log.info("client %s sent an over-long request: closing", session.addr)
                    session.closing = True
                    break
                # NUT logs "Parse error on sock" and sends nothing back
                log.info("Parse error on sock from %s: %s", session.addr, event.reason)
                continue
            self.last_heard = self.loop.time()
            replies.append(dispatch(self.model, session, event))
            if session.closing or session.start_tls:
                break
        if replies:
            reply = "".join(replies).encode("latin-1", "replace")
            transport.write(reply)
            if len(replies) == 1 and reply.startswith(b"VAR ") and data.startswith(b"GET VAR "):
                self._remember(data, reply)
            if self.paused and transport.get_write_buffer_size() > MAX_PENDING_OUTPUT:
                log.warning("client %s does not read its replies: dropping it", session.addr)
                transport.abort()
                return
        if session.closing:
            transport.close()
        elif session.start_tls:
            session.start_tls = False
            self.server.start_tls(self)

    def _remember(self, request: bytes, reply: bytes) -> None:
        words = request.split()
        if len(words) != 4 or not request.endswith(b"\n") or request.count(b"\n") != 1:
            return
        entry = self.model.find(words[2].decode("latin-1"))
        if entry is None:
            return
        if len(self.model.reply_cache) >= MAX_CACHED_REPLIES:
            self.model.invalidate()
        self.model.reply_cache[request] = (reply, entry.link, entry.link.fresh_until)

    def upgraded(self, transport: asyncio.Transport) -> None:
        """The TLS handshake is done: talk through the new transport."""
        self.transport = transport
        if self.session is not None:
            self.session.tls = True
