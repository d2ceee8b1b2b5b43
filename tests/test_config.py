"""Configuration decoding: every error names its $.path; the CLI exits 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from b2bua.runtime.config import DEFAULT, ConfigError, load, loads, parse_listen, with_listen
from b2bua.sip.endpoint import Address

ROOT = Path(__file__).resolve().parent.parent


def test_example_file_is_the_default() -> None:
    assert load(ROOT / "examples" / "b2bua.toml") == DEFAULT


def test_defaults_listen_on_loopback_udp_and_tcp() -> None:
    assert DEFAULT.server.addresses == [Address("udp", "127.0.0.1", 5060), Address("tcp", "127.0.0.1", 5060)]


@pytest.mark.parametrize(
    "text, path",
    [
        ("[server]\nlisen = []\n", "$.server"),
        ("[sip]\nt1 = 'fast'\n", "$.sip.t1"),
        ("[sip]\nt1 = -1\n", "$.sip.t1"),
        ("[sip]\nt1 = 5.0\nt2 = 1.0\n", "$.sip"),
        ("[sip]\ntimer_d = 0\n", "$.sip.timer_d"),
        ("[server]\nlisten = ['udp:127.0.0.1']\n", "$.server"),
        ("[server]\nlisten = ['sctp:127.0.0.1:5060']\n", "$.server"),
        ("[server]\nlog_level = 'loud'\n", "$.server.log_level"),
        ("[nonsense]\n", "$"),
    ],
)
def test_errors_name_their_path(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        loads(text, "x.toml")
    assert f"`{path}`" in str(err.value)
    assert str(err.value).startswith("x.toml: ")


def test_bad_toml_is_reported() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        loads("[server\n")


@pytest.mark.parametrize(
    "text, addr",
    [
        ("udp:127.0.0.1:5060", Address("udp", "127.0.0.1", 5060)),
        ("TCP:[::1]:5070", Address("tcp", "::1", 5070)),
        ("udp:0.0.0.0:0", Address("udp", "0.0.0.0", 0)),
    ],
)
def test_parse_listen(text: str, addr: Address) -> None:
    assert parse_listen(text) == addr


@pytest.mark.parametrize("text", ["udp:localhost:5060", "udp:[::1]5060", "udp:1.2.3.4:70000", "1.2.3.4:5060"])
def test_bad_listen(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)
    with pytest.raises(ConfigError, match="--listen"):
        with_listen(DEFAULT, [text])


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_check_config_ok() -> None:
    proc = run_cli("check-config", "examples/b2bua.toml")
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_check_config_broken_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sip]\nt2 = 'x'\n")
    proc = run_cli("check-config", str(bad))
    assert proc.returncode == 2
    assert "$.sip.t2" in proc.stderr


def test_serve_refuses_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 5060\n")
    proc = run_cli("serve", "--config", str(bad))
    assert proc.returncode == 2
    assert "unknown field `port`" in proc.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("check-config", str(tmp_path / "nope.toml"))
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr


def test_office_example_loads() -> None:
    cfg = load(ROOT / "examples" / "office.toml")
    assert [u.extension for u in cfg.users] == ["1001", "1002"]
    assert cfg.trunks[0].dids == {"5551000": "1001"} and cfg.routes[0].trunk == "carrier"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[[users]]\nextension = '1001'\npassword = 'x'\n[[users]]\nextension = '1001'\npassword = 'y'\n", "defined twice"),
        ("[[routes]]\nprefix = '9'\ntrunk = 'nope'\n", "unknown trunk"),
        ("[[trunks]]\nname = 't'\nhost = 'example.com'\n", "must be an IP address"),
        ("[[trunks]]\nname = 't'\nhost = '192.0.2.1'\ninbound = ['300.1.1.1/32']\n", "bad inbound network"),
        ("[[trunks]]\nname = 't'\nhost = '192.0.2.1'\ndids = { '555' = '1009' }\n", "unknown extension"),
        ("[[users]]\nextension = '1x'\npassword = 'x'\n", "$.users[0].extension"),
        ("[sip]\ninvite_challenge = 408\n", "$.sip.invite_challenge"),
    ],
)
def test_bad_users_trunks_routes(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        loads(text)


def test_law_office_example_loads() -> None:
    cfg = load(ROOT / "examples" / "law-office.toml")
    assert set(cfg.groups) == {"default", "lobby"}
    assert cfg.groups["default"].code_length == 5 and cfg.groups["lobby"].mode == "mandatory"
    assert {u.extension: u.account_code for u in cfg.users}["1003"] == "55555"


BILLING = """
[billing]
database = ""
interim_interval = 30
default_rate_plan = "standard"
group_rate_plans = { lobby = "cheap" }

