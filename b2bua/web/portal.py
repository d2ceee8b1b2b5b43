"""The portal's ASGI application (Starlette): login and sessions, the headers
and limits every answer and request get, and ``/metrics``; the account-code
pages are in :mod:`b2bua.web.code_pages`.

Every page but ``/login``, ``/healthz``, ``/metrics``, ``/static`` and the JSON
API (:mod:`b2bua.web.api`, its own tokens) needs a session (:mod:`b2bua.web.sessions`); every POST needs the session's CSRF token
in its form (the login form: the token of its own cookie), else 403.  Pages are
Jinja2 templates with autoescaping, so nothing an administrator types becomes
markup.  The database is the server's own SQLite file on a connection of the
portal's, used in a worker thread one call at a time (:class:`PortalDb`): the
SIP event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

import jinja2
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from b2bua.runtime.admins import AdminStore
from b2bua.runtime.audit import NOT_AUDITED, NOT_SAVED, AuditLog, Entry, NotSaved
from b2bua.runtime.code_settings import SettingsStore
from b2bua.runtime.codes import CodeStore
from b2bua.runtime.config import Config
from b2bua.runtime.admin_db import open_admin_db

from .admin_pages import routes as admin_routes
from .api import routes as api_routes
from .audit_api import document as audit_api_document
from .audit_api import routes as audit_api_routes
from .audit_pages import routes as audit_routes
from .call_pages import routes as call_routes
from .code_pages import routes as code_routes
from .group_api import document as group_api_document
from .group_api import routes as group_api_routes
from .group_pages import routes as group_routes
from .metrics import registry_for
from .metrics_access import MetricsAccess
from .rates_api import document as rates_api_document
from .rates_api import routes as rates_api_routes
from .rates_pages import routes as rates_routes
from .report_api import document as report_api_document
from .report_api import routes as report_api_routes
from .report_pages import routes as report_routes
from .sessions import LoginGuard, Session, Sessions, new_token

if TYPE_CHECKING:
    from b2bua.runtime.admin_db import AdminDb
    from b2bua.runtime.server import Server

log = logging.getLogger("b2bua.portal")
T = TypeVar("T")
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "b2bua_session"
LOGIN_COOKIE = "b2bua_login"  # the login form's CSRF token (no session yet)
WRONG_LOGIN = "Wrong name or password."  # also the answer while a login is locked
CSRF_REFUSED = "This form's security token is missing or wrong (CSRF protection): reload the page and try again."
FORM_OVERHEAD = 64 * 1024  # bytes a multipart request may add to the upload itself

# every answer: no framing, no sniffing, no referrer, scripts and styles only from here
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class Guard:
    """Pure ASGI middleware: ``SECURITY_HEADERS`` on every answer, and a bound on
    request bodies (a declared length, at most ``max_body`` bytes; 411/413)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names
                ]
            await send(message)

        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope["headers"]).get(b"content-length")
            problem = None
            if length is None or not length.isdigit():
                problem = (411, "A request body needs a Content-Length.")
            elif int(length) > self.max_body:
                problem = (413, f"The request is larger than {self.max_body} bytes.")
            if problem is not None:
                response: Response = PlainTextResponse(problem[1], status_code=problem[0])
                if scope["path"].startswith("/api/"):  # the API answers in JSON, always
                    response = JSONResponse({"error": problem[1]}, status_code=problem[0])
                await response(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)


class PortalDb:
    """The portal's own connection to the administrative database, used in a
    worker thread, one call at a time."""

    def __init__(self, db: AdminDb) -> None:
        self.db = db
        self.codes = CodeStore(db)
        self.admins = AdminStore(db)
        self.audit = AuditLog(db)
        self._lock = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    def close(self) -> None:
        self.db.close()


def _pathpart(value: object) -> str:
    return urllib.parse.quote(str(value), safe="")


