"""The portal over HTTP against the real server (no browser): sessions and
their cookies, CSRF, login throttling, group administrators' limits, escaping,
upload bounds, CSV export through the spreadsheet guard."""

from __future__ import annotations

from tests.configs import GROUPS, SERVER

from .client import ROOT_PW, SALES_PW, Client, Office, office_fixture

HTTP = """
[http]
login_max_failures = 3
login_address_max_failures = 6
max_upload_bytes = 4096
"""
CONFIG = SERVER + HTTP + GROUPS

office = office_fixture("portal", CONFIG)


def test_pages_need_a_login(office: Office) -> None:
    c = Client(office.url, follow=False)
    r = c.get("/codes")
    assert r.status == 303 and r.headers["location"] == ["/login"]
    assert c.post("/codes/new", {"code": "1"}).status == 403


def test_session_cookie_flags_and_logout(office: Office) -> None:
    c = Client(office.url, follow=False)
    page = c.get("/login")
    r = c.post("/login", {"csrf": page.csrf, "name": "root", "password": ROOT_PW})
    assert r.status == 303
    cookie = next(v for v in r.headers["set-cookie"] if v.startswith("b2bua_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # no TLS here (tests/web/test_http.py: TLS)
    assert len(cookie.split(";")[0].split("=", 1)[1]) == 64
    codes = c.get("/codes")
    assert codes.status == 200
    assert c.post("/logout", {"csrf": codes.csrf}).status == 303
    assert c.get("/codes").status == 303  # the session is gone on the server


def test_forms_without_their_csrf_token_are_refused(office: Office) -> None:
    c = office.client("root", ROOT_PW)
    for fields in ({"group": "default", "code": "55501"}, {"group": "default", "code": "55501", "csrf": "0" * 64}):
        r = c.post("/codes/new", fields)
        assert r.status == 403 and "CSRF" in r.body
    other = office.client("root", ROOT_PW)  # another session's token is no good either
    r = c.post("/codes/new", {"group": "default", "code": "55501", "csrf": other.get("/codes").csrf})
    assert r.status == 403
    assert "No codes match" in c.get("/codes?q=55501").body
    login = Client(office.url)
    login.get("/login")
    assert login.post("/login", {"name": "root", "password": ROOT_PW}).status == 403


def test_login_throttling_gives_the_wrong_password_answer(office: Office) -> None:
    c = Client(office.url)
    answers = [c.login("guessed", f"guess {i} wrong pw") for i in range(3)]
    assert all(a.status == 401 and "Wrong name or password." in a.body for a in answers)
    locked = c.login("guessed", SALES_PW)  # the right password while locked: the same answer
    assert locked.status == 401 and "Wrong name or password." in locked.body
    assert Client(office.url).login("root", ROOT_PW).status == 200  # another name is not locked
    unknown = c.login("nobody", "whatever it is")
    assert unknown.status == 401 and "Wrong name or password." in unknown.body


def test_group_admin_sees_and_changes_only_their_group(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    for group, code in (("default", "11111"), ("sales", "22222")):
        r = root.post("/codes/new", {"csrf": root.get("/codes").csrf, "group": group, "code": code, "name": "x"})
        assert r.status == 200 and f"Added code {code}" in r.body
    sales = Client(office.url)
    sales = office.client("sales", SALES_PW)
    listing = sales.get("/codes").body
    assert "22222" in listing and "11111" not in listing
    token = sales.get("/codes").csrf
    assert sales.get("/codes?group=default").status == 403
    assert sales.get("/codes/default/11111").status == 403
    assert sales.post("/codes/default/11111", {"csrf": token, "name": "mine"}).status == 403
    assert sales.post("/codes/default/11111/active", {"csrf": token, "active": "no"}).status == 403
    assert sales.post("/codes/new", {"csrf": token, "group": "default", "code": "33333"}).status == 403
    assert sales.get("/codes/export.csv?group=default").status == 403
    exported = sales.get("/codes/export.csv").body
    assert "22222" in exported and "11111" not in exported
    assert "11111" in root.get("/codes?group=default").body


def test_typed_text_is_escaped_and_csv_guarded(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    evil = '<img src=x onerror=alert(1)>"\''
    r = root.post("/codes/new", {"csrf": root.get("/codes").csrf, "group": "default", "code": "44444",
                                 "name": evil, "department": "=HYPERLINK(\"http://x\")"})
    assert r.status == 200
    page = root.get("/codes?q=44444").body
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    search = root.get("/codes?q=%3Cscript%3E").body
    assert "<script>" not in search
    csv_text = root.get("/codes/export.csv?group=default").body
    assert "'=HYPERLINK" in csv_text


def test_bad_fields_are_named(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    r = root.post("/codes/new", {"csrf": root.get("/codes").csrf, "group": "default", "code": "66666",
                                 "active_from": "tomorrow"})
    assert r.status == 400 and "active_from: bad date" in r.body
    r = root.post("/codes/new", {"csrf": root.get("/codes").csrf, "group": "default", "code": "66666",
                                 "min_digits": "ten"})
    assert r.status == 400 and "min_digits must be a whole number" in r.body
    r = root.post("/codes/new", {"csrf": root.get("/codes").csrf, "group": "nope", "code": "66666"})
    assert r.status == 400 and "group: unknown group" in r.body


def test_edit_disable_and_page(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    r = root.upload("/codes/import", {"csrf": root.get("/codes").csrf, "group": "default"}, "many.csv",
                    ("code,name\n" + "".join(f"9{i:04d},client {i}\n" for i in range(120))).encode())
    assert r.status == 200 and "Imported 120 codes" in r.body
    first = root.get("/codes?q=client&group=default")
    assert "120 codes, page 1 of 3" in first.body and 'rel="next"' in first.body
    last = root.get("/codes?q=client&group=default&page=3")
    assert "90119" in last.body and 'rel="next"' not in last.body
    r = root.post("/codes/default/90001", {"csrf": first.csrf, "name": "renamed", "active": "yes"})
    assert r.status == 200 and "Saved code 90001" in r.body
    r = root.post("/codes/default/90001/active", {"csrf": first.csrf, "active": "no"})
    assert "Code 90001 of group default disabled" in r.body
    assert "renamed,,no" in root.get("/codes/export.csv?group=default").body.replace("\r", "")


def test_import_errors_are_line_numbered_and_uploads_bounded(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    token = root.get("/codes").csrf
    r = root.upload("/codes/import", {"csrf": token, "group": "default"}, "bad.csv",
                    b"code,name,min_digits\n70001,good\n70002,bad,seven\n")
    assert r.status == 400 and "line 3:" in r.body and "min_digits" in r.body and "Nothing imported" in r.body
    assert "No codes match" in root.get("/codes?q=70001").body
    big = root.upload("/codes/import", {"csrf": token, "group": "default"}, "big.csv", b"code\n" + b"1\n" * 40_000)
    assert big.status == 413
    r = root.upload("/codes/import", {"csrf": token, "group": "default"}, "big.csv", b"code\n" + b"1\n" * 3000)
    assert r.status == 400 and "file: larger than 4096 bytes" in r.body
    r = root.upload("/codes/import", {"csrf": token, "group": "default"}, "bin.csv", b"code\n\xff\xfe\n")
    assert r.status == 400 and "not UTF-8" in r.body
