"""The application above the endpoint: what the server does with each event.

A thin shell.  In-dialog requests, responses, CANCELs and timeouts belong to
the call manager; a CANCEL the manager does not own may be one of an INVITE
still being admitted (its credit checked), which belongs to the admission
machine.  Out of dialog: an INVITE goes to the admission machine
(:mod:`b2bua.calls.admission`: authentication, trunk recognition, lockout,
account-code policy, routing, credit), whose commands are executed here:
answers (challenges statelessly), credit checks (run by ``defer``, their
results fed back) and calls started in the call manager.  An out-of-dialog
INFO naming a call with Target-Dialog (a mid-call account code,
:mod:`b2bua.calls.midcall`) goes to the mid-call codes.  REGISTER goes to
the registrar after digest authentication; OPTIONS is answered with 200 and
the server's capabilities (RFC 3261 §11.2); anything else gets 405 (or 481
for BYE/UPDATE/INFO that name no dialog).  The configuration is converted
here into the call layer's own values (:class:`~b2bua.calls.routing.Extension`,
``Trunk``, ``RoutePrefix``).

The call manager returns its call events instead of calling anyone; the
driver calls :meth:`ServerApp.dispatch` after every step (an endpoint event,
a timer, deferred work), which hands them, in order, to the sink (the call
log, and through it billing and credit control).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any, Awaitable, Callable, Protocol, Sequence

import msgspec

from b2bua.billing.credit import CreditCheck, MoveResult
from b2bua.calls.admission import (
    Admission,
    CheckCredit,
    CollectNumber,
    Command,
    CreditChecked,
    CreditRequest,
    CredentialGuard,
    InviteReceived,
    Policy,
    PromptAgain,
    SendResponse,
    StartCall,
    StartPrompt,
    TransactionGone,
    authenticate,
)
from b2bua.calls.manager import ALLOW, CallManager, Settings
from b2bua.calls.events import CallEvent
from b2bua.calls.midcall import MidCallCodes
from b2bua.calls.midcall_credit import MoveCredit
from b2bua.calls.midcall_parse import PACKAGE
from b2bua.calls.postcall import LastCallCodes
from b2bua.calls.registrar import LocationService, Registrar
from b2bua.calls.routing import Extension, RoutePrefix, Router, Trunk, refusal
from b2bua.sip import validate
from b2bua.sip.build import IdSource, make_response
from b2bua.sip.digest import DigestServer, authorization_for_challenges
from b2bua.sip.endpoint import Address, Endpoint, RequestReceived
from b2bua.sip.errors import ParseError
from b2bua.sip.message import Header, header
from b2bua.sip.uri import SipUri

from dialplan import Lockout
from dialplan.authcodes import AuthCodeLookup

from .codes import CodeStore
from .config import Config, RouteConfig, TrunkConfig, UserConfig

log = logging.getLogger("b2bua.app")

SHUTDOWN_CAUSE = "server shutdown"  # the cause of calls the server ends or refuses when stopping


def capability_headers() -> list[Header]:
    return [
        header("Allow", ", ".join(sorted(validate.METHODS))),
        header("Accept", ", ".join(sorted(validate.ACCEPT))),
        header("Supported", ", ".join(sorted(validate.SUPPORTED))),
    ]


# -- configuration -> call-layer values ------------------------------------------------


def extension_of(u: UserConfig) -> Extension:
    return Extension(
        extension=u.extension, auth_name=u.auth_name, password=u.password, display_name=u.display_name,
        group=u.group, department=u.department, account_code_mode=u.account_code_mode,
        account_code=u.account_code,
        digest_algorithms=tuple(u.digest_algorithms) if u.digest_algorithms else None,
    )


def trunk_of(t: TrunkConfig) -> Trunk:
    return Trunk(
        name=t.name, host=t.host, port=t.port, transport=t.transport, inbound=tuple(t.inbound),
        strip=t.strip, prepend=t.prepend, username=t.username, password=t.password, dids=dict(t.dids),
        pass_account_code=t.pass_account_code, group=t.group, inbound_auth=t.inbound_auth,
        inbound_transport=t.inbound_transport, allow_transit=t.allow_transit,
    )


def credential_guard(config: Config) -> CredentialGuard:
    """Password guessing protection as configured in [security]."""
    sec = config.security
    if not sec.auth_guard:
        return CredentialGuard(None)
    return CredentialGuard(Lockout(
        sec.auth_max_failures, sec.auth_window, sec.auth_lockout,
        growth=sec.auth_lockout_growth, max_lockout_s=sec.auth_lockout_max,
    ))


def route_prefix_of(r: RouteConfig) -> RoutePrefix:
    return RoutePrefix(prefix=r.prefix, trunk=r.trunk)


class Prompter(Protocol):
    """Prompting's shell: carries out StartPrompt and PromptAgain (b2bua.runtime.prompts)."""

    def execute(self, command: "StartPrompt | PromptAgain | CollectNumber", now: float) -> None: ...
    def route(self, command: StartCall, now: float) -> None: ...


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
        credit_check: Callable[[CreditRequest], Awaitable[CreditCheck]] | None = None,
        credit_move: Callable[[MoveCredit], Awaitable[MoveResult]] | None = None,
        defer: Callable[[Awaitable[Any], Callable[..., None]], None] | None = None,
        auth_codes: AuthCodeLookup | None = None,
        prompter: "Prompter | None" = None,
    ) -> None:
        self.endpoint = endpoint
        self.ids = ids
        self.config = config
        sip = config.sip
        self.user_agent = config.server.user_agent
        extensions = [extension_of(u) for u in config.users]
        self.users = {u.auth_name: u for u in extensions}
        # configured extensions are internal numbers whatever the plan's pattern
        plan = config.numbering
        self.plan = msgspec.structs.replace(
            plan,
            extensions=msgspec.structs.replace(
                plan.extensions, numbers=plan.extensions.numbers | {u.extension for u in config.users}
            ),
        )
        trunks = [trunk_of(t) for t in config.trunks]
        self.router = Router(
            extensions, trunks, [route_prefix_of(r) for r in config.routes], emergency=frozenset(plan.emergency)
        )
        self.today = today
        # prepaid calls: credit_check(CreditRequest) -> CreditCheck,
        # run by defer(coroutine, on_done); without both, calls on credit
        # accounts are refused (fail closed)
        self.credit_check = credit_check
        self.credit_move = credit_move  # a mid-call code's credit account: MoveCredit -> MoveResult
        self.defer = defer
        self.draining = False  # stopping: new calls get 503 while the live ones end
        self.prompter: Prompter | None = prompter  # prompting's shell (media); None: callers are not prompted
        self._own: tuple[tuple[str, int], ...] = ()
        self._own_from: object = None  # the endpoint's address dict _own was made from
        lk = config.lockout
        self.auth = DigestServer(sip.realm, secret, float(sip.nonce_lifetime), algorithms=tuple(sip.digest_algorithms))
        self.admission = Admission(
            extensions,
            self.auth,
            self.router,
            Policy(
                groups=config.groups, plan=self.plan, codes=codes, auth_codes=auth_codes,
                challenge=sip.invite_challenge,
                credit=credit_check is not None and defer is not None,
                prompting=prompter is not None,
            ),
            Lockout(lk.max_failures, lk.window, lk.lockout, address_max_failures=lk.address_max_failures),
            guard=credential_guard(config),
        )
        self.location = LocationService()
        self.registrar = Registrar(
            self.location, min_expires=sip.min_expires, max_expires=sip.max_expires
        )
        self.on_bindings = on_bindings
        by_name = {t.name: t for t in trunks}
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
                offer_100rel=sip.offer_100rel,
                redirect=sip.redirect,
                max_redirects=sip.max_redirects,
                hold_answer=config.billing.durable_answer,
                recv_info=(PACKAGE,) if config.groups else (),
            ),
            contacts_for=self._contacts_for,
            local=local,
            trunk_credentials=lambda name: by_name[name].credentials,
            digest_client=authorization_for_challenges,
        )
        # mid-call account codes (INFO in the dialog, Target-Dialog, INFO digits)
        self.midcall: MidCallCodes | None = None
        if config.groups:
            self.midcall = self.calls.midcall = MidCallCodes(self.calls, self.admission, today)
            self.midcall.credit.enabled = credit_move is not None and defer is not None
            self.admission.last_calls = LastCallCodes(self.midcall)  # the VSC alone: a code for the last call

    # counters of the admission machine, for the status file
    @property
    def lockouts(self) -> int:
        return self.admission.lockouts

    @property
    def lockout_refusals(self) -> int:
        return self.admission.lockout_refusals

    @property
    def credit_refusals(self) -> int:
        return self.admission.credit_refusals

    # -- events -----------------------------------------------------------------
    def handle(self, event: object, now: float) -> None:
        if self.calls.handle(event, now):
            return
        if self.admission.claims(event):
            # cancelled while being admitted: no call exists yet for the manager
            self.execute(self.admission.handle(event, now), now)
            return
        if not isinstance(event, RequestReceived):
            return
        method = event.request.method
        if method == "ACK" or event.transaction_id is None:
            return
        if method == "REGISTER":
            self._register(event, now)
        elif method == "INVITE" and self.draining:
            self.calls.reply(event, 503, now, reason=SHUTDOWN_CAUSE)
        elif method == "INVITE":
            self.execute(self.admission.handle(InviteReceived(event=event, today=self.today(), own=self._listening()), now), now)
        elif method == "OPTIONS":
            self.calls.reply(event, 200, now, extra=capability_headers())
        elif method == "INFO" and self.midcall is not None and self.midcall.claims(event):
            self.execute(self.midcall.out_of_dialog(event, now, own=self._listening()), now)
        elif method in ("BYE", "UPDATE", "INFO", "PRACK"):
            self.calls.reply(event, 481, now)
        else:
            self.calls.reply(event, 405, now, extra=[header("Allow", ALLOW + ", REGISTER")])

    def execute(self, commands: list[Command], now: float) -> None:
        """Carry out the admission machine's commands, in order."""
        for cmd in commands:
            if isinstance(cmd, SendResponse) and cmd.stateless:
                assert cmd.event.transaction_id is not None
                headers = [header("Server", self.user_agent), *cmd.headers]
                resp = make_response(cmd.event.request, cmd.status, cmd.reason, to_tag=self.ids.tag(), headers=headers)
                self.endpoint.respond_statelessly(cmd.event.transaction_id, resp)
            elif isinstance(cmd, SendResponse):
                self.calls.reply(cmd.event, cmd.status, now, reason=cmd.reason, extra=list(cmd.headers))
            elif isinstance(cmd, StartCall) and cmd.prompted:
                assert self.prompter is not None
                self.prompter.route(cmd, now)  # the held call: placed, or ended refused
            elif isinstance(cmd, StartCall):
                route = cmd.route
                if self.draining and route.kind != "none":
                    # admitted after the shutdown began (a credit answer came late): refused, recorded
                    route = refusal(route.destination, 503, SHUTDOWN_CAUSE)
                self.calls.start_call(
                    cmd.event, route, caller=cmd.caller, caller_user=cmd.caller_user, display=cmd.display,
                    department=cmd.department, group=cmd.group, account=cmd.account, dialed=cmd.dialed, now=now,
                )
            elif isinstance(cmd, CheckCredit):
                self._check_credit(cmd)
            elif self.prompter is not None:  # StartPrompt, PromptAgain
                self.prompter.execute(cmd, now)
            else:  # Policy.prompting is False without a prompter: never emitted
                log.error("no media endpoint for %s", type(cmd).__name__)

    def _listening(self) -> tuple[tuple[str, int], ...]:
        local = self.endpoint.local  # replaced, never changed in place (Endpoint.set_local)
        if self._own_from is not local:
            self._own = tuple((a.host, a.port) for a in local.values())
            self._own_from = local
        return self._own

    def _check_credit(self, cmd: CheckCredit) -> None:
        """Run the check while the INVITE transaction stays open (the endpoint
        has sent 100 Trying); its result goes back to the machine."""
        assert self.credit_check is not None and self.defer is not None

        def done(result: object, *, now: float) -> None:
            if self.endpoint.transaction(cmd.txn) is None:
                event: TransactionGone | CreditChecked = TransactionGone(txn=cmd.txn)
            else:
                event = CreditChecked(txn=cmd.txn, result=result if isinstance(result, CreditCheck) else None)
            self.execute(self.admission.handle(event, now), now)

        self.defer(self.credit_check(cmd.request), done)

    def _move_credit(self, midcall: MidCallCodes) -> None:
        """Move prepaid calls to the credit account of their new mid-call code; the
        code's request is answered with the result (fail closed without credit control)."""
        for cmd in midcall.credit.take():
            assert self.credit_move is not None and self.defer is not None  # else never asked (CreditMoves.enabled)

            def done(result: object, *, now: float, ref: str = cmd.ref) -> None:
                assert self.midcall is not None
                self.midcall.credit_moved(ref, result if isinstance(result, MoveResult) else None, now)

            self.defer(self.credit_move(cmd), done)

    def dispatch(self) -> None:
        """Hand the call events of the steps just taken to the sink, in order
        (the sink may end a call: its events follow in the same loop)."""
        calls = self.calls
        if self.midcall is not None:
            self._move_credit(self.midcall)
        while calls.events:
            for event in calls.take_events():
                try:
                    self.sink(event)
                except Exception:  # a subscriber's bug must not break call handling
                    log.exception("internal error dispatching %s", type(event).__name__)

    # -- REGISTER -------------------------------------------------------------------
    def _register(self, event: RequestReceived, now: float) -> None:
        user = authenticate(self.auth, self.users, event, 401, now, own=self._listening(), guard=self.admission.guard)
        if isinstance(user, SendResponse):
            self.execute([user], now)
            return
        try:
            resp = self.registrar.handle(event.request, event.source, user.extension, now, self.ids.tag())
        except ParseError as err:
            self.calls.reply(event, err.status or 400, now, reason=err.reason)
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
