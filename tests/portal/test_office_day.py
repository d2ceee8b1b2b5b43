"""An office's day run from the browser alone.

The server (SIP and portal) starts from a configuration with users, trunks and
the group ``default`` but no account codes, rate plans or credit accounts; the
one command line step is ``b2bua admin add``.  Then, only by clicks and form
fills in Chromium: a rate plan and its rates (a CSV with a bad line first), a
credit account topped up, account codes (one by the form, prepaid on that
account with that plan; others by CSV import), a group setting changed; SIPp
calls from extension 1001 (one set a new code from the live view, one prepaid,
one refused by the new setting); the day's report with its charts, the
records searched and exported, the account's balance and the audit log.

Rates (plan ``office``, a minute's increments, the first minute always billed):
New York (212) 0.10 setup + 0.50 a minute, Chicago (312) 0.10 + 0.30.  So a
short call to New York costs 0.60; a short call to Chicago 0.40 in its first
segment and, after its code changed, 0.30 more in the second (the setup fee and
minimum belong to the call's first segment only, see b2bua.billing.cdr).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.server import free_port, rtp_range, wait_codes
from tests.e2e.sipp import SIPP, Sipp, sipp_args
from tests.e2e.test_account_codes import outside_call
from tests.e2e.test_calls import OFFICE, Rig, settle
from tests.e2e.test_code_settings_calls import reloads, wait_reload
from tests.web.client import ROOT_PW, add_admin

from .conftest import login, shot

DAY = OFFICE + """
[billing]
interim_interval = 1
credit_chunk = 10

