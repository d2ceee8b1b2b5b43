"""A prepaid call whose account code changes during the call to a code of another
credit account, end to end: SIPp places the call with code 40404 (account
``wallet``) in the dial string, an INFO with the account-code package then gives
code 50505 (account ``other``, another rate plan); the new account reserves the rest
of the call, the old one is charged for the time until the change.  Both balances
after hang-up are worked out by hand from the record's segments."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Iterator

import pytest

from .server import free_port, wait_codes
from .sipp import SIPP, Sipp, sipp_args
from .test_billing import records
from .test_calls import OFFICE, Rig, settle
from .test_credit import cli

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

MOVING = OFFICE + """

[billing]
credit_chunk = 10

[[billing.rate_plans]]
name = "prepaid"
class_defaults = { long_distance = { price_per_minute = 0.60, increment_s = 1, setup = 0.05 } }

[[billing.rate_plans]]
name = "premium"
class_defaults = { long_distance = { price_per_minute = 1.20, increment_s = 6, minimum_s = 30, setup = 0.10 } }
"""


def balance(rig: Rig, account: str) -> tuple[Decimal, Decimal]:
    out = cli(rig, "credit", "balance", account)
    assert out.returncode == 0, out.stderr
    words = out.stdout.replace(",", " ").split()
    return Decimal(words[words.index("balance") + 1]), Decimal(words[words.index("reserved") + 1])


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, extra=MOVING, carrier_port=free_port())
    for args in (("credit", "create", "wallet", "1.00"), ("credit", "create", "other", "2.00"),
                 ("codes", "add", "40404", "--credit-account", "wallet", "--rate-plan", "prepaid"),
                 ("codes", "add", "50505", "--credit-account", "other", "--rate-plan", "premium")):
        proc = cli(rig, *args)
        assert proc.returncode == 0, proc.stderr
    wait_codes(rig.data, count=2)
    yield rig
    rig.close()


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_a_code_of_another_credit_account_moves_the_prepaid_call(rig: Rig) -> None:
    far = rig.uas("uas.xml", rig.carrier_port, extra=("-trace_msg",))
    phone = Sipp(sipp_args(
        "uac_code_move.xml", rig.target, port=free_port(), service="40404**2125551234", user="1001",
        password="pw1001", variables={"caller": "1001", "code": "50505"}, extra=("-d", "3000"),
    ), rig.tmp, "phone")
    rig.procs.append(phone)
    assert phone.wait(60) == 0, phone.output() + rig.server.output()[-3000:]
    assert far.wait(30) == 0, far.output()
    settle(rig)
    (rec,) = records(rig, 1)
    first, second = rec["code_changes"]
    assert (first["accountcode"], second["accountcode"], second["code_source"]) == ("40404", "50505", "info_package")
    assert (first["rate_plan"], second["rate_plan"]) == ("prepaid", "premium")
    # by hand: the first segment at 0.60/min by the second plus the 0.05 setup; the
    # second at 1.20/min by 6 s steps, without setup or minimum (a later segment)
    s1 = math.ceil(Decimal(str(first["billsec"])))
    s2 = math.ceil(Decimal(str(second["billsec"])) / 6) * 6
    cost1 = money(Decimal("0.05") + s1 * Decimal("0.60") / 60)
    cost2 = money(s2 * Decimal("1.20") / 60)
    assert 0.8 <= first["billsec"] <= 2.5 and 2.0 <= second["billsec"] <= 4.5, rec
    assert (first["billable"], Decimal(first["cost"])) == (s1, cost1), first
    assert (second["billable"], Decimal(second["cost"])) == (s2, cost2), second
    assert Decimal(rec["cost"]) == cost1 + cost2
    # each account paid its own segment; nothing is left reserved
    assert balance(rig, "wallet") == (Decimal("1.00") - cost1, Decimal(0))
    assert balance(rig, "other") == (Decimal("2.00") - cost2, Decimal(0))
    log = rig.server.output()
    assert "credit moved to account other" in log
    # the far end saw the call and its end, nothing of the code
    (trace,) = rig.tmp.glob("uas_*_messages.log")
    assert "INFO sip:" not in trace.read_text(errors="replace")
