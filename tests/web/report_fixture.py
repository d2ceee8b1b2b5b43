"""Billing records for the report and record tests, written through the billing
store's own API into the server's billing database."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from b2bua.billing.cdr import Cdr, CdrClosed, CodeChange
from b2bua.billing.rating import Rate
from b2bua.billing.sqlite import SqliteStore
from b2bua.runtime.billing import SQLITE_FILE
from dialplan import CodeSource

from .client import Office, running_office

D = Decimal
MAY1 = datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp()
RATE = Rate(price_per_minute=D("0.60"))


def record(ref: str, *, day: int, group: str, code: str, talk: float | None, cost: str, caller: str = "1001",
           dept: str = "Litigation", changes: tuple[CodeChange, ...] = (), dialed: str = "0044207946000") -> Cdr:
    start = MAY1 + (day - 1) * 86400 + 9 * 3600 + int(ref[-1:] or 0)
    answer = start + 5 if talk is not None else None
    return Cdr(
        ref=ref, seq=3, caller=caller, caller_user=caller, department=dept, group=group, dialed=dialed,
        destination="+" + dialed.lstrip("0"), call_class="international", route="trunk:carrier", account_code=code,
        code_valid=True, code_source=CodeSource.SHORTCUT, code_changes=changes, start=start, answer=answer,
        end=(answer + talk) if answer is not None and talk is not None else start + 20, duration=talk or 0.0,
        billable=int(talk or 0), cost=D(cost), currency="EUR", rate=RATE, status=200 if talk else 486,
        cause="", hangup="caller", a_call_id=f"a-{ref}", b_call_id=f"b-{ref}",
    )


def split_record(ref: str, day: int, group: str) -> Cdr:
    """A call answered under 12345 whose code became 777 after 60 s (set from the portal)."""
    r = record(ref, day=day, group=group, code="777", talk=120.0, cost="1.20")
    assert r.answer is not None
    changes = (
        CodeChange(at=r.answer, account_code="12345", code_source=CodeSource.SHORTCUT, code_valid=True, rate_plan="p",
                   duration=60.0, billable=60, cost=D("0.60")),
        CodeChange(at=r.answer + 60, account_code="777", code_source=CodeSource.PORTAL, code_valid=True, set_by="root",
                   rate_plan="p", duration=60.0, billable=60, cost=D("0.60")),
    )
    return Cdr(**{**{f: getattr(r, f) for f in r.__struct_fields__}, "code_changes": changes})


RECORDS = [
    record("r1", day=1, group="default", code="12345", talk=60.0, cost="0.60"),
    record("r2", day=1, group="default", code="777", talk=30.0, cost="0.30", dept="Tax"),
    record("r3", day=2, group="default", code="12345", talk=None, cost="0"),
    record("r4", day=2, group="sales", code="555", talk=90.0, cost="0.90", caller="2001", dept="=HYPERLINK(1)"),
    split_record("r5", 3, "default"),
    record("r6", day=3, group="default", code="777", talk=6.0, cost="0.06", dept="<b>Tax</b>"),
]


def write_records(data: Path, records: list[Cdr] = RECORDS) -> None:
    async def work() -> None:
        store = SqliteStore(str(data / SQLITE_FILE))
        await store.open()
        try:
            await store.apply([CdrClosed(c) for c in records])
        finally:
            await store.close()

    # a thread of its own: under Playwright's sync API this thread's loop counts as running
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work()).result()


def office_with_records(tmp: Path, config: str) -> Iterator[Office]:
    """A module fixture's body: the running office with ``RECORDS`` in its billing database."""
    for office in running_office(tmp, config):
        write_records(office.data)
        yield office