[media]
rtp_first = RTP_FIRST
rtp_last = RTP_LAST
"""
NEW_YORK, CHICAGO, LOCAL = "2125551234", "3125551234", "4561234"
RATES = ("plan,prefix,price_per_minute,setup,minimum_s,increment_s,description\n"
         "office,212,0.50,0.10,60,60,New York\n"
         "office,312,0.30x,0.10,60,60,Chicago\n")
CODES = ("code,name,department,rate_plan\n"
         "20001,Baker & Sons,Litigation,office\n"
         "20002,\"=Carter, Ltd\",Tax,office\n"
         "20003,Dunn estate,Tax,office\n")


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Rig]:
    if SIPP is None:
        pytest.fail("sipp is missing: install Debian's sip-tester (bash tests/run.sh does)")
    first = rtp_range()
    rig = Rig(tmp_path, extra=DAY.replace("RTP_FIRST", str(first)).replace("RTP_LAST", str(first + 99)))
    add_admin(tmp_path, "root", ROOT_PW, config=tmp_path / "b2bua.toml")  # the one step in a terminal
    yield rig
    rig.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    context.close()


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def submit(page: Page, fields: dict[str, str], button: str) -> None:
    """A form filled label by label, then sent with its button."""
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name=button, exact=True).click()


def upload(page: Page, csv_file: Path) -> None:
    """On an import page: the file chosen, then imported."""
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Import").click()


def make_rate_plan(page: Page, tmp: Path) -> None:
    nav(page, "Rates")
    expect(page.get_by_text("No rate plans yet.")).to_be_visible()
    submit(page, {"New plan name": "office", "Currency": "EUR"}, "Add plan")
    expect(page.get_by_role("status")).to_have_text("Added rate plan office (EUR).")
    rates = tmp / "office-rates.csv"
    rates.write_text(RATES)
    page.get_by_role("link", name="Import rates from CSV").click()
    upload(page, rates)
    expect(page.locator(".errors")).to_contain_text("line 3: price_per_minute: '0.30x' is not a decimal number")
    expect(page.get_by_role("alert").first).to_contain_text("Nothing imported")
    nav(page, "Rates")
    plan = page.locator("#plans-h ~ .table tbody tr").locator("td")
    expect(plan).to_have_text(["office", "EUR", "0", "Show rates · Export CSV"])  # nothing imported
    rates.write_text(RATES.replace("0.30x", "0.30"))
    page.get_by_role("link", name="Import rates from CSV").click()
    upload(page, rates)
    expect(page.get_by_role("status")).to_have_text("Imported 2 rates.")
    page.get_by_role("link", name="Show rates").click()
    chicago = page.locator("#rates-h ~ .table tbody tr").filter(has_text="Chicago")
    expect(chicago.locator("td")).to_have_text(["office", "312", "0.30", "0.10", "60", "60", "Chicago", "Remove"])


def make_credit_account(page: Page) -> None:
    nav(page, "Credit")
    submit(page, {"Account name": "acme", "Starting balance": "5"}, "Create")
    expect(page.get_by_role("heading", name="Credit account acme")).to_be_visible()
    submit(page, {"Amount (EUR)": "12.50", "Note (why: invoice, refund ...)": "Invoice 2026-17"}, "Change balance")
    expect(page.get_by_role("status")).to_have_text("Balance of acme changed by +12.50 EUR: now 17.50.")
    expect(page.locator("#balance")).to_have_text("17.50 EUR")
    top_up = page.locator("#history tbody tr").first.locator("td")
    expect(top_up.nth(1)).to_have_text("+12.50")
    expect(top_up.nth(2)).to_have_text("17.50")
    expect(top_up.nth(3)).to_have_text("root")
    expect(top_up.nth(4)).to_have_text("Invoice 2026-17")
    opened = page.locator("#history tbody tr").last.locator("td")  # the creation explains the starting balance
    expect(opened.nth(1)).to_have_text("5.00 (opening balance)")
    expect(opened.nth(2)).to_have_text("5.00")
    expect(opened.nth(3)).to_have_text("root")
    expect(opened.nth(4)).to_have_text("Account created")


def add_codes(page: Page, tmp: Path) -> None:
    nav(page, "Add a code")
    expect(page.get_by_label("Group")).to_have_value("default")  # the one group configured
    # the form offers the plan and the account made above; a typo is named, not saved
    expect(page.locator("#rate_plan-names option")).to_have_attribute("value", "office")
    expect(page.locator("#credit_account-names option")).to_have_attribute("value", "acme")
    submit(page, {"Code (digits)": "12345", "Name (client, matter, project)": "Acme prepaid",
                  "Rate plan": "ofice", "Credit account": "acme"}, "Add")  # prepaid: acme pays
    expect(page.get_by_role("alert")).to_have_text("rate_plan: no rate plan 'ofice' (add it under Rates first)")
    submit(page, {"Rate plan": "office"}, "Add")
    expect(page.get_by_role("status")).to_have_text("Added code 12345 to group default.")
    clients = tmp / "clients.csv"
    clients.write_text(CODES)
    nav(page, "Import")
    expect(page.get_by_label("Group")).to_have_value("default")  # the one group configured
    upload(page, clients)
    expect(page.get_by_role("status")).to_contain_text("Imported 3 codes into group default.")
    expect(page.get_by_role("row").filter(has_text="20002")).to_contain_text("=Carter, Ltd")  # as typed
    expect(page.get_by_text("4 codes")).to_be_visible()


def require_codes_on_local_calls(page: Page) -> None:
    nav(page, "Groups")
    page.get_by_role("link", name="default", exact=True).click()
    field = page.get_by_label("Required call classes (mode classes)")
    expect(field).to_have_value("international,long_distance")
    field.fill("international,local,long_distance")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved the code settings of group default.")
    expect(page.get_by_role("row").filter(has_text="default")).to_contain_text("local")


def live_call_gets_a_new_code(page: Page, rig: Rig) -> None:
    """A call to Chicago under 20001 in the live view with its running cost; its
    code set to 20002 from the page; then ended from the page."""
    carrier = rig.uas("uas.xml", rig.carrier_port)
    nav(page, "Live calls")
    expect(page.get_by_text("0 calls in progress")).to_be_visible()
    phone = Sipp(sipp_args("uac_wait_bye.xml", rig.target, port=free_port(), service=f"20001**{CHICAGO}",
                           user="1001", password="pw1001", variables={"caller": "1001"}), rig.tmp, "phone")
    rig.procs.append(phone)
    row = page.locator("#calls tbody tr").filter(has_text=CHICAGO)
    expect(row).to_contain_text("answered")  # the page refreshes itself
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text("1001")
    expect(cells.nth(3)).to_have_text("20001")
    expect(cells.nth(6)).to_have_text("0.40 EUR")  # setup and the first minute, from the answer on
    row.get_by_label("Account code for the call from 1001").fill("20002")
    row.get_by_role("button", name="Set code").click()
    expect(page.get_by_role("status")).to_contain_text("account code set")
    expect(cells.nth(3)).to_have_text("20002")
    expect(cells.nth(6)).to_have_text("0.70 EUR")  # and a minute of the second segment
    shot(page, "calls-running-cost")
    row.get_by_role("button", name="End call").click()
    expect(page.get_by_role("status")).to_contain_text("ended")
    assert phone.wait(30) == 0, phone.output()
    assert carrier.wait(30) == 0, carrier.output()  # its port is free for the next call
    expect(page.get_by_text("0 calls in progress")).to_be_visible()


def place_calls(page: Page, rig: Rig) -> None:
    live_call_gets_a_new_code(page, rig)
    assert outside_call(rig, f"12345**{NEW_YORK}") == 0, rig.last_uac  # prepaid on acme
    # a local call needed no code this morning; the group's new setting refuses it
    assert rig.uac("uac_fail.xml", LOCAL) == 0, rig.last_uac
    settle(rig)


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def fill_day(page: Page, day: str) -> None:
    """The period of a report or search: the day the office opened (to today, should
    the test run across midnight UTC)."""
    page.get_by_label("From", exact=True).fill(day)
    page.get_by_label("To", exact=True).fill(today())


def download(page: Page, link: str) -> list[dict[str, str]]:
    with page.expect_download() as event:
        page.get_by_role("link", name=link, exact=True).click()
    return list(csv.DictReader(io.StringIO(Path(event.value.path()).read_text())))


def wait_for_records(page: Page, count: int) -> None:
    """Records are written through the server's queue: search again until all are there."""
    for _ in range(80):
        page.get_by_role("button", name="Search").click()
        found = page.locator("#found")
        expect(found).to_be_visible()
        if (found.text_content() or "").startswith(f"{count} record"):
            return
        page.wait_for_timeout(250)
    expect(page.locator("#found")).to_contain_text(f"{count} record")


