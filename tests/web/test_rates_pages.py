"""The rate and credit pages over HTTP against the real server (no browser):
system administrators only, CSRF on every form, each field's error named, CSV
import refused whole with its lines, output escaped, top-up history by name."""

from __future__ import annotations

import html

from .client import ROOT_PW, SALES_PW, Office, office_fixture
from .test_rates_api import CONFIG as RATES_CONFIG

# the API's office, with small uploads
CONFIG = RATES_CONFIG.replace("[groups.default]", "[http]\nmax_upload_bytes = 4096\n[groups.default]")

office = office_fixture("rates-pages", CONFIG)


def test_group_administrators_are_refused(office: Office) -> None:
    sales = office.client("sales", SALES_PW)
    assert 'href="/rates"' not in sales.get("/codes").body  # not in their menu either
    csrf = sales.get("/codes").csrf
    for path in ("/rates", "/rates/import", "/rates/export.csv", "/credit", "/credit/acme"):
        r = sales.get(path)
        assert r.status == 403 and "system administrators" in r.body, path
    for path, fields in (("/rates/plans", {"name": "x", "currency": "EUR"}), ("/credit/new", {"account": "x"})):
        assert sales.post(path, fields | {"csrf": csrf}).status == 403


def test_forms_need_their_csrf_token(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    for path, fields in (("/rates/plans", {"name": "nocsrf", "currency": "EUR"}),
                         ("/rates/set", {"plan": "office", "prefix": "9", "price_per_minute": "1"}),
                         ("/credit/new", {"account": "nocsrf"})):
        r = root.post(path, fields)
        assert r.status == 403 and "CSRF" in r.body, path
    assert "nocsrf" not in root.get("/rates").body and "nocsrf" not in root.get("/credit").body


def test_plans_rates_and_import(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    page = root.get("/rates")
    seeded = '<a href="/rates/plans/office">office</a></td><td>EUR</td><td>1</td>'
    assert page.status == 200 and seeded in page.body
    r = root.post("/rates/plans", {"csrf": page.csrf, "name": "<b>", "currency": "EUR"})
    assert r.status == 400 and "name: &#39;&lt;b&gt;&#39;" in r.body and "<b>" not in r.body.split("<main>")[1]
    r = root.post("/rates/plans", {"csrf": page.csrf, "name": "intl", "currency": "eu"})
    assert r.status == 400 and "currency: " in r.body
    assert root.post("/rates/plans", {"csrf": page.csrf, "name": "intl", "currency": "usd"}).status == 200
    r = root.post("/rates/set", {"csrf": page.csrf, "plan": "intl", "prefix": "44", "price_per_minute": "abc"})
    assert r.status == 400 and "price_per_minute: &#39;abc&#39; is not a decimal number" in r.body
    r = root.post("/rates/set", {"csrf": page.csrf, "plan": "intl", "prefix": "44", "price_per_minute": "0.10",
                                 "description": "<script>x</script>"})
    assert r.status == 200 and "&lt;script&gt;x&lt;/script&gt;" in r.body and "<script>x" not in r.body
    bad = b"plan,prefix,price_per_minute\nintl,33,0.05\nintl,3x,0.05\n"
    r = root.upload("/rates/import", {"csrf": page.csrf}, "rates.csv", bad)
    assert r.status == 400 and "Nothing imported" in r.body and "line 3: prefix: malformed prefix" in html.unescape(r.body)
    assert "<td>33</td>" not in root.get("/rates?plan=intl").body
    r = root.upload("/rates/import", {"csrf": page.csrf}, "rates.csv", b"x" * 5000)
    assert r.status in (400, 413)
    good = b"plan,prefix,price_per_minute\nintl,33,0.05\nintl,34,=1+2\n"
    r = root.upload("/rates/import", {"csrf": page.csrf}, "rates.csv", good)
    assert r.status == 400 and "line 3: price_per_minute" in r.body
    good = b"plan,prefix,price_per_minute,description\nintl,33,0.05,=1+2\nintl,34,0.06,\n"
    r = root.upload("/rates/import", {"csrf": page.csrf}, "rates.csv", good)
    assert r.status == 200 and "Imported 2 rates." in r.body
    listed = root.get("/rates?plan=intl&q=3")
    assert "2 rates" in listed.body and "<td>33</td>" in listed.body and "<td>44</td>" not in listed.body
    export = root.get("/rates/export.csv?plan=intl")
    assert export.body.splitlines()[1:] == ["intl,33,,0.05,0,0,1,'=1+2", "intl,34,,0.06,0,0,1,",
                                            "intl,44,,0.10,0,0,1,<script>x</script>"]
    r = root.post("/rates/delete", {"csrf": page.csrf, "plan": "intl", "prefix": "34", "call_class": ""})
    assert r.status == 200 and "<td>34</td>" not in root.get("/rates?plan=intl").body


def test_credit_accounts_topup_and_history(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    page = root.get("/credit")
    r = root.post("/credit/new", {"csrf": page.csrf, "account": "a b", "currency": "EUR"})
    assert r.status == 400 and "account: " in r.body
    r = root.post("/credit/new", {"csrf": page.csrf, "account": "acme", "currency": "EUR", "balance": "-1"})
    assert r.status == 400 and "balance: " in r.body
    r = root.post("/credit/new", {"csrf": page.csrf, "account": "acme", "currency": "EUR", "balance": "5"})
    assert r.status == 200 and r.url.endswith("/credit/acme") and "5.00 EUR" in r.body
    assert root.post("/credit/new", {"csrf": page.csrf, "account": "acme", "currency": "EUR"}).status == 400
    r = root.post("/credit/acme", {"csrf": page.csrf, "amount": "10", "note": ""})
    assert r.status == 400 and "note: say why" in r.body
    r = root.post("/credit/acme", {"csrf": page.csrf, "amount": "ten", "note": "x"})
    assert r.status == 400 and "amount: " in r.body
    r = root.post("/credit/acme", {"csrf": page.csrf, "amount": "-6", "note": "x"})
    assert r.status == 400 and "below its reserved credit" in r.body
    r = root.post("/credit/acme", {"csrf": page.csrf, "amount": "10.50", "note": "invoice <17>"})
    assert r.status == 200 and "15.50 EUR" in r.body
    assert "<td>+10.50</td><td>15.50</td><td>root</td><td>invoice &lt;17&gt;</td>" in r.body
    rows = r.body.split('<table id="history">')[1].split("</table>")[0].split("<tr")
    assert len(rows) == 4 and "invoice" in rows[2]  # header, the top-up, then the creation (oldest last)
    assert "<td>5.00 (opening balance)</td><td>5.00</td><td>root</td><td>Account created</td>" in rows[3]
    assert "No calls charged yet." in r.body
    listed = root.get("/credit?q=acm")
    assert "<td>15.50</td><td>0.00</td><td>15.50</td>" in listed.body
    assert root.get("/credit/ghost").status == 404


def test_a_codes_plan_and_account_are_offered_and_checked(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    page = root.get("/credit")
    assert root.post("/credit/new", {"csrf": page.csrf, "account": "offered", "currency": "EUR"}).status == 200
    form = root.get("/codes/new")
    assert '<input id="rate_plan" name="rate_plan" value="" list="rate_plan-names"' in form.body
    assert '<option value="office"></option>' in form.body.split('id="rate_plan-names"')[1].split("</datalist>")[0]
    assert '<option value="offered"></option>' in form.body.split('id="credit_account-names"')[1]
    code = {"csrf": form.csrf, "group": "default", "code": "60601"}
    r = root.post("/codes/new", code | {"rate_plan": "ofice", "credit_account": "offered"})
    assert r.status == 400 and "rate_plan: no rate plan &#39;ofice&#39; (add it under Rates first)" in r.body
    r = root.post("/codes/new", code | {"rate_plan": "office", "credit_account": "<ghost>"})
    assert r.status == 400 and "credit_account: no credit account &#39;&lt;ghost&gt;&#39;" in r.body
    assert root.post("/codes/new", code | {"rate_plan": "office", "credit_account": "offered"}).status == 200
    r = root.post("/codes/default/60601", {"csrf": form.csrf, "rate_plan": "gone"})
    assert r.status == 400 and "rate_plan: no rate plan &#39;gone&#39;" in r.body
    assert "office" in root.get("/codes/default/60601").body  # unchanged
    sales = office.client("sales", SALES_PW)  # a group administrator sees no plan or account names
    assert "<datalist" not in sales.get("/codes/new").body
