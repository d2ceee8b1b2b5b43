"""JSON API for rate plans, rates and credit accounts (the operations of the
portal's pages and of ``b2bua rates`` / ``b2bua credit``), on the billing database.

System-administrator data: a token of a business group gets 403 everywhere here.
Money is exchanged as decimal strings (``"0.05"``), never as JSON numbers, so
nothing is rounded on the way.  A rates import is a ``text/csv`` body (at most
``[http] max_upload_bytes``); a bad row imports nothing and the answer lists
every bad row with its line (``errors``).  A top-up records the token's
administrator in the account's history.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.billing.admin_sql import MAX_NOTE, TopUp, check_account_name
from b2bua.billing.credit import Balance
from b2bua.billing.rating import CALL_CLASSES, RatePlan, RatingError
from b2bua.billing.store import BillingStore, BillingStoreError
from b2bua.billing.tariffs import MAX_NAME, RateRow, export_rates_csv, parse_rates_csv, rate_row
from b2bua.runtime.admins import Admin
from b2bua.runtime.plan_rules import check_currency_change, check_unused

from .api import ApiError, Document, Handler, Problem, decode_body, endpoint, json_reply
from .api import error_reply as error
from .api import ok_reply as ok
from .api import schema_ref as ref

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams

    from .portal import Portal

log = logging.getLogger("b2bua.api")
MAX_LIMIT = 500

PlanName = Annotated[str, msgspec.Meta(pattern=f"^[A-Za-z0-9._-]{{1,{MAX_NAME}}}$")]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
Money = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,12}(\.[0-9]{1,6})?$")]
SignedMoney = Annotated[str, msgspec.Meta(pattern=r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$")]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=999_999)]
AccountName = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9._@-]{1,64}$")]
CallClassText = Annotated[str, msgspec.Meta(pattern=f"^({'|'.join(CALL_CLASSES)})?$")]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NOTE, pattern=r"\S")]


class NewPlan(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: PlanName
    currency: Currency = "EUR"


class PlanChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new currency; the plan's prices are kept as numbers (``confirm``: yes, read
    them in the new currency; needed when the plan holds rates)."""

    currency: Currency
    confirm: bool = False


class Plan(msgspec.Struct, kw_only=True):
    name: str
    currency: str
    rates: int


class RateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A rate: a prefix rate (``prefix``) or a plan's default for a call class."""

    plan: PlanName
    prefix: Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9*#]{0,32}$")] = ""
    call_class: CallClassText = ""
    price_per_minute: Money
    setup: Money = "0"
    minimum_s: Seconds = 0
    increment_s: Annotated[int, msgspec.Meta(ge=1, le=999_999)] = 1
    description: Annotated[str, msgspec.Meta(max_length=200)] = ""


class RateOut(msgspec.Struct, kw_only=True):
    plan: str
    prefix: str
    call_class: str
    price_per_minute: str
    setup: str
    minimum_s: int
    increment_s: int
    description: str


class RatePage(msgspec.Struct, kw_only=True):
    total: int
    items: list[RateOut]


class Imported(msgspec.Struct, kw_only=True):
    imported: int


class ImportRefused(msgspec.Struct, kw_only=True):
    error: str
    field: str
    errors: list[str]


