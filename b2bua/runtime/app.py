"""The application above the endpoint: what the server does with each event.

In-dialog requests, responses, CANCELs and timeouts belong to the call
manager.  Out of dialog: REGISTER goes to the registrar after digest
authentication; INVITE from a phone is authenticated (401 or 407 as
configured), from a trunk recognised by its source address it is trusted;
both are routed and handed to the call manager; OPTIONS is answered with 200
and the server's capabilities (RFC 3261 §11.2); anything else gets 405 (or
481 for BYE/UPDATE/INFO that name no dialog).

The call manager returns its call events instead of calling anyone; the
driver calls :meth:`ServerApp.dispatch` after every step (an endpoint event,
a timer, deferred work), which hands them, in order, to the sink (the call
log, and through it billing and credit control).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any, Awaitable, Callable, Sequence

import msgspec

from b2bua.billing.credit import CreditCheck
from b2bua.calls.manager import ALLOW, CallManager, Settings
from b2bua.calls.events import AccountInfo, CallEvent, CallStarted
from b2bua.calls.registrar import LocationService, Registrar
from b2bua.calls.routing import Route, Router
from b2bua.sip import validate
from b2bua.sip.build import IdSource
from b2bua.sip.digest import DigestServer, authorization_for_challenges
from b2bua.sip.endpoint import Address, CancelReceived, Endpoint, RequestReceived
from b2bua.sip.errors import ParseError
from b2bua.sip.message import Header, Request, header
from b2bua.sip.uri import SipUri

from dialplan import CallContext, GroupPolicy, Lockout, Outcome, UserPolicy, evaluate
from dialplan.numbering import UNRESTRICTED_CLASSES

from .codes import CodeStore
from .config import Config, UserConfig

log = logging.getLogger("b2bua.app")


def capability_headers() -> list[Header]:
    return [
        header("Allow", ", ".join(sorted(validate.METHODS))),
        header("Accept", ", ".join(sorted(validate.ACCEPT))),
        header("Supported", ", ".join(sorted(validate.SUPPORTED))),
    ]


class ServerApp:
    def __init__(
        self,
        endpoint: Endpoint,
        ids: IdSource,
        config: Config,
        *,
        secret: bytes,
        sink: Callable[[CallEvent], None],
        local: Callable[[str], Address],
        on_bindings: Callable[[str], None] | None = None,
        codes: CodeStore | None = None,
        today: Callable[[], datetime.date] = datetime.date.today,
        credit_check: Callable[[CallStarted], Awaitable[CreditCheck]] | None = None,
        defer: Callable[[Awaitable[Any], Callable[..., None]], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.ids = ids
        self.config = config
        sip = config.sip
        self.user_agent = config.server.user_agent
        self.users = {u.auth_name: u for u in config.users}
        self.extensions = {u.extension: u for u in config.users}
        # configured extensions are internal numbers whatever the plan's pattern
        plan = config.numbering
        self.plan = msgspec.structs.replace(
            plan,
            extensions=msgspec.structs.replace(
                plan.extensions, numbers=plan.extensions.numbers | {u.extension for u in config.users}
            ),
        )
        self.router = Router(config.users, config.trunks, config.routes, emergency=frozenset(plan.emergency))
        self.codes = codes
        self.today = today
        # prepaid calls: credit_check(a CallStarted-like description) -> CreditCheck,
        # run by defer(coroutine, on_done) (see _check_credit); without both,
        # calls on credit accounts are refused (fail closed)
        self.credit_check = credit_check
        self.defer = defer
        self.credit_pending: dict[str, RequestReceived] = {}  # INVITE txn -> event, while checked
        self.credit_refusals = 0
        lk = config.lockout
        self.lockout = Lockout(lk.max_failures, lk.window, lk.lockout)
        self.lockouts = 0  # times an extension or address got locked
        self.lockout_refusals = 0  # attempts refused while locked
        self.auth = DigestServer(sip.realm, secret, float(sip.nonce_lifetime), algorithms=tuple(sip.digest_algorithms))
        self.location = LocationService()
        self.registrar = Registrar(
            self.location, min_expires=sip.min_expires, max_expires=sip.max_expires
        )
        self.on_bindings = on_bindings
        trunks = {t.name: t for t in config.trunks}
        self.sink = sink
        self.calls = CallManager(
            endpoint,
            ids,
            Settings(
                user_agent=self.user_agent,
                no_answer_timeout=sip.no_answer_timeout,
                max_call_duration=sip.max_call_duration,
                session_interval=sip.session_interval,
                t1=sip.t1,
                t2=sip.t2,
            ),
            contacts_for=self._contacts_for,
            local=local,
            trunk_credentials=lambda name: (trunks[name].username, trunks[name].password)
            if trunks[name].username
            else None,
            digest_client=authorization_for_challenges,
        )

    # -- events -----------------------------------------------------------------
    def handle(self, event: object, now: float) -> None:
        if self.calls.handle(event, now):
            return
        if isinstance(event, CancelReceived) and event.transaction_id in self.credit_pending:
            # cancelled while its credit is checked: no call exists yet, answer here
            pending = self.credit_pending.pop(event.transaction_id)
            self.answer(pending, 487, now)
            log.info("call to %s cancelled during its credit check", _user_of(pending.request))
            return
        if not isinstance(event, RequestReceived):
            return
        method = event.request.method
        if method == "ACK" or event.transaction_id is None:
            return
        if method == "REGISTER":
            self._register(event, now)
        elif method == "INVITE":
            self._invite(event, now)
        elif method == "OPTIONS":
            self.answer(event, 200, now, extra=capability_headers())
        elif method in ("BYE", "UPDATE", "INFO", "PRACK"):
            self.answer(event, 481, now)
        else:
            self.answer(event, 405, now, extra=[header("Allow", ALLOW + ", REGISTER")])

    def dispatch(self) -> None:
        """Hand the call events of the steps just taken to the sink, in order
        (the sink may end a call: its events follow in the same loop)."""
        calls = self.calls
        while calls.events:
            for event in calls.take_events():
                try:
                    self.sink(event)
                except Exception:  # a subscriber's bug must not break call handling
                    log.exception("internal error dispatching %s", type(event).__name__)

    def answer(
        self,
        event: RequestReceived,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        extra: list[Header] | None = None,
    ) -> None:
        self.calls.reply(event, status, now, reason=reason, extra=extra)

    # -- authentication -----------------------------------------------------------
    def _authenticate(self, event: RequestReceived, status: int, now: float) -> UserConfig | None:
        """The authenticated user, or None after answering (challenge or 403)."""
        req = event.request
        creds = [v for _, k, v in req.headers if k in ("authorization", "proxy-authorization")]
        stale = False
        reason = ""
        for value in creds:
            result = self.auth.verify(req.method, value, self._password_for, now, request_uri=req.uri)
            if result.ok and result.username in self.users:
                return self.users[result.username]
            stale = stale or result.stale
            reason = result.reason
        src = f"{event.source.transport}:{event.source.host}:{event.source.port}"
        if creds and not stale:
            log.warning("authentication failed for %s %s from %s: %s", req.method, _user_of(req), src, reason)
            self.answer(event, 403, now, reason="Authentication failed")
            return None
        name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        extra = [header(name, c) for c in self.auth.challenge(now, stale=stale)]
        self.answer(event, status, now, extra=extra)
        return None

    def _password_for(self, username: str) -> str | None:
        user = self.users.get(username)
        return user.password if user else None

    # -- REGISTER -------------------------------------------------------------------
    def _register(self, event: RequestReceived, now: float) -> None:
        user = self._authenticate(event, 401, now)
        if user is None:
            return
        try:
            resp = self.registrar.handle(event.request, event.source, user.extension, now, self.ids.tag())
        except ParseError as err:
            self.answer(event, err.status or 400, now, reason=err.reason)
            return
        resp.add("Server", self.user_agent)
        assert event.transaction_id is not None
        self.endpoint.send_response(event.transaction_id, resp, now)
        if resp.status == 200 and self.on_bindings is not None:
            self.on_bindings(user.extension)

    def _contacts_for(self, extension: str, now: float) -> Sequence[tuple[str, Address]]:
        out: list[tuple[str, Address]] = []
        for b in self.location.lookup(extension, now):
            out.append((b.contact_uri, _target(b.contact_uri, b.source)))
        return out

    # -- INVITE ---------------------------------------------------------------------
    def _invite(self, event: RequestReceived, now: float) -> None:
        req = event.request
        trunk = self.router.inbound_trunk(event.source.host)
        dialed = _user_of(req)
        if trunk is not None:
            caller = _from_user(req) or "anonymous"
            display = req.from_.display or ""
            if dialed in trunk.dids or (dialed.startswith("+") and dialed[1:] in trunk.dids) or not trunk.group:
                route = self.router.route_from_trunk(trunk, dialed)
                self.calls.start_call(
                    event, route, caller=caller, caller_user=f"trunk:{trunk.name}", display=display, now=now
                )
                return
            # a trusted trunk (another PBX) calling out under a group's policy
            self._place(
                event, now, caller=caller, caller_user=f"trunk:{trunk.name}", display=display,
                department="", group=trunk.group, user_policy=UserPolicy(), source="trunk",
                trunk_code=_trunk_code(req) if trunk.pass_account_code else None,
                keys=[("ip", event.source.host)],
            )
            return
        user = self._authenticate(event, self.config.sip.invite_challenge, now)
        if user is None:
            return
        self._place(
            event, now, caller=user.extension, caller_user=user.auth_name, display=user.display_name,
            department=user.department, group=user.group,
            user_policy=UserPolicy(mode=user.account_code_mode, assigned_code=user.account_code),
            source="phone", trunk_code=None, keys=[("ext", user.extension), ("ip", event.source.host)],
        )

    def _place(
        self,
        event: RequestReceived,
        now: float,
        *,
        caller: str,
        caller_user: str,
        display: str,
        department: str,
        group: str,
        user_policy: UserPolicy,
        source: str,
        trunk_code: str | None,
        keys: list[tuple[str, str]],
    ) -> None:
        """Apply the account-code policy to a call, then route it (or refuse it;
        a refused attempt is still reported as a call that ended)."""
        dialed = _user_of(event.request)
        start = dict(caller=caller, caller_user=caller_user, display=display, department=department, group=group)
        if not self.config.groups:  # account codes not configured: plain routing
            self.calls.start_call(event, self.router.route_from_phone(dialed), now=now, **start)  # type: ignore[arg-type]
            return
        if self.lockout.check(keys, now):
            self.lockout_refusals += 1
            log.warning("account codes locked for %s: call to %s refused", _keys_text(keys), dialed)
            route = Route(kind="none", destination=dialed, status=403, reason=LOCKED_REASON)
            self.calls.start_call(event, route, now=now, **start)  # type: ignore[arg-type]
            return
        ctx = CallContext(
            caller=caller,
            group=self.config.groups.get(group) or GroupPolicy(),
            dialed=dialed,
            user=user_policy,
            source=source,  # type: ignore[arg-type]
            trunk_code=trunk_code,
        )
        codes = self.codes.for_group(group) if self.codes is not None else _NO_DATABASE
        d = evaluate(ctx, self.plan, codes, self.today())
        acct = d.account
        account = AccountInfo(
            code=d.code or "",
            source=d.code_source.value,
            valid=d.code_valid,
            call_class=d.call_class.value,
            name=acct.name if acct else "",
            department=acct.department if acct else "",
            rate_plan=(acct.rate_plan or "") if acct else "",
            credit_account=(acct.credit_account or "") if acct else "",
        )
        if d.code_rejected:
            self.lockout.record_failure(keys, now)
            if self.lockout.check(keys, now):
                self.lockouts += 1
                log.warning("account codes locked for %s after repeated invalid codes", _keys_text(keys))
        elif d.code and d.code_valid:
            self.lockout.record_success(keys, now)
        if d.outcome is Outcome.ALLOW and account.credit_account and d.call_class not in UNRESTRICTED_CLASSES:
            route = self.router.route_from_phone(d.destination)
            if route.kind != "none":
                if self.credit_check is None or self.defer is None:
                    log.warning("call from %s to %s refused: credit account %s cannot be checked",
                                caller, dialed, account.credit_account)
                    route = Route(kind="none", destination=d.destination, status=503,
                                  reason="Credit control unavailable")
                else:
                    self._check_credit(event, route, account, start)
                    return
        elif d.outcome is Outcome.ALLOW:
            route = self.router.route_from_phone(d.destination)
        else:
            # "collect" (a code is needed and none came) is refused until prompting exists
            log.info("call from %s to %s refused: %s (%s)", caller, dialed, d.reason, d.rule)
            route = Route(kind="none", destination=d.destination or dialed, status=d.status or 403, reason=d.reason)
        self.calls.start_call(event, route, account=account, now=now, **start)  # type: ignore[arg-type]


    def _check_credit(self, event: RequestReceived, route: Route, account: AccountInfo, start: dict[str, str]) -> None:
        """Before ringing: may the credit account pay for the call's first chunk?
        The check runs asynchronously while the INVITE transaction stays open (the
        endpoint sends 100 Trying); then the call starts, or is refused (and still
        reported) with the check's status.  A CANCEL meanwhile is answered in
        ``handle``; a late result then starts nothing."""
        assert event.transaction_id is not None and self.credit_check is not None and self.defer is not None
        txn = event.transaction_id
        self.credit_pending[txn] = event
        req = event.request
        desc = CallStarted(
            ref="", at=0.0, caller=start["caller"], caller_user=start["caller_user"],
            department=start["department"], group=start["group"], dialed=_user_of(req),
            destination=route.destination,
            route=("trunk:" + route.trunk.name) if route.trunk else route.kind,
            a_call_id=req.call_id, source="", account=account,
        )

        def done(result: object, *, now: float) -> None:
            if self.credit_pending.pop(txn, None) is None or self.endpoint.transaction(txn) is None:
                return  # cancelled (answered 487) or the transaction is gone
            chosen = route
            if not isinstance(result, CreditCheck):
                result = CreditCheck(ok=False, reason="credit unavailable", status=503)
            if not result.ok:
                self.credit_refusals += 1
                log.info("call from %s to %s refused: %s (credit account %s)",
                         start["caller"], desc.dialed, result.reason, account.credit_account)
                chosen = Route(kind="none", destination=route.destination, status=result.status or 503,
                               reason=_credit_reason(result))
            self.calls.start_call(event, chosen, account=account, now=now, **start)  # type: ignore[arg-type]

        self.defer(self.credit_check(desc), done)


def _credit_reason(check: CreditCheck) -> str:
    if check.status == 402:
        return "Insufficient credit"
    if check.status == 503:
        return "Credit control unavailable"
    return f"Credit refused: {check.reason}"


LOCKED_REASON = "Too many invalid account codes"


class _NoDatabase:
    """CodeLookup when the database is missing: every lookup fails, so the
    policy refuses calls that need a code checked (fail closed)."""

    def get(self, code: str, /) -> None:
        raise LookupError("account code database unavailable")


_NO_DATABASE = _NoDatabase()


def _keys_text(keys: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k} {v}" for k, v in keys)


def _trunk_code(req: Request) -> str | None:
    """The account code a trusted trunk passes: X-Account-Code, else ac= on the Request-URI."""
    value = req.get("x-account-code")
    if value:
        return value.strip()
    try:
        uri = req.ruri
    except ParseError:
        return None
    params = getattr(uri, "params", {})
    ac = params.get("ac")
    return ac.strip() if ac else None


def _user_of(req: Request) -> str:
    try:
        uri = req.ruri
    except ParseError:
        return ""
    return getattr(uri, "user", None) or ""


def _from_user(req: Request) -> str:
    try:
        uri = req.from_.uri
    except ParseError:
        return ""
    return getattr(uri, "user", None) or ""


def _target(contact_uri: str, source: Address) -> Address:
    """Where to send a call for a binding: over TCP back along the connection the
    phone registered on; over UDP to the registered Contact address when its host
    is the address the REGISTER came from, else (a phone behind NAT that
    registered a private address) back to that source."""
    if source.transport == "tcp":
        return source
    from b2bua.sip.uri import parse_uri

    try:
        uri = parse_uri(contact_uri)
    except ParseError:
        return source
    if isinstance(uri, SipUri):
        transport = uri.params.get("transport", "udp") or "udp"
        if transport.lower() == "udp" and uri.host == source.host:
            return Address("udp", uri.host, uri.port or 5060)
    return source
