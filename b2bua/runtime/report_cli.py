"""``b2bua report`` and ``b2bua cdr export``: call-accounting reports and records
from the billing database, on the command line (``b2bua.billing.reports``).

Days and exported times are those of ``--tz``, else ``[billing] timezone``.  A
report is summed by the database (``BillingStore.record_sums``), as the
portal's; an export reads the records of the days.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from b2bua.billing.cdr import Cdr
    from b2bua.billing.reports import PartSum
    from b2bua.billing.store import BillingStore

    from .cli import SubParsers

EXIT_CONFIG = 2  # as b2bua.runtime.cli: a value on the command line is unusable


def _usage(message: str) -> int:
    print(f"b2bua: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _date_range(args: argparse.Namespace, tz: str) -> tuple[float | None, float | None]:
    from b2bua.billing.reports import date_range

    start, end = date_range(args.from_day, args.to_day, tz)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"--from {args.from_day} is after --to {args.to_day}")
    return start, end


def cmd_report(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from b2bua.billing.records import RecordFilter, utc_offsets
    from b2bua.billing.reports import export_cdrs, export_segments, render_report, totals
    from b2bua.billing.store import BillingStoreError

    from .billing import run_with_billing_store
    from .config import DEFAULT, load

    config = load(args.config) if args.config else DEFAULT
    tzname = args.tz or config.billing.timezone
    try:
        tz = ZoneInfo(tzname)
        start, end = _date_range(args, tzname)
    except (ValueError, ZoneInfoNotFoundError) as err:
        return _usage(f"bad date or time zone: {err}")
    # without dates: every record up to now (and a little after, for clocks ahead)
    offsets = utc_offsets(tz, 0.0 if start is None else start, time.time() + 2 * 86400 if end is None else end)

    async def sums(store: BillingStore) -> list[PartSum]:
        return await store.record_sums(args.by, RecordFilter(), start, end, offsets)

    async def records(store: BillingStore) -> list[Cdr]:
        return await store.query(start_from=start, start_to=end)

    try:
        if args.command == "report":
            parts = run_with_billing_store(config, sums, args.db, args.schema)
            sys.stdout.write(render_report(totals(parts), args.format, args.by))
            return 0
        cdrs = run_with_billing_store(config, records, args.db, args.schema)
    except (BillingStoreError, OSError) as err:
        print(f"b2bua: billing database: {err}", file=sys.stderr)
        return 1
    if getattr(args, "by_segment", False):
        sys.stdout.write(export_segments(cdrs, args.format, tz))
    else:
        sys.stdout.write(export_cdrs(cdrs, args.format, tz))
    return 0


def register(sub: SubParsers) -> None:
    from b2bua.billing.reports import FORMATS, GROUPINGS

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
        q.add_argument("--from", dest="from_day", metavar="YYYY-MM-DD", help="first day (inclusive)")
        q.add_argument("--to", dest="to_day", metavar="YYYY-MM-DD", help="last day (inclusive)")
        q.add_argument("--tz", help="time zone of the days and of exported times (default: [billing] timezone)")
        q.add_argument("--db", metavar="URL", help="billing database (SQLite path or postgresql:// URL) "
                       "instead of the configured one")
        q.add_argument("--schema", help="PostgreSQL schema of the billing tables (with --db)")

    p = sub.add_parser("report", help="calls, duration and cost per account code, department, extension or trunk")
    common(p)
    p.add_argument("--by", choices=sorted(GROUPINGS), default="account-code")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("cdr", help="call detail records")
    acts = p.add_subparsers(dest="action", required=True)
    q = acts.add_parser("export", help="write the records as csv or json (Asterisk field names)")
    common(q)
    q.add_argument("--format", choices=("csv", "json"), default="csv")
    q.add_argument("--by-segment", action="store_true",
                   help="one row per account-code segment (a code changed during the call splits it)")
    q.set_defaults(func=cmd_report)
    from .rates_cli import register as rates

    rates(sub)  # rates, credit