[[billing.rate_plans]]
name = "standard"
rates = [{ prefix = "1212", price_per_minute = 0.10, increment_s = 6, minimum_s = 30, setup = 0.05 }]
class_defaults = { local = { price_per_minute = 0.02 } }

[[billing.rate_plans]]
name = "cheap"
currency = "USD"
"""


def test_billing_section_decodes_rate_plans_exactly() -> None:
    from decimal import Decimal

    cfg = loads(BILLING).billing
    assert cfg.interim_interval == 30 and cfg.credit_chunk == 60
    std = cfg.plans["standard"]
    assert std.rates[0].price_per_minute == Decimal("0.10") and std.rates[0].setup == Decimal("0.05")
    assert std.class_defaults["local"].price_per_minute == Decimal("0.02")
    assert cfg.group_rate_plans == {"lobby": "cheap"} and cfg.plans["cheap"].currency == "USD"


@pytest.mark.parametrize(
    "text, path, words",
    [
        ("[billing]\ninterim_interval = 0\n", "$.billing.interim_interval", ""),
        ("[billing]\ncurrency = 'euro'\n", "$.billing.currency", ""),
        ("[billing]\nrate_plan = 'x'\n", "$.billing", "rate_plan"),
        ("[[billing.rate_plans]]\nname = 'a'\nrates = [{ prefix = '1x', price_per_minute = 1 }]\n",
         "$.billing.rate_plans[0].rates[0]", "prefix"),
        ("[[billing.rate_plans]]\nname = 'a'\nrates = [{ prefix = '1', price_per_minute = -1 }]\n",
         "$.billing.rate_plans[0].rates[0]", "negative"),
        ("[[billing.rate_plans]]\nname = 'a'\n[[billing.rate_plans]]\nname = 'a'\n", "$.billing", "twice"),
        ("[billing]\ntimezone = 'Europe/Pariss'\n", "$.billing", "timezone: 'Europe/Pariss' is not an IANA"),
        ("[billing]\ntimezone = '../../etc/passwd'\n", "$.billing", "timezone:"),
        ("[billing]\ntimezone = ''\n", "$.billing", "timezone:"),
    ],
)
def test_billing_errors_name_their_path(text: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        loads(text, "x.toml")
    assert f"`{path}`" in str(err.value) and words in str(err.value)


def test_billing_timezone_is_utc_unless_named() -> None:
    assert DEFAULT.billing.zone.key == "UTC"
    assert loads("[billing]\ntimezone = 'Europe/Paris'\n").billing.zone.key == "Europe/Paris"


def test_group_rate_plan_for_an_unknown_group_is_an_error() -> None:
    text = BILLING + "\n[groups.default]\nmode = 'off'\n"
    with pytest.raises(ConfigError, match="group 'lobby' is not defined"):
        loads(text)


def test_security_defaults_and_errors() -> None:
    sec = DEFAULT.security
    assert sec.auth_guard and sec.auth_max_failures <= 10 and sec.auth_window >= 600
    with pytest.raises(ConfigError, match=r"\$\.security"):
        loads("[security]\nauth_lockout = 600\nauth_lockout_max = 60\n")


def test_trunk_inbound_trust() -> None:
    base = '[[trunks]]\nname = "pbx"\nhost = "192.0.2.5"\n'
    cfg = loads(base + 'inbound_auth = "digest"\nusername = "u"\npassword = "p"\ninbound_transport = "tcp"\n')
    t = cfg.trunks[0]
    assert (t.inbound_auth, t.inbound_transport, t.allow_transit) == ("digest", "tcp", False)
    with pytest.raises(ConfigError, match="needs username and password"):
        loads(base + 'inbound_auth = "digest"\n')
