"""The administrative database of the store tests: each runs on SQLite and on PostgreSQL.

PostgreSQL: ``B2BUA_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets a fresh schema with a random name (the URL's ``search_path``), dropped
afterwards.  When no server answers there, the PostgreSQL variants are skipped with a
message that says so; the SQLite ones still run.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from b2bua.runtime.admin_db import AdminDb, open_admin_db
from b2bua.runtime.config import ServerConfig

PG_URLS = [os.environ["B2BUA_TEST_POSTGRES"]] if "B2BUA_TEST_POSTGRES" in os.environ else [
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
]
_pg: dict[str, str | None] = {}


def postgres_url() -> str | None:
    """The first PostgreSQL URL that accepts a connection (checked once per run)."""
    if "url" not in _pg:
        _pg["url"] = None
        for url in PG_URLS:
            try:
                psycopg.connect(url, connect_timeout=3).close()
            except psycopg.Error:
                continue
            _pg["url"] = url
            break
    return _pg["url"]


def in_schema(url: str, schema: str) -> str:
    """``url`` with its connections' ``search_path`` set to ``schema``."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def fresh_schema() -> Iterator[str]:
    """A PostgreSQL URL whose tables go to a new schema of their own (skips without PostgreSQL)."""
    url = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL not reachable at {' or '.join(PG_URLS)}: PostgreSQL variant skipped")
    schema = f"b2bua_admin_test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    yield in_schema(url, schema)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@dataclass
class AdminBackend:
    """One test database; ``open()`` is a new connection to it (as another process's)."""

    name: str
    server: ServerConfig
    opened: list[AdminDb] = field(default_factory=list)

    def open(self) -> AdminDb:
        db = open_admin_db(self.server)
        self.opened.append(db)
        return db

    def close(self) -> None:
        for db in self.opened:
            db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def admin_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AdminBackend]:
    if request.param == "sqlite":
        backend = AdminBackend("sqlite", ServerConfig(data_dir=str(tmp_path)))
    else:
        url = request.getfixturevalue("fresh_schema")
        backend = AdminBackend("postgresql", ServerConfig(data_dir=str(tmp_path), database=url))
    yield backend
    backend.close()
