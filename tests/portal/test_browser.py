"""The portal in a real browser: log in, add a code, import a CSV with a bad row,
a group administrator refused another group's data, a form posted without its
CSRF token refused, login throttling."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import ROOT_PW, SALES_PW, Office, login, shot


def test_log_in_and_add_a_code(page: Page, office: Office) -> None:
    page.goto(office.url + "/codes")
    expect(page).to_have_url(office.url + "/login")
    shot(page, "login")
    login(page, office.url, "root", ROOT_PW)
    expect(page.get_by_role("heading", name="Account codes")).to_be_visible()
    page.get_by_role("link", name="Add a code").click()
    page.get_by_label("Group").select_option("default")
    page.get_by_label("Code (digits)").fill("12345")
    page.get_by_label("Name (client, matter, project)").fill("Acme v. Smith <b>bold</b>")
    page.get_by_label("Department").fill("Litigation")
    page.get_by_label("Blocked prefixes").fill("900,1900")
    shot(page, "add-code")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_have_text("Added code 12345 to group default.")
    row = page.get_by_role("row").filter(has_text="12345")
    expect(row).to_contain_text("Acme v. Smith <b>bold</b>")  # shown as typed: escaped, not markup
    expect(row).to_contain_text("blocks 900,1900")
    assert page.locator("main b").count() == 0
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_contain_text("disabled")
    expect(page.get_by_role("row").filter(has_text="12345").get_by_role("button", name="Enable")).to_be_visible()
    shot(page, "codes")


def test_import_with_a_bad_row_shows_its_line(page: Page, office: Office, tmp_path: Path) -> None:
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("code,name,active_from\n20001,Good client,\n20002,Bad date,someday\n20003,Also good,\n")
    login(page, office.url, "root", ROOT_PW)
    page.get_by_role("link", name="Import").click()
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Import").click()
    alert = page.locator(".errors")
    expect(alert).to_contain_text("line 3: active_from: bad date 'someday'")
    expect(page.get_by_role("alert").first).to_contain_text("Nothing imported")
    shot(page, "import-errors")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_label("skip bad rows").check()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_contain_text("Imported 2 codes into group default. Skipped 1 bad row.")
    page.goto(office.url + "/codes?q=2000")
    expect(page.get_by_text("2 codes")).to_be_visible()


def test_group_admin_is_refused_another_groups_data(page: Page, office: Office) -> None:
    login(page, office.url, "root", ROOT_PW)
    page.goto(office.url + "/codes/new")
    page.get_by_label("Group").select_option("default")
    page.get_by_label("Code (digits)").fill("30001")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text("Added code 30001")
    page.get_by_role("button", name="Log out").click()
    login(page, office.url, "sales", SALES_PW)
    expect(page.get_by_role("heading", name="Account codes")).to_be_visible()
    expect(page.locator("tbody")).not_to_contain_text("30001")
    response = page.goto(office.url + "/codes/default/30001")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("group sales only")
    response = page.goto(office.url + "/codes?group=default")
    assert response is not None and response.status == 403


def test_a_form_without_its_csrf_token_is_refused(page: Page, office: Office) -> None:
    login(page, office.url, "root", ROOT_PW)
    page.goto(office.url + "/codes/new")
    page.get_by_label("Code (digits)").fill("40001")
    page.locator("form.card input[name=csrf]").evaluate("el => el.remove()")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("security token is missing or wrong")
    page.goto(office.url + "/codes?q=40001")
    expect(page.get_by_text("No codes match")).to_be_visible()


def test_login_throttling(page: Page, office: Office) -> None:
    for i in range(3):
        login(page, office.url, "guessed", f"wrong guess {i}!")
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    login(page, office.url, "guessed", SALES_PW)  # right, but locked: the same answer
    expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    expect(page).to_have_url(office.url + "/login")


def test_readable_on_a_phone(page: Page, office: Office) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, office.url, "root", ROOT_PW)
    expect(page.get_by_role("heading", name="Account codes")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    page.keyboard.press("Tab")  # keyboard reachable: the first link takes the focus
    assert page.evaluate("document.activeElement.tagName") == "A"
    shot(page, "codes-phone")
