"""Rate and credit pages: rate plans, rates (search, paging, one rate, delete, CSV
import and export), credit accounts (list, create, top-up or correction with a
note, history, the calls charged with links to their records).  They use the server's billing store (``b2bua.billing.store``: the
same validation and transactions as ``b2bua rates`` / ``b2bua credit`` and the
API), so a rate change applies to the next call (``b2bua.runtime.rates``).

Rates and credit are system-administrator data: a business-group administrator
is refused every page here (403), credit accounts included (an account may pay
for several groups' codes).
"""

from __future__ import annotations

import logging
import math
import time
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from b2bua.billing.admin_sql import check_account_name
from b2bua.billing.rating import CALL_CLASSES, RatePlan, RatingError
from b2bua.billing.store import BillingStore, BillingStoreError
from b2bua.billing.tariffs import (
    RATE_COLUMNS, check_plan_name, export_rates_csv, parse_rates_csv, rate_fields, rate_row,
)
from b2bua.runtime.plan_rules import REINTERPRETED, check_currency_change, check_unused

from .sessions import Session

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.portal")
PAGE_SIZE = 50
MAX_QUERY = 100
Page = Callable[[Request, Session], Awaitable[Response]]


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


def _text(form: Any, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _done(session: Session, notice: str, to: str) -> Response:
    session.flash = notice
    return RedirectResponse(to, status_code=303)


def routes(portal: Portal, store: BillingStore) -> list[Route]:
    limit = portal.config.http.max_upload_bytes

    def system(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """Only system administrators; a database that does not answer is a page saying so."""

        async def run(request: Request, session: Session) -> Response:
            if session.admin.role != "system":
                log.warning("portal: %s refused the rate and credit pages", session.admin.name)
                return portal.refuse(request, 403, "Rates and credit accounts are managed by system administrators.")
            try:
                return await handler(request, session)
            except BillingStoreError as err:
                log.error("portal: billing database: %s", err)
                return portal.refuse(request, 503, "The billing database cannot be reached; try again later.")

        return portal.page(run)

    async def rates_page(request: Request, session: Session, *, status: int = 200, error: str = "",
                         fields: dict[str, str] | None = None) -> Response:
        q = request.query_params.get("q", "").strip()[:MAX_QUERY]
        plan = request.query_params.get("plan", "")[:64]
        page = _page_number(request)
        plans = await store.rate_plan_infos()
        total, rows = await store.search_rates(plan, q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        pages = max(1, math.ceil(total / PAGE_SIZE))

        def query(n: int) -> str:
            return urllib.parse.urlencode({"q": q, "plan": plan, "page": n})

        blank = {c: "" for c in RATE_COLUMNS} | {"plan": plan or (plans[0].name if plans else "")}
        return portal.render(request, "rates.html", status, title="Rates", plans=plans, rows=rows, total=total,
                             page=page, pages=pages, q=q, plan=plan, query=query, fields=fields or blank,
                             classes=CALL_CLASSES, error=error, rate_fields=rate_fields)

    async def list_rates(request: Request, session: Session) -> Response:
        return await rates_page(request, session)

    async def add_plan(request: Request, session: Session) -> Response:
        form = request.state.form
        name, currency = _text(form, "name", 100), _text(form, "currency", 10).upper()
        try:
            name = check_plan_name(name)
            RatePlan(name=name, currency=currency)
        except RatingError as err:
            message = str(err) if str(err).startswith("name") else f"currency: {err}"
            return await rates_page(request, session, status=400, error=message)
        try:
            await store.save_rate_plan(name, currency, time.time(), create=True)
        except RatingError as err:
            return await rates_page(request, session, status=400, error=str(err))
        log.info("portal: %s added rate plan %s", session.admin.name, name)
        await portal.audit(request, session.admin.name, "plan.add", name)
        return _done(session, f"Added rate plan {name} ({currency}).", "/rates")

    async def plan_page(request: Request, session: Session) -> Response:
        """A plan: change its currency (confirmed), delete it (refused while in use)."""
        name = request.path_params["name"]
        plan = {p.name: p for p in await store.rate_plan_infos()}.get(name)
        if plan is None:
            return portal.refuse(request, 404, f"No rate plan {name}.")
        action = request.path_params.get("action", "")
        if request.method == "POST" and action not in ("delete", "currency"):
            return portal.refuse(request, 404, "No such page.")
        form = request.state.form if request.method == "POST" else {}
        currency = _text(form, "currency", 10).upper() if action == "currency" else plan.currency
        try:
            if action == "delete":
                await portal.db.run(check_unused, portal.db.db, portal.config, name)
                await store.delete_rate_plan(name)
                log.info("portal: %s removed rate plan %s", session.admin.name, name)
                await portal.audit(request, session.admin.name, "plan.remove", name)
                return _done(session, f"Deleted rate plan {name}.", "/rates")
            if action == "currency":
                RatePlan(name=name, currency=currency)
                check_currency_change(plan.currency, currency, plan.rates, form.get("confirm") == "yes")
                await store.save_rate_plan(name, currency, time.time(), create=False)
                log.info("portal: %s changed the currency of rate plan %s to %s", session.admin.name, name, currency)
                await portal.audit(request, session.admin.name, "plan.change", f"{name} {currency}")
                return _done(session, f"Rate plan {name} is in {currency} from the next call on.", "/rates")
        except RatingError as err:
            text = str(err)
            field = text.split(":", 1)[0] if text.startswith(("confirm:", "name:")) else "currency"
            if field == "currency" and not text.startswith("currency"):
                text = f"currency: {text}"
            return portal.render(request, "rates_plan.html", 409 if field != "currency" else 400,
                                 title=f"Rate plan {name}", plan=plan, currency=currency, error=text, field=field,
                                 reinterpreted=REINTERPRETED)
        return portal.render(request, "rates_plan.html", title=f"Rate plan {name}", plan=plan, currency=currency,
                             field="", reinterpreted=REINTERPRETED)

    async def set_rate(request: Request, session: Session) -> Response:
        fields = {c: _text(request.state.form, c, 200) for c in RATE_COLUMNS}
        try:
            row = rate_row(fields)
            if row.plan not in {p.name for p in await store.rate_plan_infos()}:
                raise RatingError(f"plan: no rate plan {row.plan!r}")
            await store.import_rates([row])
        except RatingError as err:
            return await rates_page(request, session, status=400, error=str(err), fields=fields)
        log.info("portal: %s set a rate of plan %s", session.admin.name, row.plan)
        await portal.audit(request, session.admin.name, "rate.change", row.plan)
        what = f"prefix {row.rate.prefix}" if row.rate.prefix else f"class {row.call_class}"
        return _done(session, f"Saved the rate of {what} in plan {row.plan}.",
                     "/rates?" + urllib.parse.urlencode({"plan": row.plan}))

    async def delete_rate(request: Request, session: Session) -> Response:
        form = request.state.form
        plan, prefix, call_class = _text(form, "plan", 64), _text(form, "prefix", 40), _text(form, "call_class", 40)
        if not await store.delete_rate(plan, prefix, call_class):
            return portal.refuse(request, 404, "No such rate.")
        log.info("portal: %s removed a rate of plan %s", session.admin.name, plan)
        await portal.audit(request, session.admin.name, "rate.remove", plan)
        return _done(session, f"Removed the rate of {prefix or call_class} from plan {plan}.",
                     "/rates?" + urllib.parse.urlencode({"plan": plan}))

    async def import_page(request: Request, session: Session) -> Response:
        def again(status: int = 200, error: str = "", errors: list[str] | None = None) -> Response:
            return portal.render(request, "rates_import.html", status, title="Import rates", columns=RATE_COLUMNS,
                                 limit=limit, errors=errors or [], error=error)

        if request.method == "GET":
            return again()
        form = request.state.form
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return again(400, "file: choose a CSV file to import")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            return again(400, f"file: larger than {limit} bytes")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            return again(400, f"file: not UTF-8 text (byte {err.start})")
        known = {p.name for p in await store.rate_plan_infos()}
        rows, errors = parse_rates_csv(text, plans=known)
        if errors:
            return again(400, "Nothing imported: fix the rows below and import the file again.", errors)
        if not rows:
            return again(400, "file: no rates in it")
        n = await store.import_rates(rows, replace=form.get("replace") == "yes")
        log.info("portal: %s imported %d rates", session.admin.name, n)
        await portal.audit(request, session.admin.name, "rates.import", f"{n} rates")
        return _done(session, f"Imported {n} rate{'s' if n != 1 else ''}.", "/rates")

    async def export(request: Request, session: Session) -> Response:
        plan = request.query_params.get("plan", "")[:64]
        text = export_rates_csv(await store.export_rates(plan))
        name = f"rates-{plan or 'all'}.csv"
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f"attachment; filename*=UTF-8''{urllib.parse.quote(name)}"})

    async def accounts_page(request: Request, session: Session, *, status: int = 200, error: str = "",
                            fields: dict[str, str] | None = None) -> Response:
        q = request.query_params.get("q", "").strip()[:MAX_QUERY]
        page = _page_number(request)
        total, accounts = await store.credit_accounts(q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        pages = max(1, math.ceil(total / PAGE_SIZE))

        def query(n: int) -> str:
            return urllib.parse.urlencode({"q": q, "page": n})

        return portal.render(request, "credit.html", status, title="Credit accounts", accounts=accounts, total=total,
                             page=page, pages=pages, q=q, query=query, error=error,
                             fields=fields or {"account": "", "currency": portal.config.billing.currency,
                                               "balance": "0"})

    async def list_accounts(request: Request, session: Session) -> Response:
        return await accounts_page(request, session)

    async def add_account(request: Request, session: Session) -> Response:
        form = request.state.form
        fields = {"account": _text(form, "account", 100), "currency": _text(form, "currency", 10).upper(),
                  "balance": _text(form, "balance", 40) or "0"}
        try:
            name = check_account_name(fields["account"])
            try:
                RatePlan(name="-", currency=fields["currency"])
            except RatingError as err:
                raise ValueError(f"currency: {err}") from None
            balance = _amount(fields["balance"], "balance")
            if balance < 0:
                raise ValueError("balance: an account cannot start below zero")
            await store.create_account(name, fields["currency"], balance, admin=session.admin.name, now=time.time())
        except ValueError as err:
            return await accounts_page(request, session, status=400, error=str(err), fields=fields)
        except BillingStoreError:
            return await accounts_page(request, session, status=400, fields=fields,
                                       error=f"account: {fields['account']!r} exists")
        log.info("portal: %s created credit account %s", session.admin.name, name)
        await portal.audit(request, session.admin.name, "credit.create", name)
        return _done(session, f"Created credit account {name}.", f"/credit/{urllib.parse.quote(name, safe='')}")

    async def account_page(request: Request, session: Session) -> Response:
        name = request.path_params["account"]
        bal = await store.balance(name)
        if bal is None:
            return portal.refuse(request, 404, f"No credit account {name}.")
        error, fields, status = "", {"amount": "", "note": ""}, 200
        if request.method == "POST":
            fields = {"amount": _text(request.state.form, "amount", 40), "note": _text(request.state.form, "note", 600)}
            try:
                amount = _amount(fields["amount"], "amount")
                changed = await store.adjust_credit(name, amount, admin=session.admin.name, note=fields["note"],
                                                    now=time.time())
            except ValueError as err:
                error, status = str(err), 400
            else:
                if changed is not None:
                    log.info("portal: %s changed the balance of %s by %s", session.admin.name, name, amount)
                    await portal.audit(request, session.admin.name, "credit.change", f"{name} {amount:+}")
                    return _done(session, f"Balance of {name} changed by {amount:+} {bal.currency}: now "
                                          f"{changed.balance}.", f"/credit/{urllib.parse.quote(name, safe='')}")
        history, charges = await store.credit_history(name), await store.credit_charges(name)
        return portal.render(request, "credit_account.html", status, title=f"Credit account {name}", bal=bal,
                             history=history, charges=charges, fields=fields, error=error, when=_when)

    page = system
    return [
        Route("/rates", page(list_rates), methods=["GET"]),
        Route("/rates/plans", page(add_plan), methods=["POST"]),
        Route("/rates/plans/{name}", page(plan_page), methods=["GET"]),
        Route("/rates/plans/{name}/{action:str}", page(plan_page), methods=["POST"]),
        Route("/rates/set", page(set_rate), methods=["POST"]),
        Route("/rates/delete", page(delete_rate), methods=["POST"]),
        Route("/rates/import", page(import_page), methods=["GET", "POST"]),
        Route("/rates/export.csv", page(export), methods=["GET"]),
        Route("/credit", page(list_accounts), methods=["GET"]),
        Route("/credit/new", page(add_account), methods=["POST"]),
        Route("/credit/{account}", page(account_page), methods=["GET", "POST"]),
    ]


def _amount(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{field}: {text[:40]!r} is not an amount such as 10.50 or -2") from None
    if not value.is_finite() or abs(value) >= Decimal(10) ** 12:
        raise ValueError(f"{field}: {text[:40]!r} is not an amount such as 10.50 or -2")
    return value


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
