"""``b2bua rates`` and ``b2bua credit``: rate plans, rates and credit accounts in the
billing database, from the command line (the portal and the API do the same).

A running server applies a change to its next call (``b2bua.runtime.rates``); a
credit change is recorded in the account's history as made by ``cli``.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Awaitable, Callable

if TYPE_CHECKING:
    from b2bua.billing.credit import Balance
    from b2bua.billing.store import BillingStore

    from .cli import SubParsers
    from .config import Config

EXIT_CONFIG = 2  # as b2bua.runtime.cli: a value on the command line is unusable
CLI_ADMIN = "cli"  # who made a credit change from the command line
MAX_IMPORT_BYTES = 64 * 1024 * 1024  # a rates file larger than this is refused


def _run(args: argparse.Namespace, work: Callable[[BillingStore], Awaitable[Any]]) -> Any:
    """``work(store)``, the configured plans the database lacks inserted first (as the
    server does at start), so the command sees what a server would rate with."""
    from .billing import run_with_billing_store

    config = _config(args)

    async def seeded(store: BillingStore) -> Any:
        await store.seed_rate_plans(config.billing.rate_plans, time.time())
        return await work(store)

    return run_with_billing_store(config, seeded, getattr(args, "db", None), getattr(args, "schema", None))


def _config(args: argparse.Namespace) -> Config:
    from .config import DEFAULT, load

    return load(args.config) if args.config else DEFAULT


def _audit(args: argparse.Namespace, action: str, obj: str) -> None:
    """An audit-log entry of this command's change, in the administrative database;
    the change (in the billing database) stands when it cannot be written."""
    import sqlite3

    import psycopg

    from .audit import NOT_AUDITED, note_cli
    from .store import StoreError

    try:
        note_cli(_config(args).server, action, obj)
    except (StoreError, sqlite3.Error, psycopg.Error, OSError) as err:
        print(f"b2bua: {NOT_AUDITED} ({err})", file=sys.stderr)


def _check_unused(args: argparse.Namespace, name: str) -> None:
    """Refuse (RatingError) to delete a plan an account code or the configuration names."""
    from .admin_db import open_admin_db
    from .plan_rules import check_unused

    config = _config(args)
    db = open_admin_db(config.server)
    try:
        check_unused(db, config, name)
    finally:
        db.close()


def _fail(message: str, code: int = 1) -> int:
    print(f"b2bua: {message}", file=sys.stderr)
    return code


def _guarded(args: argparse.Namespace, work: Callable[[BillingStore], Awaitable[int]]) -> int:
    """Run ``work``; a refused value or an unreachable database is one line on stderr."""
    from b2bua.billing.rating import RatingError
    from b2bua.billing.store import BillingStoreError

    try:
        return int(_run(args, work))
    except (RatingError, ValueError, TypeError) as err:
        return _fail(str(err), EXIT_CONFIG)
    except (BillingStoreError, OSError) as err:
        return _fail(f"billing database: {err}")


def cmd_rates(args: argparse.Namespace) -> int:
    from b2bua.billing.rating import RatePlan, RatingError
    from b2bua.billing.tariffs import check_plan_name, export_rates_csv, parse_rates_csv

    async def work(store: BillingStore) -> int:
        if args.action == "list":
            if not args.plan:
                for p in await store.rate_plan_infos():
                    print(f"{p.name}\t{p.currency}\t{p.rates} rate(s)")
                return 0
            _, rows = await store.search_rates(args.plan, args.search, offset=0, limit=args.limit)
            sys.stdout.write(export_rates_csv(rows))
            return 0
        if args.action == "export":
            sys.stdout.write(export_rates_csv(await store.export_rates(args.plan)))
            return 0
        if args.action == "add-plan":
            RatePlan(name=args.name, currency=args.currency)  # checks the currency
            await store.save_rate_plan(check_plan_name(args.name), args.currency, time.time(), create=True)
            _audit(args, "plan.add", args.name)
            print(f"rate plan {args.name} added")
            return 0
        if args.action == "set-currency":
            from .plan_rules import REINTERPRETED, check_currency_change

            plan = {p.name: p for p in await store.rate_plan_infos()}.get(args.name)
            if plan is None:
                raise RatingError(f"name: no rate plan {args.name!r}")
            RatePlan(name=args.name, currency=args.currency)  # checks the currency
            check_currency_change(plan.currency, args.currency, plan.rates, args.yes)
            await store.save_rate_plan(args.name, args.currency, time.time(), create=False)
            _audit(args, "plan.change", f"{args.name} {args.currency}")
            print(f"rate plan {args.name}: {args.currency} from the next call on. {REINTERPRETED}")
            return 0
        if args.action == "remove-plan":
            _check_unused(args, args.name)
            if not await store.delete_rate_plan(args.name):
                raise RatingError(f"name: no rate plan {args.name!r}")
            _audit(args, "plan.remove", args.name)
            print(f"rate plan {args.name} removed with its rates")
            return 0
        with open(args.file, "rb") as f:  # import
            data = f.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise ValueError(f"file: larger than {MAX_IMPORT_BYTES} bytes")
        known = {p.name for p in await store.rate_plan_infos()}
        rows, errors = parse_rates_csv(data.decode("utf-8-sig"), plans=known)
        if errors:
            for e in errors:
                print(f"{args.file}: {e}", file=sys.stderr)
            return _fail(f"nothing imported: {len(errors)} bad row(s)")
        n = await store.import_rates(rows, replace=args.replace)
        _audit(args, "rates.import", f"{n} rates")
        print(f"imported {n} rate(s)")
        return 0

    return _guarded(args, work)


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"amount: {text!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"amount: {text!r} is not a number")
    return amount


def cmd_credit(args: argparse.Namespace) -> int:
    try:
        amount = _amount(args.amount)
    except ValueError as err:
        return _fail(str(err), EXIT_CONFIG)
    if args.action == "create" and amount is not None and amount < 0:
        return _fail("amount: an account cannot start with a negative balance", EXIT_CONFIG)
    currency = args.currency or _config(args).billing.currency

    async def work(store: BillingStore) -> int:
        if args.action == "list":
            total, accounts = await store.credit_accounts(args.search, limit=args.limit)
            for b in accounts:
                print(f"{b.account}\t{b.currency}\tbalance {b.balance}\treserved {b.reserved}\tavailable {b.available}")
            if total > len(accounts):
                print(f"... {total - len(accounts)} more (--limit)", file=sys.stderr)
            return 0
        if args.action == "history":
            for t in await store.credit_history(args.account, args.limit):
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t.at))
                print(f"{when}Z\t{t.amount:+} {t.currency}\tbalance {t.balance_after}\t{t.admin}\t{t.note}")
            return 0
        bal: Balance | None
        if args.action == "create":
            bal = await store.create_account(args.account, currency, amount or Decimal(0), admin=CLI_ADMIN,
                                             now=time.time())
        elif args.action == "topup":
            assert amount is not None
            bal = await store.adjust_credit(args.account, amount, admin=CLI_ADMIN, note=args.note, now=time.time())
        else:
            bal = await store.balance(args.account)
        if bal is None:
            return _fail(f"no credit account {args.account!r}")
        if args.action == "create":
            _audit(args, "credit.create", args.account)
        elif args.action == "topup":
            _audit(args, "credit.change", f"{args.account} {amount:+}")
        print(f"{bal.account}: balance {bal.balance} {bal.currency}, reserved {bal.reserved}, available {bal.available}")
        return 0

    return _guarded(args, work)


def _common(q: argparse.ArgumentParser) -> None:
    q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    q.add_argument("--db", metavar="URL", help="billing database (SQLite path or postgresql:// URL) "
                   "instead of the configured one")
    q.add_argument("--schema", help="PostgreSQL schema of the billing tables (with --db)")


def register(sub: SubParsers) -> None:
    """Add ``rates`` and ``credit`` to the command line."""
    p = sub.add_parser("rates", help="rate plans and rates in the billing database (effective on the next call)")
    acts = p.add_subparsers(dest="action", required=True)
    q = acts.add_parser("list", help="the plans, or the rates of one plan (--plan) as CSV")
    q.add_argument("--plan", default="")
    q.add_argument("--search", default="", help="prefix, call class or words of the description")
    q.add_argument("--limit", type=int, default=1000)
    q = acts.add_parser("import", help="import rates from a CSV file (see README); a bad row imports nothing")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--replace", action="store_true", help="the plans in the file lose their other rates")
    q = acts.add_parser("export", help="write the rates (of --plan, else all) as CSV")
    q.add_argument("--plan", default="")
    q = acts.add_parser("add-plan", help="add an empty rate plan")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")
    q = acts.add_parser("remove-plan", help="remove a rate plan and its rates (refused while a code or the "
                        "configuration names it)")
    q.add_argument("name", metavar="NAME")
    q = acts.add_parser("set-currency", help="change a plan's currency (its prices are kept as numbers)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("currency", metavar="CURRENCY", help="ISO 4217 code")
    q.add_argument("--yes", action="store_true", help="confirm: the plan's prices are read in the new currency")
    for q in acts.choices.values():
        _common(q)
    p.set_defaults(func=cmd_rates)

    p = sub.add_parser("credit", help="prepaid credit accounts")
    acts = p.add_subparsers(dest="action", required=True)
    for name, text in (("create", "create an account [with a starting balance]"),
                       ("topup", "add AMOUNT (negative: a correction) with a --note, recorded in the history"),
                       ("balance", "show the balance"), ("history", "the account's top-ups and corrections"),
                       ("list", "every account: balance, reserved, available")):
        q = acts.add_parser(name, help=text)
        _common(q)
        q.set_defaults(amount=None, currency=None, account=None)
        if name != "list":
            q.add_argument("account", metavar="ACCOUNT")
        if name in ("create", "topup"):
            q.add_argument("amount", metavar="AMOUNT", nargs="?" if name == "create" else None)
        if name == "create":
            q.add_argument("--currency", help="ISO 4217 code (default: [billing] currency)")
        if name == "topup":
            q.add_argument("--note", required=True, help="why the balance changes (kept in the history)")
        if name in ("list", "history"):
            q.add_argument("--limit", type=int, default=100)
        if name == "list":
            q.add_argument("--search", default="", help="part of the account's name")
    p.set_defaults(func=cmd_credit)
