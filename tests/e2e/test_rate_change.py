"""A rate changed in the billing database while the server runs (``b2bua rates
import`` from another process, as the portal and the API do) prices the next SIPp
call; the call before it keeps the old price.  No restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .test_billing import cli, office, outside_call, records  # noqa: F401  (office: the fixture)
from .test_calls import Rig, settle


def wait_rates(data: Path, newer_than: int, timeout: float = 10.0) -> int:
    """Until the running server's copy of the rates is past version ``newer_than``
    (the status file is rewritten every second)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            version = json.loads((data / "status.json").read_text()).get("rates_version")
        except (OSError, ValueError):
            version = None
        if version is not None and version > newer_than:
            return int(version)
        time.sleep(0.1)
    raise AssertionError(f"the server did not load the rate change in {timeout} s")


def test_the_next_call_is_rated_with_the_new_price(office: Rig, tmp_path: Path) -> None:  # noqa: F811
    before = wait_rates(office.data, -1)  # the configured plans, seeded and loaded
    assert outside_call(office, "6424655") == 0, office.last_uac
    # the local default of plan standard: 0.10 setup + 60 s minimum at 0.02/min = 0.12
    assert [r["cost"] for r in records(office, 1)] == ["0.12"]

    new = tmp_path / "local.csv"
    new.write_text("plan,call_class,price_per_minute,setup,minimum_s\nstandard,local,0.50,0.20,60\n")
    proc = cli(office, "rates", "import", str(new))
    assert proc.returncode == 0 and proc.stdout == "imported 1 rate(s)\n", proc.stderr
    wait_rates(office.data, before)

    assert outside_call(office, "6424656") == 0, office.last_uac
    settle(office)
    found = {r["dst"]: r for r in records(office, 2)}
    # 0.20 setup + 60 s at 0.50/min = 0.70; the earlier call keeps its price
    assert (found["6424656"]["cost"], found["6424656"]["billable"]) == ("0.70", 60), found["6424656"]
    assert found["6424655"]["cost"] == "0.12"