class Portal:
    """What the pages share: configuration, database, sessions, templates."""

    def __init__(self, config: Config) -> None:
        self.config = config
        http = config.http
        self.db = PortalDb(open_admin_db(config.server))
        self.settings = SettingsStore(self.db.db, config)
        self.settings.seed()  # as at every start: the file's groups and users the database lacks
        # the groups when the server started (the OpenAPI document's choices)
        self.groups_at_start = (self.settings.names() if config.groups else []) or ["default"]
        self.sessions = Sessions(http.session_idle, http.session_max)
        self.guard = LoginGuard(http.login_max_failures, http.login_address_max_failures, http.login_window,
                                http.login_lockout)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
        env.filters["pathpart"] = _pathpart
        self.templates = Jinja2Templates(env=env)
        self.clock: Callable[[], float] = time.monotonic

    # -- rendering -------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        session = context.setdefault("session", getattr(request.state, "session", None))
        if "notice" not in context and session is not None:
            context["notice"], session.flash = session.flash, ""
        context.setdefault("notice", "")
        context.setdefault("error", "")
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    def refuse(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, "error.html", status, title="Not allowed" if status == 403 else "Error",
                           error=message)

    @staticmethod
    def entry(request: Request, actor: str, action: str, obj: str, group: str | None = None) -> Entry:
        return Entry(actor=actor, action=action, object=obj, group=group,
                     address=request.client.host if request.client else "")

    async def audit(self, request: Request, actor: str, action: str, obj: str, group: str | None = None) -> bool:
        """An audit-log entry of a change this request made elsewhere (the billing
        database, a live call), which stands whatever happens here: an entry that
        cannot be written is logged, and the answer says so (``NOT_AUDITED``)."""
        entry = self.entry(request, actor, action, obj, group)
        try:
            await self.db.run(self.db.audit.record, entry.actor, entry.action, entry.object, group=entry.group,
                              address=entry.address)
        except (self.db.db.Error, OSError) as err:
            log.error("audit log: the entry of %s's %s of %r cannot be written (%s): the change stands",
                      actor, action, obj, err)
            request.state.unaudited = True
            return False
        return True

    async def audited(self, entry: Entry | Callable[[T], Entry | None], change: Callable[..., T], *args: Any,
                      **kwargs: Any) -> T:
        """``change(*args, **kwargs)`` on the portal's connection and its audit-log
        ``entry``, in one transaction: both are kept, or neither (a database error is
        :class:`NotSaved`, answered 503; the change's own refusals are raised as they are)."""
        try:
            return await self.db.run(self.db.audit.atomic, lambda: change(*args, **kwargs), entry)
        except self.db.db.Error as err:
            what = f"{entry.actor}'s {entry.action} of {entry.object!r}" if isinstance(entry, Entry) else "a change"
            log.error("audit log: %s not saved: the database refused the change or its entry (%s)", what, err)
            raise NotSaved(NOT_SAVED) from None

    async def group_names(self) -> list[str]:
        """The business groups now ("default" when the configuration names none)."""
        names = await self.db.run(self.settings.names) if self.config.groups else []
        return names or ["default"]

    # -- sessions --------------------------------------------------------------
    async def session_of(self, request: Request) -> Session | None:
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE), self.clock())
        if session is None:
            return None
        admin = await self.db.run(self.db.admins.get, session.admin.name)
        if admin != session.admin:  # removed, or its role changed: log in again
            self.sessions.end_admin(session.admin.name)
            return None
        return session

    def page(self, handler: Callable[[Request, Session], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint that needs a session; a POST also its CSRF token (the
        parsed form is ``request.state.form``)."""

        async def endpoint(request: Request) -> Response:
            session = await self.session_of(request)
            if session is None:
                if request.method == "GET":
                    return RedirectResponse("/login", status_code=303)
                return self.refuse(request, 403, "Your session has ended: log in again.")
            request.state.session = session
            if request.method == "POST":
                form = await self.form(request)
                token = form.get("csrf")
                if not session.csrf_ok(token if isinstance(token, str) else None):
                    log.warning("portal: %s %s by %r without a valid CSRF token", request.method, request.url.path,
                                session.admin.name)
                    return self.refuse(request, 403, CSRF_REFUSED)
                request.state.form = form
            try:
                response = await handler(request, session)
            except NotSaved as err:
                return self.refuse(request, 503, str(err))
            if getattr(request.state, "unaudited", False):
                session.flash = f"{session.flash} {NOT_AUDITED}".strip()
            return response

        return endpoint

    async def form(self, request: Request) -> FormData:
        return await request.form(max_files=1, max_fields=40, max_part_size=64 * 1024)

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                            secure=self.config.http.tls)

    # -- login -----------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        if await self.session_of(request) is not None:
            return RedirectResponse("/codes", status_code=303)
        return self._login_form(request)

    def _login_form(self, request: Request, status: int = 200, error: str = "", name: str = "") -> Response:
        token = new_token()
        response = self.render(request, "login.html", status, title="Log in", csrf=token, error=error, name=name,
                               session=None)
        self.set_cookie(response, LOGIN_COOKIE, token, max_age=3600)
        return response

    async def login(self, request: Request) -> Response:
        form = await self.form(request)
        token, cookie = form.get("csrf"), request.cookies.get(LOGIN_COOKIE)
        if not (isinstance(token, str) and cookie and Session.same(token, cookie)):
            return self.refuse(request, 403, CSRF_REFUSED)
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or not name or len(name) > 64:
            return self._login_form(request, 401, WRONG_LOGIN)
        address = request.client.host if request.client else "?"
        now = self.clock()
        locked = self.guard.locked(name, address, now)
        admin = await self.db.run(self.db.admins.check, name, password[:1024])  # the same work when locked
        if locked or admin is None:
            if not locked and self.guard.failed(name, address, now):
                log.warning("portal: logins as %r from %s locked for %.0f s (password guessing)", name, address,
                            self.config.http.login_lockout)
            log.info("portal: login as %r from %s refused", name, address)
            return self._login_form(request, 401, WRONG_LOGIN, name)
        session = self.sessions.create(admin, now)
        log.info("portal: %s logged in from %s", admin.name, address)
        response = RedirectResponse("/codes", status_code=303)
        self.set_cookie(response, SESSION_COOKIE, session.id)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        self.sessions.end(session.id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def metrics(self) -> list[Metric]:
        return [
            GaugeMetricFamily("b2bua_portal_sessions", "Portal sessions open.", value=len(self.sessions)),
            CounterMetricFamily("b2bua_portal_login_failures", "Portal logins refused.", value=self.guard.failures),
            CounterMetricFamily("b2bua_portal_login_lockouts", "Portal logins locked (password guessing).",
                                value=self.guard.lockouts),
        ]


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


class PortalApp:
    """The ASGI application, and ``close`` for the server's shutdown."""

    def __init__(self, server: Server) -> None:
        portal = Portal(server.config)
        self.portal = portal
        registry = registry_for(server, portal.metrics)

        access = MetricsAccess(server.config.http.metrics_token, server.config.http.metrics_allow)

        async def metrics(request: Request) -> Response:
            refused = access.refusal(request.headers.get("authorization"),
                                     request.client.host if request.client else None)
            if refused is not None:
                headers = {"www-authenticate": 'Bearer realm="metrics"'} if refused[0] == 401 else None
                return PlainTextResponse(refused[1] + "\n", status_code=refused[0], headers=headers)
            # on the loop: reads counters only (no I/O but a stat of the journal)
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        async def home(request: Request) -> Response:
            return RedirectResponse("/codes", status_code=303)

        billing = server.billing
        app = Starlette(routes=[
            Route("/", home),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/login", portal.login_page, methods=["GET"]),
            Route("/login", portal.login, methods=["POST"]),
            Route("/logout", portal.page(portal.logout), methods=["POST"]),
            *code_routes(portal, billing.store if billing is not None else None),
            *call_routes(portal, server),
            *group_routes(portal),
            *report_routes(portal),
            *(rates_routes(portal, billing.store) if billing is not None else []),
            *admin_routes(portal),
            *audit_routes(portal),
            *api_routes(portal, more=[group_api_document(server.config, portal.groups_at_start),
                                      report_api_document(portal.groups_at_start),
                                      *([rates_api_document()] if billing is not None else []),
                                      audit_api_document()]),
            *audit_api_routes(portal),
            *group_api_routes(portal),
            *report_api_routes(portal, server),
            *(rates_api_routes(portal, billing.store, server.config.http.max_upload_bytes)
              if billing is not None else []),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ])
        self.app = Guard(app, server.config.http.max_upload_bytes + FORM_OVERHEAD)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self.portal.db.close()


def build_app(server: Server) -> PortalApp:
    return PortalApp(server)
