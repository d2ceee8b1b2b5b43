"""UDP and TCP transports on asyncio/uvloop (RFC 3261 §18).

UDP: one socket per listen address, buffers sized for load.  TCP: a listening
server plus a registry of connections keyed by the peer's (host, port), so a
response or a request to a peer reuses the connection it came on; a peer with
no connection gets one opened on demand, writes queued until it is up.  A
peer that breaks framing (garbage, a huge Content-Length, a head that never
ends) is closed without affecting any other peer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from b2bua.sip.endpoint import Address
from b2bua.sip.errors import FramingError
from b2bua.sip.framing import StreamFramer

from .driver import Driver

log = logging.getLogger("b2bua.transport")

SOCKET_BUFFER = 4 * 1024 * 1024  # bytes; absorbs bursts of SIPp load without drops
MAX_DATAGRAM = 65_535
TCP_IDLE_TIMEOUT = 600.0  # seconds without traffic before a connection is closed


def _peer(addr: tuple[Any, ...]) -> tuple[str, int]:
    return addr[0], addr[1]


class UdpTransport(asyncio.DatagramProtocol):
    def __init__(self, driver: Driver, local: Address) -> None:
        self.driver = driver
        self.local = local
        self.ipv6 = ":" in local.host
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        host, port = _peer(addr)
        self.driver.receive(data, Address("udp", host, port))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transaction timers handle it.
        log.debug("udp error on %s: %s", self.local, exc)

    def send(self, data: bytes, dest: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, (dest.host, dest.port))


async def open_udp(driver: Driver, local: Address) -> UdpTransport:
    family = socket.AF_INET6 if ":" in local.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            except OSError:
                pass
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((local.host, local.port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()
    proto = UdpTransport(driver, Address("udp", local.host, bound[1]))
    # the kernel's receive queue of this socket is the backlog the overload
    # probe watches (see transport.backlog); SO_RCVBUF is its capacity
    driver.watch_backlog(os.fstat(sock.fileno()).st_ino, sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    await driver.loop.create_datagram_endpoint(lambda: proto, sock=sock)
    return proto


class TcpConnection(asyncio.Protocol):
    def __init__(self, manager: "TcpTransport", peer: Address | None = None) -> None:
        self.manager = manager
        self.peer = peer
        self.framer = StreamFramer(max_body=manager.max_message)
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.last_active = manager.driver.loop.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = _peer(transport.get_extra_info("peername"))
        self.peer = Address("tcp", host, port)
        if not self.manager.register(self):
            transport.close()
            return
        for data in self.pending:
            self.transport.write(data)  # type: ignore[union-attr]
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.manager.driver.loop.time()
        try:
            messages = self.framer.feed(data)
        except FramingError as err:
            self._broken(err)
            return
        assert self.peer is not None
        for msg in messages:
            self.manager.driver.receive(msg, self.peer)
        if self.framer.broken is not None:
            self._broken(self.framer.broken)

    def _broken(self, err: FramingError) -> None:
        """Answer the message at fault (400 naming it) when it was a request
        with a complete head, then close: the stream cannot be resynchronised."""
        log.info("closing tcp connection from %s: %s", self.peer, err)
        if self.transport is None or self.transport.is_closing():
            return
        if err.head and self.peer is not None:
            self.manager.driver.framing_fault(err.head, err.reason, self.peer)
            self.transport.close()  # after the 400 is written
        else:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.manager.unregister(self)

    def send(self, data: bytes) -> None:
        self.last_active = self.manager.driver.loop.time()
        if self.transport is None:
            self.pending.append(data)
        elif not self.transport.is_closing():
            self.transport.write(data)


class TcpTransport:
    """The TCP listener(s) and every connection, inbound and outbound."""

    def __init__(self, driver: Driver, max_connections: int, max_message: int) -> None:
        self.driver = driver
        self.max_connections = max_connections
        self.max_message = max_message
        self.connections: dict[tuple[str, int], TcpConnection] = {}
        self.servers: list[asyncio.AbstractServer] = []
        self.ipv6 = False
        self._sweeper: asyncio.TimerHandle | None = None

    async def listen(self, local: Address) -> Address:
        server = await self.driver.loop.create_server(
            lambda: TcpConnection(self), local.host, local.port, reuse_address=True
        )
        self.servers.append(server)
        port = server.sockets[0].getsockname()[1]
        if self._sweeper is None:
            self._sweeper = self.driver.loop.call_later(60.0, self._sweep)
        return Address("tcp", local.host, port)

    def register(self, conn: TcpConnection) -> bool:
        assert conn.peer is not None
        key = (conn.peer.host, conn.peer.port)
        if key not in self.connections and len(self.connections) >= self.max_connections:
            log.warning("refusing tcp connection from %s: %d connections open", conn.peer, len(self.connections))
            return False
        self.connections[key] = conn
        return True

    def unregister(self, conn: TcpConnection) -> None:
        if conn.peer is not None:
            key = (conn.peer.host, conn.peer.port)
            if self.connections.get(key) is conn:
                del self.connections[key]

    def send(self, data: bytes, dest: Address) -> None:
        conn = self.connections.get((dest.host, dest.port))
        if conn is None:
            conn = TcpConnection(self, dest)
            self.connections[(dest.host, dest.port)] = conn
            conn.pending.append(data)
            self.driver.loop.create_task(self._connect(conn, dest))
            return
        conn.send(data)

    async def _connect(self, conn: TcpConnection, dest: Address) -> None:
        try:
            await self.driver.loop.create_connection(lambda: conn, dest.host, dest.port)
        except OSError as err:
            log.info("tcp connection to %s failed: %s", dest, err)
            if self.connections.get((dest.host, dest.port)) is conn:
                del self.connections[(dest.host, dest.port)]

    def _sweep(self) -> None:
        now = self.driver.loop.time()
        for conn in list(self.connections.values()):
            if now - conn.last_active > TCP_IDLE_TIMEOUT and conn.transport is not None:
                conn.transport.close()
        self._sweeper = self.driver.loop.call_later(60.0, self._sweep)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for server in self.servers:
            server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.abort()