class NewAccount(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    account: AccountName
    currency: Currency = "EUR"
    balance: Money = "0"


class Account(msgspec.Struct, kw_only=True):
    account: str
    currency: str
    balance: str
    reserved: str
    available: str


class AccountPage(msgspec.Struct, kw_only=True):
    total: int
    items: list[Account]


class TopUpIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A top-up (positive) or a correction (negative), and why."""

    amount: SignedMoney
    note: Note


class Change(msgspec.Struct, kw_only=True):
    amount: str
    balance_after: str
    admin: str
    at: float
    note: str
    opening: bool = False  # the account's creation: ``amount`` is its opening balance


class AccountDetail(Account, kw_only=True):
    history: list[Change]


def account_out(b: Balance) -> Account:
    return Account(account=b.account, currency=b.currency, balance=str(b.balance), reserved=str(b.reserved),
                   available=str(b.available))


def change_out(t: TopUp) -> Change:
    return Change(amount=str(t.amount), balance_after=str(t.balance_after), admin=t.admin, at=t.at, note=t.note,
                  opening=t.opening)


def rate_out(row: RateRow) -> RateOut:
    r = row.rate
    return RateOut(plan=row.plan, prefix=r.prefix, call_class=row.call_class, price_per_minute=str(r.price_per_minute),
                   setup=str(r.setup), minimum_s=r.minimum_s, increment_s=r.increment_s, description=r.description)


def field_problem(err: Exception, status: int = 422) -> Problem:
    """A validation message "field: why" as a JSON error naming the field."""
    field, sep, _ = str(err).partition(": ")
    return Problem(status, str(err), field if sep and field.isidentifier() else None)


def paging(params: QueryParams) -> tuple[int, int]:
    offset, limit = params.get("offset", "0"), params.get("limit", "50")
    if not offset.isdigit() or int(offset) > 10**9:
        raise Problem(422, "offset must be a whole number", "offset")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise Problem(422, f"limit must be 1 to {MAX_LIMIT}", "limit")
    return int(offset), int(limit)


def system_only(who: Admin) -> None:
    if who.role != "system":
        raise Problem(403, "rates and credit accounts are managed by system administrators")


SCHEMAS = (NewPlan, PlanChange, Plan, RateIn, RateOut, RatePage, Imported, ImportRefused, NewAccount,
           Account, AccountPage, TopUpIn, AccountDetail, ApiError)


def document() -> Document:
    """These operations' part of the OpenAPI document (paths, component schemas)."""
    _, schemas = msgspec.json.schema_components(SCHEMAS, ref_template="#/components/schemas/{name}")
    return openapi_paths(), schemas


def routes(portal: Portal, store: BillingStore, max_upload: int) -> list[Route]:
    """The rate and credit operations on ``store`` (the server's billing database)."""
    db = portal.db

    def guarded(handler: Handler) -> Any:
        async def run(request: Request, who: Admin) -> Response:
            system_only(who)
            try:
                return await handler(request, who)
            except (RatingError, ValueError) as err:
                raise field_problem(err) from None
            except BillingStoreError as err:
                log.error("api: billing database: %s", err)
                raise Problem(503, "the billing database cannot be reached") from None

        return endpoint(portal, run)

    async def plans(request: Request, who: Admin) -> Response:
        if request.method == "GET":
            return json_reply([Plan(name=p.name, currency=p.currency, rates=p.rates)
                          for p in await store.rate_plan_infos()])
        body: NewPlan = decode_body(await request.body(), NewPlan)
        try:
            await store.save_rate_plan(body.name, body.currency, time.time(), create=True)
        except RatingError as err:
            raise Problem(409, str(err), "name") from None
        log.info("api: %s added rate plan %s", who.name, body.name)
        await portal.audit(request, who.name, "plan.add", body.name)
        return json_reply(Plan(name=body.name, currency=body.currency, rates=0), 201)

    async def one_plan(request: Request, who: Admin) -> Response:
        name = request.path_params["name"]
        found = {p.name: p for p in await store.rate_plan_infos()}.get(name)
        if found is None:
            raise Problem(404, f"no rate plan {name!r}")
        if request.method == "GET":
            return json_reply(Plan(name=found.name, currency=found.currency, rates=found.rates))
        if request.method == "DELETE":
            try:
                await db.run(check_unused, db.db, portal.config, name)
            except RatingError as err:
                raise Problem(409, str(err), "name") from None
            await store.delete_rate_plan(name)
            log.info("api: %s removed rate plan %s", who.name, name)
            await portal.audit(request, who.name, "plan.remove", name)
            return Response(status_code=204)
        body: PlanChange = decode_body(await request.body(), PlanChange)
        try:
            check_currency_change(found.currency, body.currency, found.rates, body.confirm)
        except RatingError as err:
            raise Problem(409, str(err), "confirm") from None
        await store.save_rate_plan(name, body.currency, time.time(), create=False)
        await portal.audit(request, who.name, "plan.change", name)
        return json_reply(Plan(name=name, currency=body.currency, rates=found.rates))

    async def rates(request: Request, who: Admin) -> Response:
        if request.method == "GET":
            offset, limit = paging(request.query_params)
            plan, q = request.query_params.get("plan", "")[:MAX_NAME], request.query_params.get("q", "")[:100]
            total, rows = await store.search_rates(plan, q, offset=offset, limit=limit)
            return json_reply(RatePage(total=total, items=[rate_out(r) for r in rows]))
        body: RateIn = decode_body(await request.body(), RateIn)
        row = rate_row({f: str(getattr(body, f)) for f in RateIn.__struct_fields__})
        if row.plan not in {p.name for p in await store.rate_plan_infos()}:
            raise Problem(422, f"plan: no rate plan {row.plan!r}", "plan")
        await store.import_rates([row])
        log.info("api: %s set a rate of plan %s", who.name, row.plan)
        await portal.audit(request, who.name, "rate.change", row.plan)
        return json_reply(rate_out(row))

    async def import_rates(request: Request, who: Admin) -> Response:
        data = await request.body()
        if len(data) > max_upload:
            raise Problem(413, f"file: larger than {max_upload} bytes", "file")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise Problem(422, f"file: not UTF-8 text (byte {err.start})", "file") from None
        known = {p.name for p in await store.rate_plan_infos()}
        rows, errors = parse_rates_csv(text, plans=known)
        if errors:
            return json_reply(ImportRefused(error="nothing imported: bad rows", field="file", errors=errors), 422)
        n = await store.import_rates(rows, replace=request.query_params.get("replace") == "true")
        log.info("api: %s imported %d rates", who.name, n)
        await portal.audit(request, who.name, "rates.import", f"{n} rates")
        return json_reply(Imported(imported=n))

    async def export(request: Request, who: Admin) -> Response:
        text = export_rates_csv(await store.export_rates(request.query_params.get("plan", "")[:MAX_NAME]))
        return Response(text, media_type="text/csv; charset=utf-8")

    async def accounts(request: Request, who: Admin) -> Response:
        if request.method == "GET":
            offset, limit = paging(request.query_params)
            total, found = await store.credit_accounts(request.query_params.get("q", "")[:100],
                                                       offset=offset, limit=limit)
            return json_reply(AccountPage(total=total, items=[account_out(b) for b in found]))
        body: NewAccount = decode_body(await request.body(), NewAccount)
        RatePlan(name="-", currency=body.currency)  # a currency the store can hold
        try:
            bal = await store.create_account(check_account_name(body.account), body.currency, Decimal(body.balance),
                                             admin=who.name, now=time.time())
        except BillingStoreError as err:
            raise Problem(409, str(err), "account") from None
        log.info("api: %s created credit account %s", who.name, body.account)
        await portal.audit(request, who.name, "credit.create", body.account)
        return json_reply(account_out(bal), 201)

    async def one_account(request: Request, who: Admin) -> Response:
        name = request.path_params["account"]
        bal = await store.balance(name)
        if bal is None:
            raise Problem(404, f"no credit account {name!r}")
        history = [change_out(t) for t in await store.credit_history(name)]
        return json_reply(AccountDetail(**msgspec.structs.asdict(account_out(bal)), history=history))

    async def topup(request: Request, who: Admin) -> Response:
        name = request.path_params["account"]
        body: TopUpIn = decode_body(await request.body(), TopUpIn)
        bal = await store.adjust_credit(name, Decimal(body.amount), admin=who.name, note=body.note, now=time.time())
        if bal is None:
            raise Problem(404, f"no credit account {name!r}")
        log.info("api: %s changed the balance of %s by %s", who.name, name, body.amount)
        await portal.audit(request, who.name, "credit.change", f"{name} {body.amount}")
        return json_reply(account_out(bal))

    return [
        Route("/api/v1/rate-plans", guarded(plans), methods=["GET", "POST"]),
        Route("/api/v1/rate-plans/{name}", guarded(one_plan), methods=["GET", "PUT", "DELETE"]),
        Route("/api/v1/rates", guarded(rates), methods=["GET", "POST"]),
        Route("/api/v1/rates/import", guarded(import_rates), methods=["POST"]),
        Route("/api/v1/rates/export", guarded(export), methods=["GET"]),
        Route("/api/v1/credit-accounts", guarded(accounts), methods=["GET", "POST"]),
        Route("/api/v1/credit-accounts/{account}", guarded(one_account), methods=["GET"]),
        Route("/api/v1/credit-accounts/{account}/topups", guarded(topup), methods=["POST"]),
    ]



def openapi_paths() -> dict[str, Any]:
    common = {"401": error("no or unknown token"), "403": error("not a system administrator's token"),
              "503": error("the billing database cannot be reached")}

    def body(name: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": ref(name)}}}

    def page_params(*extra: dict[str, Any]) -> list[dict[str, Any]]:
        return [*extra, {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}}]

    plan_q = {"name": "plan", "in": "query", "schema": {"type": "string", "maxLength": MAX_NAME}}
    name_p = {"name": "name", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": f"^[A-Za-z0-9._-]{{1,{MAX_NAME}}}$"}}
    account_p = {"name": "account", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}}
    csv = {"description": "rates as CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}
    bad = {"400": error("malformed JSON"), "422": error("a field's value")}
    return {
        "/api/v1/rate-plans": {
            "get": {"summary": "Rate plans", "responses": {
                "200": {"description": "every plan", "content": {"application/json": {
                    "schema": {"type": "array", "items": ref("Plan")}}}}, **common}},
            "post": {"summary": "Add a rate plan", "requestBody": body("NewPlan"),
                     "responses": {"201": ok("added", "Plan"), "409": error("the plan exists"), **bad, **common}},
        },
        "/api/v1/rate-plans/{name}": {
            "parameters": [name_p],
            "get": {"summary": "One rate plan", "responses": {"200": ok("the plan", "Plan"),
                                                              "404": error("no such plan"), **common}},
            "put": {"summary": "Change a plan's currency (its prices are not converted)",
                    "requestBody": body("PlanChange"),
                    "responses": {"200": ok("changed", "Plan"), "404": error("no such plan"),
                                  "409": error("the plan holds rates: confirm is needed"), **bad, **common}},
            "delete": {"summary": "Remove a plan and its rates (refused while a code or the configuration names it)",
                       "responses": {"204": {"description": "removed"}, "404": error("no such plan"),
                                     "409": error("in use: the error names by whom"), **common}},
        },
        "/api/v1/rates": {
            "get": {"summary": "Rates (search by prefix, call class or description; paging)",
                    "parameters": page_params(plan_q),
                    "responses": {"200": ok("a page of rates", "RatePage"), "422": error("a bad parameter"),
                                  **common}},
            "post": {"summary": "Add or change one rate (effective on the next call)", "requestBody": body("RateIn"),
                     "responses": {"200": ok("stored", "RateOut"), **bad, **common}},
        },
        "/api/v1/rates/import": {
            "post": {"summary": "Import rates from CSV (one transaction; a bad row imports nothing)",
                     "parameters": [{"name": "replace", "in": "query",
                                     "schema": {"type": "string", "enum": ["true", "false"]}}],
                     "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
                     "responses": {"200": ok("imported", "Imported"), "413": error("too large"),
                                   "422": ok("bad rows, each with its line", "ImportRefused"), **common}},
        },
        "/api/v1/rates/export": {
            "get": {"summary": "Export rates as CSV", "parameters": [plan_q], "responses": {"200": csv, **common}},
        },
        "/api/v1/credit-accounts": {
            "get": {"summary": "Credit accounts: balance, reserved, available", "parameters": page_params(),
                    "responses": {"200": ok("a page of accounts", "AccountPage"), "422": error("a bad parameter"),
                                  **common}},
            "post": {"summary": "Create a credit account", "requestBody": body("NewAccount"),
                     "responses": {"201": ok("created", "Account"), "409": error("the account exists"), **bad,
                                   **common}},
        },
        "/api/v1/credit-accounts/{account}": {
            "parameters": [account_p],
            "get": {"summary": "One credit account and its history of changes",
                    "responses": {"200": ok("the account", "AccountDetail"), "404": error("no such account"),
                                  **common}},
        },
        "/api/v1/credit-accounts/{account}/topups": {
            "parameters": [account_p],
            "post": {"summary": "Top up (or correct, with a negative amount) a balance, with a note",
                     "requestBody": body("TopUpIn"),
                     "responses": {"200": ok("the new balance", "Account"), "404": error("no such account"), **bad,
                                   **common}},
        },
    }
