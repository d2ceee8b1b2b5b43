"""Authorization codes (dialplan.authcodes) and the policy with them."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from dialplan import CallContext, GroupPolicy, Mode, Outcome, evaluate, is_exempt
from b2bua.runtime.authcodes import AuthCodeError, AuthCodeStore, AuthCodeTable, describe, hash_code
from tests.conftest import AdminBackend
from dialplan.authcodes import AuthCode, AuthGrant
from dialplan.codes import AccountCode
from dialplan.dialstring import split_auth, without_code
from dialplan.numbering import CallClass, NorthAmericanPlan

SALT = bytes(range(16))
PLAN = NorthAmericanPlan(home_area_code="801")
TODAY = datetime.date(2026, 12, 3)
INTL = "011442071234567"
LONG = "2125551234"


def table() -> AuthCodeTable:
    return AuthCodeTable(SALT, [
        AuthCode(id=1, digest=hash_code("246810", SALT), description="Night manager", level=5,
                 classes=frozenset({CallClass.INTERNATIONAL, CallClass.LONG_DISTANCE})),
        AuthCode(id=2, digest=hash_code("135790", SALT), description="Domestic", level=1,
                 classes=frozenset({CallClass.LONG_DISTANCE})),
        AuthCode(id=3, digest=hash_code("112233", SALT), description="Former staff", level=9, active=False),
    ])


GROUP = GroupPolicy(auth_fac="*77", auth_classes=frozenset({CallClass.INTERNATIONAL}), auth_level=2)


def decide(dialed: str, group: GroupPolicy = GROUP, codes: object = None) -> object:
    return evaluate(CallContext(caller="1001", group=group, dialed=dialed), PLAN, codes or {}, TODAY,
                    auth_codes=table())


def test_hash_is_salted_and_one_way() -> None:
    h = hash_code("246810", SALT)
    assert len(h) == 64 and "246810" not in h
    assert h != hash_code("246810", bytes(16)) and h == hash_code("246810", SALT)
    assert table().find("246810") == table().find("246810") is not None
    assert table().find("246811") is None and table().find("12") is None


def test_split_auth() -> None:
    assert split_auth("*77246810#011442071234567", "*77") == ("246810", "011442071234567")
    assert split_auth("*77246810%23911", "*77") == ("246810", "911")
    assert split_auth("011442071234567", "*77") == (None, "011442071234567")
    assert split_auth("*77246810", "*77") == ("246810", "")
    assert without_code("*77246810#12345**2125551234", auth_fac="*77") == LONG
    assert without_code("*77246810", auth_fac="*77") == "*77***"


def test_required_class_needs_a_code() -> None:
    d = decide(INTL)
    assert (d.outcome, d.status, d.rule) == (Outcome.COLLECT, 403, "auth_code_required")
    assert decide(LONG).allowed  # not a class that needs one


def test_a_good_code_authorizes_and_is_named_by_description() -> None:
    d = decide(f"*77246810#{INTL}")
    assert d.allowed and d.destination.endswith("442071234567")
    assert d.authorization == AuthGrant(description="Night manager", level=5)
    assert d.code is None and "246810" not in d.reason


@pytest.mark.parametrize(
    "dialed,rule,reason",
    [
        (f"*77999999#{INTL}", "invalid_auth_code", "Invalid authorization code"),
        (f"*77112233#{INTL}", "invalid_auth_code", "Invalid authorization code"),  # disabled
        (f"*77135790#{INTL}", "auth_level_too_low", "Authorization code level too low"),
        (f"*77135790#{LONG}", "auth_level_too_low", "Authorization code level too low"),
    ],
)
def test_bad_codes_are_refused(dialed: str, rule: str, reason: str) -> None:
    d = decide(dialed)
    assert (d.outcome, d.status, d.rule, d.reason) == (Outcome.REFUSE, 403, rule, reason)
    assert d.code_rejected is (rule == "invalid_auth_code")


def test_code_classes_limit_what_it_authorizes() -> None:
    low = GroupPolicy(auth_fac="*77", auth_classes=frozenset({CallClass.INTERNATIONAL}))
    d = decide(f"*77135790#{INTL}", low)
    assert (d.rule, d.reason) == ("auth_class_not_allowed", "Authorization code may not make international calls")
    assert decide(f"*77135790#{LONG}", low).authorization == AuthGrant(description="Domestic", level=1)


def test_with_account_codes_and_emergency() -> None:
    group = GroupPolicy(mode=Mode.MANDATORY, auth_fac="*77", auth_classes=frozenset({CallClass.INTERNATIONAL}))
    codes = {"12345": AccountCode(code="12345", name="Acme")}
    d = decide(f"*77246810#12345**{INTL}", group, codes)
    assert d.allowed and d.code == "12345" and d.authorization is not None
    for dialed in ("911", "*77911", "*77999999#911"):
        assert decide(dialed, group).allowed, dialed
        assert is_exempt(CallContext(caller="1001", group=group, dialed=dialed), PLAN)


def test_no_lookup_fails_closed() -> None:
    d = evaluate(CallContext(caller="1001", group=GROUP, dialed=f"*77246810#{INTL}"), PLAN, {}, TODAY)
    assert (d.outcome, d.status) == (Outcome.REFUSE, 503)


def test_store_keeps_only_salted_hashes_and_lists_descriptions(admin_backend: AdminBackend) -> None:
    db = admin_backend.open()
    store = AuthCodeStore(db)
    n = store.add("246810", "Night manager", level=5, classes="international")
    assert store.add("135790", "Domestic") == n + 1
    with pytest.raises(AuthCodeError, match="exists"):
        store.add("246810", "again")
    dump = repr([db.execute(f"SELECT * FROM {t}").fetchall() for t in ("auth_codes", "meta")])
    assert "246810" not in dump and "135790" not in dump and "Night manager" in dump
    table = store.table()
    found = table.find("246810")
    assert found is not None and (found.description, found.level) == ("Night manager", 5)
    store.set_active(n, False)
    assert not store.table().find("246810").active  # type: ignore[union-attr]
    listing = "\n".join(describe(store.list()))
    assert "Night manager" in listing and "246810" not in listing and found.digest not in listing
    assert store.salt() == AuthCodeStore(admin_backend.open()).salt()  # one salt per table, kept


def test_cli_add_list_disable(tmp_path: Path) -> None:
    cfg = tmp_path / "b2bua.toml"
    cfg.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    run = [sys.executable, "-m", "b2bua.runtime.cli", "authcodes"]
    add = subprocess.run([*run, "add", "--config", str(cfg), "--description", "Night manager", "--level", "5"],
                         input="24681012\n", capture_output=True, text=True, check=True)
    assert "24681012" not in add.stdout
    listed = subprocess.run([*run, "list", "--config", str(cfg)], capture_output=True, text=True, check=True)
    assert "Night manager" in listed.stdout and "24681012" not in listed.stdout
    subprocess.run([*run, "disable", "--config", str(cfg), "1"], check=True, capture_output=True)
    listed = subprocess.run([*run, "list", "--config", str(cfg)], capture_output=True, text=True, check=True)
    assert " no " in listed.stdout
