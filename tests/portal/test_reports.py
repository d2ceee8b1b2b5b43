"""Reports and records in the browser: a report run from its form draws its
charts (one bar per day and code with a cost, one per code in the top chart)
from records written into the server's billing database through the billing
store; a record search pages with the Next link and opens a record whose code
changed during the call, showing its two segments."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.report_fixture import write_records

from .conftest import ROOT_PW, SALES_PW, Office, login, shot


def open_may(page: Page, office: Office, link: str) -> None:
    """As root, the page of ``link`` with the fixture's three days of May in its form."""
    write_records(office.data)
    login(page, office.url, "root", ROOT_PW)
    page.get_by_role("link", name=link).click()
    page.get_by_label("From").fill("2024-05-01")
    page.get_by_label("To").fill("2024-05-03")


def test_run_a_report_and_see_its_charts(page: Page, office: Office) -> None:
    open_may(page, office, "Reports")
    page.get_by_label("By").select_option("account-code")
    page.get_by_role("button", name="Run report").click()
    cost = page.locator("#chart-cost-per-day svg")
    expect(cost).to_have_attribute("role", "img")
    # day 1: 12345 and 777; day 2: 555 (12345's call there was not answered); day 3: 12345 and 777
    expect(cost.locator("rect.bar")).to_have_count(5)
    expect(page.locator("#chart-minutes-per-day rect.bar")).to_have_count(5)
    expect(page.locator("#chart-top rect.bar")).to_have_count(3)
    expect(page.get_by_role("img", name="Cost per day by account code (EUR)")).to_be_visible()
    expect(page.locator("#report tbody tr")).to_have_count(3)
    shot(page, "reports")
    page.set_viewport_size({"width": 390, "height": 800})  # a phone: the charts still fit the width
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width


def test_a_group_administrator_charts_their_group_only(page: Page, office: Office) -> None:
    write_records(office.data)
    login(page, office.url, "sales", SALES_PW)
    page.goto(office.url + "/reports?by=account-code&from=2024-05-01&to=2024-05-03")
    expect(page.locator("#chart-cost-per-day rect.bar")).to_have_count(1)
    expect(page.locator("#report tbody th")).to_have_text(["555"])


def test_search_records_page_and_open_a_split_call(page: Page, office: Office) -> None:
    open_may(page, office, "Records")
    page.get_by_label("Per page").select_option("5")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#found")).to_contain_text("6 records, 1 to 5")
    expect(page.locator("#records tbody tr")).to_have_count(5)
    page.get_by_role("link", name="Next").click()
    expect(page.locator("#records tbody tr")).to_have_count(1)
    expect(page.locator("#found")).to_contain_text("6 to 6")
    page.get_by_role("link", name="Previous").click()
    page.get_by_label("Account code").fill("777")
    page.get_by_label("Disposition").select_option("ANSWERED")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#records tbody tr")).to_have_count(3)
    page.locator("#records tbody tr").filter(has_text="2 codes").get_by_role("link").click()
    segments = page.locator("#segments tbody tr")
    expect(segments).to_have_count(2)
    expect(segments.nth(1)).to_contain_text("777")
    expect(segments.nth(1)).to_contain_text("root")
    expect(segments.nth(1)).to_contain_text("portal")