def records_of_the_day(page: Page, day: str) -> None:
    nav(page, "Records")
    fill_day(page, day)
    wait_for_records(page, 3)
    refused = page.locator("#records tbody tr").filter(has_text=LOCAL)
    expect(refused.locator("td").nth(4)).to_have_text("failed")
    refused.get_by_role("link").click()
    expect(page.locator("dl.record")).to_contain_text("Account code required for local calls")
    page.go_back()
    page.get_by_label("Account code").fill("12345")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#found")).to_contain_text("1 record")
    cells = page.locator("#records tbody tr").locator("td")
    expect(cells.nth(1)).to_have_text("1001")
    expect(cells.nth(2)).to_have_text(NEW_YORK)  # the number, the code apart
    expect(cells.nth(3)).to_have_text("12345")
    expect(cells.nth(4)).to_have_text("answered")
    expect(cells.nth(6)).to_have_text("0.60 EUR")
    [prepaid] = download(page, "CSV")
    assert (prepaid["accountcode"], prepaid["src"], prepaid["disposition"]) == ("12345", "1001", "ANSWERED")
    assert (prepaid["cost"], prepaid["currency"], prepaid["rate_plan"]) == ("0.60", "EUR", "office")
    page.get_by_label("Account code").fill("20002")  # any segment's code
    page.get_by_role("button", name="Search").click()
    page.locator("#records tbody a").click()
    segments = page.locator("#segments tbody tr")
    expect(segments).to_have_count(2)
    expect(segments.nth(0).locator("td")).to_contain_text(["1", "20001"])
    expect(segments.nth(1).locator("td").nth(1)).to_have_text("20002")
    expect(segments.nth(1).locator("td").nth(2)).to_have_text("root")
    expect(segments.nth(1).locator("td").nth(3)).to_have_text("portal")
    expect(page.locator("dl.record")).to_contain_text("0.70 EUR")


