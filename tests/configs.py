"""Pieces of the test offices' configuration (TOML), put together by each test
module as it needs: ``{data}`` stands for the data folder, filled in by
:func:`write_config` (or by tests.web.client.Office for a running server)."""

from __future__ import annotations

from pathlib import Path

SERVER = '[server]\ndata_dir = "{data}"\n'

GROUPS = """
[groups.default]
mode = "optional"
[groups.sales]
mode = "optional"
"""

# 1001 in group default, 1002 in sales (the last table: a module may add keys of 1002's)
USERS = """
[[users]]
extension = "1001"
password = "pw1001"
[[users]]
extension = "1002"
password = "pw1002"
group = "sales"
"""


def rate_plan(name: str, prefix: str, price_per_minute: str, currency: str = "EUR") -> str:
    """A rate plan of one rate, seeded into the billing database."""
    return (f'[[billing.rate_plans]]\nname = "{name}"\ncurrency = "{currency}"\n'
            f'[[billing.rate_plans.rates]]\nprefix = "{prefix}"\nprice_per_minute = "{price_per_minute}"\n')


def write_config(tmp: Path, config: str) -> Path:
    """``config`` with its data folder ``tmp/data``, written to ``tmp/b2bua.toml``."""
    path = tmp / "b2bua.toml"
    path.write_text(config.format(data=tmp / "data"))
    return path
