"""Choosing a billing backend by URL (``open_billing_store``).

Kept apart from ``b2bua.billing.store`` (the interface both backends implement),
so that the backends import the interface and only this module imports them.
"""

from __future__ import annotations

from typing import Any

from b2bua.billing.postgres import PostgresStore
from b2bua.billing.sqlite import SqliteStore
from b2bua.billing.store import BillingStore


def open_billing_store(url: str, **options: Any) -> BillingStore:
    """A store for ``url`` (not yet opened): ``postgresql://``/``postgres://`` URLs use
    PostgreSQL (``schema=`` sets the search path), anything else is a SQLite path
    (``sqlite:///abs/path.db``, ``sqlite:rel/path.db`` or a plain path)."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, **options)
    return SqliteStore(url, **options)
