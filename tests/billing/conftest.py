"""Billing store fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL: ``B2BUA_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets a fresh schema with a random name (the store's ``search_path``),
dropped afterwards.  When no server answers there, the PostgreSQL variants are
skipped with a message that says so; the SQLite ones still run.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import asyncpg
import pytest

from b2bua.billing.postgres import quote_ident
from b2bua.billing.backends import open_billing_store
from b2bua.billing.store import BillingStore

PG_URLS = [os.environ["B2BUA_TEST_POSTGRES"]] if "B2BUA_TEST_POSTGRES" in os.environ else [
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
]
_pg: dict[str, str | None] = {}


async def postgres_url() -> str | None:
    """The first PostgreSQL URL that accepts a connection (checked once per run)."""
    if "url" not in _pg:
        _pg["url"] = None
        for url in PG_URLS:
            try:
                con = await asyncpg.connect(url, timeout=3)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                continue
            await con.close()
            _pg["url"] = url
            break
    return _pg["url"]


@dataclass
class Backend:
    """How to reach one test database; ``store()`` gives a new, unopened store
    (two stores on one backend behave like two server processes)."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def store(self) -> BillingStore:
        return open_billing_store(self.url, **self.options)


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "billing.sqlite3"))
        return
    url = await postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL not reachable at {' or '.join(PG_URLS)}: PostgreSQL variant skipped")
    schema = f"b2bua_test_{secrets.token_hex(6)}"
    yield Backend("postgresql", url, {"schema": schema})
    con = await asyncpg.connect(url)
    try:
        await con.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
    finally:
        await con.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[BillingStore]:
    s = backend.store()
    await s.open()
    yield s
    await s.close()
