"""uvicorn on the SIP server's event loop.

The listening socket is bound here (so a busy port is an ``OSError`` at start,
like the SIP sockets, and port 0 gives a free port whose number ``address``
tells), then handed to uvicorn, which runs as one task on the running loop.
uvicorn's own signal handling is turned off: the SIP server owns SIGINT/SIGTERM
and stops this server from its shutdown (``stop``).  Lifespan events are off;
the application needs no start-up of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import Callable, Generator

import uvicorn
from starlette.types import ASGIApp

from b2bua.runtime.config import HttpConfig
from b2bua.sip.endpoint import Address

log = logging.getLogger("b2bua.http")

GRACEFUL_STOP = 2  # seconds requests in progress get at shutdown


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the SIP server handles the signals and stops us


class TlsError(Exception):
    """The certificate or key of [http] cannot be used."""


def tls_context(cfg: HttpConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cfg.certfile, cfg.keyfile)
    except (OSError, ssl.SSLError) as err:
        raise TlsError(f"[http] certfile/keyfile cannot be used: {err}") from None
    return ctx


class WebServer:
    """One uvicorn server on ``cfg.listen``; ``start`` binds and serves, ``stop`` ends it."""

    def __init__(self, app: ASGIApp, cfg: HttpConfig, on_stop: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        self.app = app
        self.on_stop = on_stop  # after the last request: the application's own clean-up
        self.address: Address | None = None
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Address:
        cfg = self.cfg
        want = cfg.address
        family = socket.AF_INET6 if ":" in want.host else socket.AF_INET
        sock = socket.create_server((want.host, want.port), family=family, backlog=128)
        sock.setblocking(False)
        try:
            ssl_context = tls_context(cfg) if cfg.tls else None
        except TlsError:
            sock.close()
            raise
        config = uvicorn.Config(
            self.app, lifespan="off", log_config=None, access_log=False, http="h11", ws="none",
            loop="none", timeout_graceful_shutdown=GRACEFUL_STOP, server_header=False,
            h11_max_incomplete_event_size=64 * 1024,
        )
        config.load()
        config.ssl = ssl_context  # the context made above: uvicorn would build its own from file names
        server = _Uvicorn(config)
        self._server = server
        self._task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="http")
        while not server.started:  # listening (create_server on the socket) before start() returns
            if self._task.done():
                self._task.result()
                raise OSError("the HTTP server stopped at start")
            await asyncio.sleep(0.01)
        host, port = sock.getsockname()[:2]
        self.address = Address("tcp", host, port)
        scheme = "https" if cfg.tls else "http"
        shown = f"[{host}]" if ":" in host else host
        log.info("portal and metrics on %s://%s:%d/", scheme, shown, port)
        return self.address

    async def stop(self) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), GRACEFUL_STOP + 2)
        except asyncio.TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:
            log.exception("the HTTP server failed")
        self._server = self._task = None
        if self.on_stop is not None:
            self.on_stop()
