"""Record search and a yearly report on a large SQLite billing database: the
database's own search and sums against reading every record of the year into
Python (how the portal worked before ``b2bua.billing.record_sql``).

Run:  .venv/bin/python bench/records_sql.py [--records N] [--db FILE] [--skip-python]

A database of ``--records`` closed records over one year (default 1,000,000;
made once by SQLite itself from one template record, then reused: 200 account
codes, 10 business groups, 500 extensions, one call in five unanswered, one in
fifty split between two codes) is searched and summed, each timed once:

* search: the first page of 50 (newest first) with its capped count, then a page
  further on (a cursor in the middle of the year), then one group's first page;
* report: the year by account code, per day and code (``record_sums``);
* the same through Python, unless ``--skip-python``: ``BillingStore.query`` of the
  year, then ``records.search`` and ``reports.summarize`` + ``records.daily``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import time
from datetime import datetime, timezone
from decimal import Decimal

from b2bua.billing.cdr import Cdr, CdrClosed, CodeChange
from b2bua.billing.record_sql import MAX_COUNT
from b2bua.billing.records import Cursor, RecordFilter, RecordQuery, daily, search, utc_offsets
from b2bua.billing.reports import summarize
from b2bua.billing.sqlite import SqliteStore
from b2bua.billing.store import COLUMN_NAMES
from dialplan import CodeSource

YEAR = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
END = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


def template() -> Cdr:
    changes = (CodeChange(at=YEAR + 2, account_code="10001", code_source=CodeSource.PROMPT, code_valid=True,
                          duration=30.0, cost=Decimal("0.30")),
               CodeChange(at=YEAR + 32, account_code="10002", code_source=CodeSource.PORTAL, code_valid=True,
                          duration=30.5, cost=Decimal("0.31")))
    return Cdr(ref="tpl", seq=1, caller="1000", caller_user="1000", department="Sales", group="grp0",
               dialed="0044207946000", destination="+44207946000", route="trunk:carrier", account_code="10002",
               code_changes=changes, start=YEAR, answer=YEAR + 2, end=YEAR + 62.5, duration=60.5,
               cost=Decimal("0.61"), currency="EUR", status=200)


def build(path: str, n: int) -> None:
    async def first() -> None:
        store = SqliteStore(path)
        await store.open()
        await store.apply([CdrClosed(template())])
        await store.close()

    asyncio.run(first())
    step = (END - YEAR) / n
    values = {
        "ref": "'g' || i", "start_time": f"{YEAR} + i * {step}", "business_group": "'grp' || (i % 10)",
        "caller": "'' || (1000 + i % 500)", "account_code": "'' || (10000 + i % 200)",
        "answer_time": f"CASE WHEN i % 5 = 0 THEN NULL ELSE {YEAR} + i * {step} + 2 END",
        "status": "CASE WHEN i % 5 = 0 THEN 486 ELSE 200 END",
        "duration": "CASE WHEN i % 5 = 0 THEN 0.0 ELSE (i % 600) + 0.5 END",
        "code_changes": "CASE WHEN i % 50 = 1 THEN t.code_changes ELSE '[]' END",
    }
    cols = ", ".join(COLUMN_NAMES)
    select = ", ".join(values.get(c, f"t.{c}") for c in COLUMN_NAMES)
    db = sqlite3.connect(path)
    with db:
        db.execute(f"INSERT INTO cdr ({cols}) SELECT {select} FROM cdr t,"
                   f" (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s)"
                   " WHERE t.ref = 'tpl'")
        db.execute("DELETE FROM cdr WHERE ref = 'tpl'")
    db.close()


def timed(label: str, t0: float) -> float:
    print(f"  {label:<58} {time.perf_counter() - t0:8.3f} s")
    return time.perf_counter()


async def run(path: str, skip_python: bool) -> None:
    store = SqliteStore(path)
    await store.open()
    q = RecordQuery(start_from=YEAR, start_to=END, limit=50)
    print("in SQL:")
    t = time.perf_counter()
    page = await store.search_records(q)
    found = await store.count_records(q, MAX_COUNT)
    t = timed(f"search, first page of 50 (count capped: {found})", t)
    middle = page[-1].start - (END - YEAR) / 2
    mid = await store.search_records(RecordQuery(start_from=YEAR, start_to=END, limit=50,
                                                 after=Cursor(middle, "~", 1)))
    t = timed(f"search, a page in the middle of the year ({len(mid)} records)", t)
    await store.search_records(RecordQuery(filter=RecordFilter(groups=("grp3",)), start_from=YEAR, start_to=END))
    t = timed("search, one group's first page", t)
    parts = await store.record_sums("account-code", RecordFilter(), YEAR, END, utc_offsets(timezone.utc, YEAR, END))
    timed(f"report by account code, the year ({len(parts)} day/code sums)", t)
    if not skip_python:
        print("in Python (the year read into memory):")
        t = time.perf_counter()
        cdrs = await store.query(start_from=YEAR, start_to=END)
        t = timed(f"read the year ({len(cdrs)} records)", t)
        search(cdrs, RecordFilter(), 0, 50)
        t = timed("search, first page of 50 (records already read)", t)
        summarize(cdrs, "account-code")
        daily(cdrs, "account-code")
        timed("report by account code (records already read)", t)
    await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--db", default="/tmp/b2bua-records-bench.sqlite3")
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.db):
        t = time.perf_counter()
        build(args.db, args.records)
        timed(f"built {args.db} ({args.records} records)", t)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
          f" SQLite {sqlite3.sqlite_version}")
    asyncio.run(run(args.db, args.skip_python))


if __name__ == "__main__":
    main()