def report_of_the_day(page: Page, day: str) -> None:
    nav(page, "Reports")
    page.get_by_label("By", exact=True).select_option("extension")
    fill_day(page, day)
    page.get_by_role("button", name="Run report").click()
    row = page.locator("#report tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("th")).to_have_text("1001")
    # calls, answered, (talk seconds, average), cost, currency: the three calls, two answered, 0.70 + 0.60
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text("3")
    expect(cells.nth(1)).to_have_text("2")
    expect(cells.nth(2)).to_have_text(re.compile(r"^\d+\.\d$"))  # the total as precise as the average
    expect(cells.nth(3)).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(cells.nth(4)).to_have_text("1.30")
    expect(cells.nth(5)).to_have_text("EUR")
    page.get_by_label("By", exact=True).select_option("account-code")
    page.get_by_role("button", name="Run report").click()
    cost_chart = page.get_by_role("img", name="Cost per day by account code (EUR)")
    expect(cost_chart).to_be_visible()
    bars = page.locator("#chart-cost-per-day svg rect.bar")
    expect(bars).to_have_count(3)  # one day, three codes that cost something
    expect(page.locator("#chart-top svg rect.bar")).to_have_count(3)
    expect(page.get_by_role("img", name="Top 3 by cost (EUR)")).to_be_visible()  # counts the bars drawn
    by_code = {page.locator("#report tbody th").nth(i).text_content(): i
               for i in range(page.locator("#report tbody th").count())}
    for code, calls, answered, cost in (("12345", "1", "1", "0.60"), ("20001", "1", "1", "0.40"),
                                        ("20002", "1", "1", "0.30")):
        assert code in by_code, by_code
        tds = page.locator("#report tbody tr").nth(by_code[code]).locator("td")
        expect(tds.nth(0)).to_have_text(calls)
        expect(tds.nth(1)).to_have_text(answered)
        expect(tds.nth(4)).to_have_text(cost)
    shot(page, "report-of-the-day")
    exported = {r["account-code"]: r for r in download(page, "CSV")}
    assert (exported["12345"]["calls"], exported["12345"]["answered"], exported["12345"]["total_cost"]) == (
        "1", "1", "0.60"), exported
    assert (exported["20002"]["total_cost"], exported["20002"]["currency"]) == ("0.30", "EUR"), exported


def balance_went_down(page: Page) -> None:
    nav(page, "Credit")
    acme = page.get_by_role("row").filter(has_text="acme").locator("td")
    expect(acme.nth(2)).to_have_text("16.90")  # 17.50 - 0.60, the prepaid call
    expect(acme.nth(3)).to_have_text("0.00")
    page.get_by_role("link", name="acme").click()
    expect(page.locator("#balance")).to_have_text("16.90 EUR")
    expect(page.locator("#history tbody tr").first).to_contain_text("root")
    charge = page.locator("#charges tbody tr")
    expect(charge).to_have_count(1)  # which call spent it
    expect(charge.locator("td").nth(2)).to_have_text("-0.60")
    shot(page, "credit-history")
    charge.get_by_role("link").click()
    expect(page.locator("dl.record")).to_contain_text("12345 (shortcut)")
    expect(page.locator("dl.record")).to_contain_text("0.60 EUR")


def audit_log_tells_who_did_what(page: Page) -> None:
    nav(page, "Audit log")
    for action, what in (("plan.add", "office"), ("rates.import", "2 rates"), ("credit.create", "acme"),
                         ("credit.change", "acme +12.50"), ("code.add", "***45"), ("code.import", "3 codes"),
                         ("group.change", "default"), ("call.code", ""), ("call.end", "")):
        entry = page.get_by_role("row").filter(has=page.get_by_role("cell", name=action, exact=True))
        expect(entry).to_have_count(1)
        expect(entry.locator("td").nth(1)).to_have_text("root")
        expect(entry.locator("td").nth(2)).to_have_text("127.0.0.1")
        expect(entry.locator("td").nth(4)).to_contain_text(what)
    assert "12345" not in page.locator("main table").inner_text()  # codes masked in the log


def test_an_office_day_from_the_browser(page: Page, office: Rig, tmp_path: Path) -> None:
    url, day = office.server.http_url, today()
    login(page, url, "root", ROOT_PW)
    expect(page.get_by_role("heading", name="Account codes")).to_be_visible()
    expect(page.get_by_text("No codes")).to_be_visible()
    make_rate_plan(page, tmp_path)
    make_credit_account(page)
    add_codes(page, tmp_path)
    wait_codes(office.data, count=4)  # the running server took the codes
    before = reloads(office.data)
    require_codes_on_local_calls(page)
    wait_reload(office.data, before)
    place_calls(page, office)
    records_of_the_day(page, day)
    report_of_the_day(page, day)
    balance_went_down(page)
    audit_log_tells_who_did_what(page)
