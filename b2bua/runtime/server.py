"""Wiring: builds the endpoint, transports and application from a Config and
runs them until SIGINT/SIGTERM.

At the signal, live calls are ended first (``Server.end_calls``: BYE on both
legs of answered calls, 503 and CANCEL for the others, hangup "server", cause
"server shutdown"), their records closed and their credit settled, within
``[server] shutdown_timeout`` seconds; then the sockets close and the writers
drain (``Server.aclose``)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sqlite3
import time
from pathlib import Path

import msgspec
from typing import Any, Awaitable, Callable

from b2bua.calls.flash import FlashCodes
from b2bua.calls.registrar import Binding, ExpiryTimer
from dialplan.lockout import Lockout
from b2bua.sip.endpoint import Address, Endpoint
from b2bua.transport.driver import Driver
from b2bua.transport.rtp import RtpPacer, RtpPortPool
from b2bua.transport.sockets import TcpTransport, open_udp
from b2bua.media.sounds import SoundLibrary
from b2bua.media.tones import tone_plan
from b2bua.web.http import WebServer
from b2bua.web.portal import build_app

from .app import SHUTDOWN_CAUSE, ServerApp
from .audit import DAY, prune_audit
from .authcodes import AuthCodeStore
from .billing import BillingService
from .config import Config
from .calllog import CallLog
from .code_settings import CodeSettings, LiveSettings, SettingsStore
from .codes import CodeStore
from .ids import RandomIds
from .plan_rules import missing_plans
from .flash import FlashMediaService
from .prompts import PromptService
from . import lockstate
from .admin_db import AdminDb, open_admin_db
from .store import BindingWriter, StoreError, load_secret, open_database, restore_bindings

log = logging.getLogger("b2bua")

FULL_GC_INTERVAL = 600.0  # seconds between full garbage collections
STATUS_INTERVAL = 1.0  # seconds between rewrites of status.json (`b2bua status` calls it stale after 10)


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ids = RandomIds()
        self.store: sqlite3.Connection | None = None  # registrations
        self.admin_db: AdminDb | None = None  # codes, settings, ... ([server] database)
        self.codes: CodeStore | None = None
        self.settings: LiveSettings | None = None
        self.bindings: BindingWriter | None = None
        self.driver: Driver | None = None
        self.tcp: TcpTransport | None = None
        self.udp: list[object] = []
        self.bound: list[Address] = []
        self.billing: BillingService | None = None
        self.prompts: PromptService | None = None
        self.pacer: RtpPacer | None = None
        self.web: WebServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.store = open_database(cfg.server.data_dir)
        self.admin_db = admin_db = await asyncio.to_thread(open_admin_db, cfg.server)
        await asyncio.to_thread(SettingsStore(admin_db, cfg).seed)  # the file's groups and users the database lacks
        self.codes = CodeStore(admin_db)
        auth_codes = await asyncio.to_thread(AuthCodeStore(admin_db).table)
        self.settings = LiveSettings(cfg)
        self.codes.followers += [auth_codes, self.settings]
        await self.codes.start()  # in memory before the first call; kept current off the loop
        self.started = time.time()
        sip = cfg.sip
        endpoint = Endpoint(self.ids, t1=sip.t1, t2=sip.t2, t4=sip.t4, timer_d=sip.timer_d, user_agent=cfg.server.user_agent)
        self.endpoint = endpoint
        self.calllog = CallLog()
        # billing first: a call must not start before its records can be queued
        self.billing = BillingService(cfg.billing, cfg.server.data_dir, cfg.numbering)
        await self.billing.start()
        await self._check_plans()
        self.calllog.subscribers.append(self.billing.on_event)
        local: dict[str, Address] = {}
        app = ServerApp(
            endpoint,
            self.ids,
            cfg,
            # nonce-count replay state is per process: a per-start part of the
            # key retires the nonces of an earlier run (phones retry on stale=true)
            secret=load_secret(cfg.server.data_dir) + os.urandom(16),
            sink=self.calllog,
            local=lambda transport: local.get(transport) or next(iter(local.values())),
            on_bindings=self._save_bindings,
            codes=self.codes,
            credit_check=self.billing.check_credit,
            credit_move=self.billing.move_credit,
            defer=self._defer,
            auth_codes=auth_codes,
        )
        self.app = app
        self._use_settings(self.settings.current)
        self.settings.on_change.append(self._use_settings)
        lockstate.restore(cfg.server.data_dir, *self._lockouts(), loop.time(), time.time())
        self._lock_timer = loop.call_later(lockstate.SAVE_INTERVAL, self._save_lockouts)
        self.billing.numbering = app.plan  # configured extensions count as internal numbers
        restore_bindings(self.store, app.location, loop.time())
        self.bindings = BindingWriter(self.store, app.location, loop)
        driver = Driver(endpoint, loop, app)
        driver.timed.append(app.calls)
        driver.timed.append(self.billing)
        self.expiry = ExpiryTimer(app.location, on_expired=self._expired_bindings)
        driver.timed.append(self.expiry)
        self.driver = driver
        self.billing.end_call = app.calls.end_call
        if cfg.billing.durable_answer:
            self.billing.release_answer = app.calls.release_answer
        self.billing.flush = driver.flush
        if cfg.http.enabled:  # before SIP listens: a server that answers SIP serves its pages
            portal = build_app(self)
            self.web = WebServer(portal, cfg.http, on_stop=portal.close)
            await self.web.start()
        tcp = TcpTransport(driver, sip.max_tcp_connections, sip.max_message_bytes)
        self.tcp = tcp
        for addr in cfg.server.addresses:
            if addr.transport == "udp":
                proto = await open_udp(driver, addr)
                driver.add_sender("udp", proto)
                self.udp.append(proto)
                bound = proto.local
            else:
                bound = await tcp.listen(addr)
            self.bound.append(bound)
            local.setdefault(bound.transport, bound)
            log.info("listening on %s:%s:%d", bound.transport, bound.host, bound.port)
        driver.add_sender("tcp", tcp)  # also for outbound TCP without a listener
        if sip.overload_lag > 0:
            driver.start_lag_probe(on=sip.overload_lag, off=sip.overload_lag / 3)
        endpoint.set_local(local)
        if cfg.media.enabled:
            self._start_media(app, driver, next(iter(local.values())))
        if app.midcall is not None:  # flash + VSC (without [media] every flash is refused 488)
            flash_media = FlashMediaService(self.prompts)
            app.midcall.flash = FlashCodes(app.midcall, flash_media)
            self.calllog.subscribers.append(flash_media.on_event)
        self._status_timer = loop.call_later(0.0, self._write_status)
        self._audit_timer = loop.call_later(0.0, self._prune_audit)
        # Objects made during start-up live for the whole run: keep them out
        # of the cyclic collector's generations (latency spikes under load).
        gc.collect()
        gc.freeze()
        # Under load a full (generation 2) collection walks every live call and
        # transaction and paused the server 260-360 ms every ~1.5 s at 600
        # calls/s, freeing nothing: calls break their own cycles when they end.
        # Automatic full collections are therefore off; one runs every
        # FULL_GC_INTERVAL seconds to reclaim any cycle that slipped through.
        gc.set_threshold(700, 10, 1_000_000_000)
        self._gc_timer = loop.call_later(FULL_GC_INTERVAL, self._full_gc)

    def _start_media(self, app: ServerApp, driver: Driver, sip: Address) -> None:
        """The RTP endpoint that prompts callers for account codes ([media])."""
        media = self.config.media
        sounds_dir: Path | None = Path(media.sounds_dir) if media.sounds_dir else Path(self.config.server.data_dir) / "sounds"
        if not media.sounds_dir and sounds_dir is not None and not sounds_dir.is_dir():
            sounds_dir = None  # no replacements: the shipped announcements
        sounds = SoundLibrary(sounds_dir)
        for name in sounds.names():  # a broken replacement is found now, not by a caller
            sounds.load(name)
        self.pacer = RtpPacer(self.loop)
        self.prompts = PromptService(
            app, pool=RtpPortPool(media.rtp_first, media.rtp_last), pacer=self.pacer, sounds=sounds,
            tones=tone_plan(media.tones), media_host=media.address or sip.host, flush=driver.flush,
            rtcp_interval=media.rtcp_interval, anchor=media.anchor,
        )
        app.prompter = self.prompts
        app.admission.policy = msgspec.structs.replace(app.admission.policy, prompting=True)
        self.calllog.subscribers.append(self.prompts.on_event)
        log.info("media: RTP on %s ports %d-%d", media.address or sip.host, media.rtp_first, media.rtp_last)

    def _use_settings(self, settings: CodeSettings) -> None:
        """The groups' and users' code settings as stored now, for the next call:
        a new admission policy (a call admitted already keeps its own)."""
        adm = self.app.admission
        adm.policy = msgspec.structs.replace(adm.policy, groups=settings.groups, users=settings.users,
                                          user_groups=settings.user_groups)

    def _defer(self, coro: Awaitable[Any], on_done: Callable[..., None]) -> None:
        """Run ``coro`` as a task, then ``on_done(result, now=...)`` (the exception
        it raised as the result) and flush what that produced."""

        async def run() -> None:
            try:
                result: Any = await coro
            except Exception as err:
                log.exception("deferred call-path work failed")
                result = err
            try:
                on_done(result, now=self.loop.time())
            except Exception:
                log.exception("internal error after deferred work")
            if self.driver is not None:
                self.driver.flush()

        task = self.loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _full_gc(self) -> None:
        gc.collect()
        self._gc_timer = self.loop.call_later(FULL_GC_INTERVAL, self._full_gc)

    def _save_bindings(self, aor: str) -> None:
        if self.bindings is not None:
            self.bindings.changed(aor)

    def _expired_bindings(self, bindings: list[Binding], now: float) -> None:
        """Expired bindings leave the persistent store too (what is left of each
        AOR stays), written off the loop like any other change."""
        if self.bindings is not None:
            for aor in sorted({b.aor for b in bindings}):
                self.bindings.changed(aor)

    def status(self) -> dict[str, object]:
        return {
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started, 1),
            "calls": len(self.app.calls),
            "transactions": self.endpoint.transaction_count,
            "registrations": self.app.location.count,
            "registrations_expired": self.expiry.expired,
            "account_codes_loaded": self.codes.loaded if self.codes is not None else 0,
            "code_settings_reloads": self.settings.reloads if self.settings is not None else 0,
            "tcp_connections": len(self.tcp.connections) if self.tcp else 0,
            "overloaded": self.endpoint.overloaded,
            "event_loop_lag_ms": round(getattr(self.driver, "lag", 0.0) * 1000, 1),
            "calls_shed": self.endpoint.shed,
            "account_code_lockouts": self.app.lockouts,
            "credit_refusals": self.app.credit_refusals,
            "locked_out_attempts": self.app.lockout_refusals,
            "auth_lockouts": self.app.admission.guard.lockouts,
            "auth_failures": self.app.admission.guard.failures,
            "auth_locked_out_attempts": self.app.admission.guard.refusals,
            "listen": [f"{a.transport}:{a.host}:{a.port}" for a in self.bound],
            "http_listen": _http_text(self.web.address) if self.web is not None and self.web.address else "",
            **self.calllog.counters,
            **(self.billing.status() if self.billing is not None else {}),
            **(self.prompts.status() if self.prompts is not None else {}),
            **self._flash_status(),
        }

    def _lockouts(self) -> tuple[Lockout, Lockout | None]:
        adm = self.app.admission
        return adm.lockout, adm.guard.lockout

    def _save_lockouts(self, again: bool = True) -> None:
        codes, credentials = self._lockouts()
        if len(codes) or (credentials is not None and len(credentials)) or not again:
            lockstate.save(self.config.server.data_dir, codes, credentials, self.loop.time(), time.time())
        if again:
            self._lock_timer = self.loop.call_later(lockstate.SAVE_INTERVAL, self._save_lockouts)

    def _flash_status(self) -> dict[str, int]:
        flash = self.app.midcall.flash if self.app.midcall is not None else None
        return {f"flash_{k}": v for k, v in flash.counters.items()} if flash is not None else {}

    async def _check_plans(self) -> None:
        """The plans default_rate_plan and group_rate_plans name exist (in the file or
        the billing database), else the server does not start."""
        assert self.billing is not None
        missing = missing_plans(self.config.billing, self.billing.plans)
        if not missing:
            return
        known = ", ".join(sorted(self.billing.plans)) or "none"
        if self.billing.rates.version is None:  # the database did not answer: it may hold them
            log.error("%s: not among the configured plans, and the billing database cannot be read to check",
                      "; ".join(missing))
            return
        await self.billing.stop()
        raise StoreError(f"{'; '.join(missing)}: no such plan in the configuration file or the billing database "
                         f"(plans: {known})")

    def _prune_audit(self) -> None:
        """Audit entries past ``server.audit_retention_days`` deleted at start and
        daily, in a worker thread on a connection of its own."""
        server = self.config.server
        days = server.audit_retention_days
        if days <= 0:
            return

        async def prune() -> None:
            import psycopg

            try:
                n = await asyncio.to_thread(prune_audit, server, days)
            except (OSError, sqlite3.Error, psycopg.Error, StoreError) as err:
                log.error("audit log: entries older than %d days cannot be deleted: %s", days, err)
            else:
                if n:
                    log.info("audit log: %d entries older than %d days deleted", n, days)

        task = self.loop.create_task(prune(), name="audit-retention")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._audit_timer = self.loop.call_later(DAY, self._prune_audit)

    def _write_status(self, running: bool = True) -> None:
        """status.json in the data directory, rewritten every STATUS_INTERVAL while
        running and once more at a clean stop (``running`` false, ``stopped`` set),
        for `b2bua status` and for tests that check nothing is left behind."""
        path = Path(self.config.server.data_dir) / "status.json"
        now = time.time()
        state = {"running": running, "updated": round(now, 3), "stopped": None if running else round(now, 3)}
        try:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**state, **self.status()}))
            tmp.replace(path)
        except OSError as err:
            log.warning("cannot write %s: %s", path, err)
        if running:
            self._status_timer = self.loop.call_later(STATUS_INTERVAL, self._write_status)

    def close(self) -> None:
        for name in ("_status_timer", "_gc_timer", "_lock_timer", "_audit_timer"):
            timer = getattr(self, name, None)
            if timer is not None:
                timer.cancel()
        if self.tcp is not None:
            self.tcp.close()
        for proto in self.udp:
            t = getattr(proto, "transport", None)
            if t is not None:
                t.close()
        if self.driver is not None:
            self.driver.close()
        if self.prompts is not None:
            self.prompts.close()
        if self.pacer is not None:
            self.pacer.close()

    async def end_calls(self, timeout: float) -> None:
        """At shutdown: end every live call (BYE on both legs of an answered call,
        503 and CANCEL for one still ringing, new INVITEs 503), hand their
        CallEnded to billing, and give the BYEs up to ``timeout`` seconds to be
        answered while the sockets are still open: a BYE to a caller whose ACK
        is in flight waits for it half that time at most, then goes anyway."""
        if self.driver is None:
            return
        loop = self.loop
        calls = self.app.calls
        self.app.draining = True
        before = set(calls.index.relays)
        ended = calls.end_all(loop.time(), SHUTDOWN_CAUSE)
        self.driver.flush()  # the BYEs, 503s and CANCELs out; CallEnded to billing
        if not ended:
            return
        log.info("shutdown: ended %d live calls", ended)
        half = loop.time() + timeout / 2
        while loop.time() < half and calls.waiting_byes():
            await asyncio.sleep(0.02)  # a BYE waits for the ACK of our 2xx (RFC 3261 §15)
        if calls.release_byes(loop.time()):
            self.driver.flush()  # the rest of the time cannot wait for those ACKs
        byes = set(calls.index.relays) - before
        deadline = loop.time() + timeout / 2
        while loop.time() < deadline and any(t in calls.index.relays for t in byes):
            await asyncio.sleep(0.02)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Close, then write the registrations and billing records still queued and
        close the databases; credit operations in flight get ``timeout`` seconds."""
        if getattr(self, "_lock_timer", None) is not None:  # started: keep the guessing protection
            self._save_lockouts(again=False)
        if self.web is not None:
            await self.web.stop()
        self.close()
        if self.codes is not None:
            await self.codes.stop()
        if self.bindings is not None:
            await self.bindings.stop()
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.admin_db is not None:
            self.admin_db.close()
            self.admin_db = None
        if self.billing is not None:
            await self.billing.stop(timeout)
        if getattr(self, "_status_timer", None) is not None:  # started: record the clean stop
            self._write_status(running=False)


def _http_text(a: Address) -> str:
    return f"[{a.host}]:{a.port}" if ":" in a.host else f"{a.host}:{a.port}"


async def serve(config: Config, ready: asyncio.Event | None = None) -> None:
    server = Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before start: a signal while starting stops cleanly
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info("b2bua ready")
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        # live calls end and their credit settles within shutdown_timeout in all
        log.info("shutting down")
        limit = config.server.shutdown_timeout
        deadline = loop.time() + limit
        try:
            await server.end_calls(limit)
        except Exception:
            log.exception("ending the live calls at shutdown failed")
        await server.aclose(max(deadline - loop.time(), 0.0))
