"""Rates and credit in a real browser: a rates CSV with a bad row shows the row's
line, the fixed file imports; an account is created, topped up and its history
shows who did it; the pages fit a phone's width and the forms work by keyboard."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.web.client import office_fixture
from tests.web.test_rates_api import CONFIG

from .conftest import ROOT_PW, Office, login, shot

office = office_fixture("rates-browser", CONFIG)


def test_import_rates_with_a_bad_row_then_fixed(page: Page, office: Office, tmp_path: Path) -> None:
    login(page, office.url, "root", ROOT_PW)
    page.get_by_role("link", name="Rates", exact=True).click()
    expect(page.get_by_role("heading", name="Rate plans")).to_be_visible()
    expect(page.get_by_role("row", name="office EUR 1 Show rates")).to_be_visible()  # seeded from the TOML
    rates = tmp_path / "rates.csv"
    rates.write_text("plan,prefix,price_per_minute,description\n"
                     "office,1212,0.01,New York\noffice,44,0.05x,UK\noffice,33,0.04,France\n")
    page.get_by_role("link", name="Import rates from CSV").click()
    page.get_by_label("CSV file").set_input_files(str(rates))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".errors")).to_contain_text("line 3: price_per_minute: '0.05x' is not a decimal number")
    expect(page.get_by_role("alert").first).to_contain_text("Nothing imported")
    shot(page, "rates-import-errors")
    rates.write_text(rates.read_text().replace("0.05x", "0.05"))
    page.get_by_label("CSV file").set_input_files(str(rates))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_have_text("Imported 3 rates.")
    page.get_by_label("Search prefix, call class or description").fill("New York")
    page.get_by_label("In plan").select_option("office")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row").filter(has_text="1212")
    expect(row).to_contain_text("0.01")
    expect(page.get_by_text("1 rate", exact=True)).to_be_visible()
    page.goto(office.url + "/rates?plan=office")
    shot(page, "rates")


def test_top_up_an_account_by_keyboard_and_see_the_history(page: Page, office: Office) -> None:
    login(page, office.url, "root", ROOT_PW)
    page.get_by_role("link", name="Credit", exact=True).click()
    page.get_by_label("Account name").fill("acme")
    page.get_by_label("Starting balance").fill("5")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Credit account acme")).to_be_visible()
    page.get_by_label("Amount (EUR)").fill("12.50")
    page.keyboard.press("Tab")  # the note comes next, then the button
    page.keyboard.type("Invoice 2026-17")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Balance of acme changed by +12.50 EUR: now 17.50.")
    history = page.locator("#history tbody tr").first
    expect(history).to_contain_text("+12.50")
    expect(history).to_contain_text("root")
    expect(history).to_contain_text("Invoice 2026-17")
    shot(page, "credit-account")


def test_pages_fit_a_phone(browser: Browser, office: Office) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        login(page, office.url, "root", ROOT_PW)
        for path in ("/rates", "/rates/import", "/credit"):
            page.goto(office.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)  # wide tables scroll inside their own box
    finally:
        context.close()


def test_a_plan_in_use_is_kept_a_spare_one_deleted_and_a_currency_change_confirmed(page: Page, office: Office) -> None:
    login(page, office.url, "root", ROOT_PW)
    page.get_by_role("link", name="Rates", exact=True).click()
    page.get_by_role("link", name="office", exact=True).click()
    expect(page.get_by_text("Records already written keep the currency")).to_be_visible()
    page.get_by_role("button", name="Delete plan office").click()
    expect(page.get_by_role("alert")).to_contain_text("in use by billing.default_rate_plan")
    page.get_by_label("New currency").fill("USD")
    page.get_by_role("button", name="Change the currency").click()  # not confirmed: refused
    expect(page.get_by_role("alert")).to_contain_text("Confirm the change")
    page.get_by_label("New currency").fill("USD")
    page.get_by_label("Yes: keep the").check()
    page.get_by_role("button", name="Change the currency").click()
    expect(page.get_by_role("status")).to_have_text("Rate plan office is in USD from the next call on.")
    expect(page.get_by_role("row", name="office USD")).to_be_visible()
    page.get_by_role("link", name="office", exact=True).click()
    page.get_by_label("New currency").fill("EUR")
    page.get_by_label("Yes: keep the").check()
    page.get_by_role("button", name="Change the currency").click()
    page.get_by_label("New plan name").fill("spare")
    page.get_by_role("button", name="Add plan").click()
    page.get_by_role("link", name="spare", exact=True).click()
    page.get_by_role("button", name="Delete plan spare").click()
    expect(page.get_by_role("status")).to_have_text("Deleted rate plan spare.")
    expect(page.get_by_role("link", name="spare", exact=True)).to_have_count(0)
