"""Bulk billing records for the record-search tests: a table emptied, or filled
with many copies of one record by the database itself (fast: no Python per row)."""

from __future__ import annotations

import sqlite3

import asyncpg

from b2bua.billing.postgres import quote_ident
from b2bua.billing.store import COLUMN_NAMES

from .conftest import Backend


async def _execute(backend: Backend, sql: str) -> None:
    if backend.name == "sqlite":
        db = sqlite3.connect(backend.url)
        try:
            with db:
                db.execute(sql)
        finally:
            db.close()
        return
    con = await asyncpg.connect(backend.url)
    try:
        await con.execute(f"SET search_path TO {quote_ident(backend.options['schema'])}")
        await con.execute(sql)
    finally:
        await con.close()


async def clear(backend: Backend) -> None:
    await _execute(backend, "DELETE FROM cdr")


async def copies(backend: Backend, template: str, n: int, start: float, step: float) -> None:
    """``n`` copies of record ``template``: refs ``g1``..``gn``, a start every ``step``
    seconds from ``start``, ten business groups ``grp0``..``grp9`` and 500 callers."""
    series = ("generate_series(1, {n}) AS n(i)" if backend.name == "postgresql" else
              "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s) n")
    values = {
        "ref": "'g' || n.i", "start_time": f"{start} + n.i * {step}", "business_group": "'grp' || (n.i % 10)",
        "caller": "'' || (1000 + n.i % 500)",
    }
    cols = ", ".join(COLUMN_NAMES)
    select = ", ".join(values.get(c, f"t.{c}") for c in COLUMN_NAMES)
    await _execute(backend, f"INSERT INTO cdr ({cols}) SELECT {select} FROM cdr t, {series.format(n=int(n))}"
                            f" WHERE t.ref = '{template}'")
