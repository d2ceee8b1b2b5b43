"""The rates and credit JSON API against the real server: system-administrator
tokens only, plans seeded from the configuration, CSV import refused whole with
line-numbered errors, top-ups with a note recorded under the token's name."""

from __future__ import annotations

import urllib.error
import urllib.request
from tests.configs import GROUPS, SERVER, rate_plan

from .client import Office, call, make_token, office_fixture, token_fixture

BILLING = '[billing]\ndefault_rate_plan = "office"\n' + rate_plan("office", "1", "0.02")
CONFIG = SERVER + GROUPS + BILLING

office = office_fixture("rates-api", CONFIG)
token = token_fixture("finance")


def post_csv(office: Office, token: str, text: str, query: str = "") -> tuple[int, str]:
    req = urllib.request.Request(office.url + "/api/v1/rates/import" + query, data=text.encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    try:
        resp = urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as err:
        resp = err
    return resp.status, resp.read().decode()


def test_a_group_token_gets_nothing(office: Office) -> None:
    sales = make_token(office, "sales-rates", "sales")
    for method, path in (("GET", "/api/v1/rate-plans"), ("GET", "/api/v1/rates"), ("GET", "/api/v1/credit-accounts")):
        status, body = call(office, method, path, sales)
        assert status == 403 and "system administrators" in body["error"]
    assert call(office, "POST", "/api/v1/credit-accounts", sales, {"account": "x"})[0] == 403


def test_plans_and_rates(office: Office, token: str) -> None:
    status, plans = call(office, "GET", "/api/v1/rate-plans", token)
    assert status == 200 and plans == [{"name": "office", "currency": "EUR", "rates": 1}]  # seeded
    assert call(office, "POST", "/api/v1/rate-plans", token, {"name": "intl", "currency": "USD"})[0] == 201
    assert call(office, "POST", "/api/v1/rate-plans", token, {"name": "intl"})[0] == 409
    status, err = call(office, "POST", "/api/v1/rate-plans", token, {"name": "a b"})
    assert status == 422 and err["field"] == "name"
    status, body = post_csv(office, token, "plan,prefix,price_per_minute\nintl,44,0.10\nintl,44x,0.1\nnope,1,1\n")
    assert status == 422 and '"line 3: prefix: malformed prefix' in body and "line 4: plan: no rate plan 'nope'" in body
    assert call(office, "GET", "/api/v1/rates?plan=intl", token)[1] == {"total": 0, "items": []}  # nothing imported
    rows = "".join(f"intl,{4400 + i},0.0{i % 10},,route {i}\n" for i in range(300))
    status, body = post_csv(office, token, "plan,prefix,price_per_minute,setup,description\n" + rows)
    assert (status, body) == (200, '{"imported":300}')
    status, page = call(office, "GET", "/api/v1/rates?plan=intl&q=440&limit=5", token)  # 4400..4409
    assert status == 200 and page["total"] == 10 and len(page["items"]) == 5 and page["items"][1] == {
        "plan": "intl", "prefix": "4401", "call_class": "", "price_per_minute": "0.01", "setup": "0",
        "minimum_s": 0, "increment_s": 1, "description": "route 1"}
    status, err = call(office, "POST", "/api/v1/rates", token, {"plan": "intl", "prefix": "33", "price_per_minute": "x"})
    assert status == 422 and err["field"] == "price_per_minute"
    status, err = call(office, "POST", "/api/v1/rates", token, {"plan": "intl", "price_per_minute": "1"})
    assert status == 422 and err["field"] == "prefix"
    status, rate = call(office, "POST", "/api/v1/rates", token,
                        {"plan": "intl", "call_class": "international", "price_per_minute": "0.5"})
    assert status == 200 and rate["call_class"] == "international"
    status, err = call(office, "GET", "/api/v1/rates?limit=0", token)
    assert (status, err["field"]) == (422, "limit")


def test_credit_accounts_and_topups(office: Office, token: str) -> None:
    status, acct = call(office, "POST", "/api/v1/credit-accounts", token, {"account": "acme", "balance": "5.00"})
    assert status == 201 and acct == {"account": "acme", "currency": "EUR", "balance": "5.00", "reserved": "0.00",
                                      "available": "5.00"}
    assert call(office, "POST", "/api/v1/credit-accounts", token, {"account": "acme"})[0] == 409
    status, err = call(office, "POST", "/api/v1/credit-accounts/acme/topups", token, {"amount": "10"})
    assert status == 422 and err["field"] == "note"
    status, acct = call(office, "POST", "/api/v1/credit-accounts/acme/topups", token,
                        {"amount": "10.50", "note": "invoice <17>"})
    assert status == 200 and acct["balance"] == "15.50"
    status, err = call(office, "POST", "/api/v1/credit-accounts/acme/topups", token, {"amount": "-20", "note": "x"})
    assert status == 422 and err["field"] == "amount" and "below its reserved credit" in err["error"]
    status, err = call(office, "POST", "/api/v1/credit-accounts/acme/topups", token, {"amount": "0.001", "note": "x"})
    assert status == 422 and err["field"] == "amount"
    assert call(office, "POST", "/api/v1/credit-accounts/ghost/topups", token, {"amount": "1", "note": "x"})[0] == 404
    status, detail = call(office, "GET", "/api/v1/credit-accounts/acme", token)
    assert status == 200 and [(h["amount"], h["balance_after"], h["admin"], h["note"], h["opening"])
                              for h in detail["history"]] == [
        ("10.50", "15.50", "token:finance", "invoice <17>", False),
        ("5.00", "5.00", "token:finance", "account created", True)]  # the creation, with its opening balance
    status, page = call(office, "GET", "/api/v1/credit-accounts?q=acm", token)
    assert status == 200 and page["total"] == 1 and page["items"][0]["available"] == "15.50"


def test_a_plan_in_use_is_not_deleted_and_a_currency_change_is_confirmed(office: Office, token: str) -> None:
    status, err = call(office, "DELETE", "/api/v1/rate-plans/office", token)  # the default_rate_plan
    assert status == 409 and err["field"] == "name" and "in use by billing.default_rate_plan" in err["error"]
    assert call(office, "POST", "/api/v1/rate-plans", token, {"name": "coded", "currency": "EUR"})[0] == 201
    status, _ = call(office, "POST", "/api/v1/codes", token, {"group": "sales", "code": "86420", "rate_plan": "coded"})
    assert status == 201
    status, err = call(office, "DELETE", "/api/v1/rate-plans/coded", token)
    assert status == 409 and "1 account code(s) (sales/86420)" in err["error"]
    call(office, "PUT", "/api/v1/codes/sales/86420", token, {"rate_plan": None})
    req = urllib.request.Request(office.url + "/api/v1/rate-plans/coded", method="DELETE",
                                 headers={"Authorization": f"Bearer {token}"})
    assert urllib.request.urlopen(req, timeout=10).status == 204
    assert call(office, "GET", "/api/v1/rate-plans/coded", token)[0] == 404
    # a currency change: the prices stay as numbers, so a plan with rates needs confirm
    status, err = call(office, "PUT", "/api/v1/rate-plans/office", token, {"currency": "USD"})
    assert status == 409 and err["field"] == "confirm" and "not converted" in err["error"]
    assert call(office, "GET", "/api/v1/rate-plans/office", token)[1]["currency"] == "EUR"
    status, plan = call(office, "PUT", "/api/v1/rate-plans/office", token, {"currency": "USD", "confirm": True})
    assert status == 200 and plan["currency"] == "USD"
    status, rates = call(office, "GET", "/api/v1/rates?plan=office&q=1", token)
    assert any(r["prefix"] == "1" and r["price_per_minute"] == "0.02" for r in rates["items"])  # kept as it was
    assert call(office, "PUT", "/api/v1/rate-plans/office", token, {"currency": "EUR", "confirm": True})[0] == 200
