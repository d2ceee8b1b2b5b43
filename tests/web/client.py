"""A small HTTP client for the portal (urllib with a cookie jar): what a
browser without JavaScript does, for tests that need no browser."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from tests.configs import write_config
from tests.e2e.server import ServerProcess


class Reply:
    def __init__(self, status: int, url: str, headers: dict[str, list[str]], body: str) -> None:
        self.status, self.url, self.headers, self.body = status, url, headers, body

    @property
    def csrf(self) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', self.body)
        assert m is not None, self.body[:2000]
        return m.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Client:
    def __init__(self, base: str, follow: bool = True) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow:
            handlers.append(_NoRedirect())
        self.opener = urllib.request.build_opener(*handlers)

    def _open(self, req: urllib.request.Request) -> Reply:
        try:
            resp = self.opener.open(req, timeout=10)
        except urllib.error.HTTPError as err:
            resp = err
        headers: dict[str, list[str]] = {}
        for k, v in resp.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        return Reply(resp.status, resp.url, headers, resp.read().decode(errors="replace"))

    def get(self, path: str) -> Reply:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict[str, str]) -> Reply:
        data = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base + path, data=data))

    def upload(self, path: str, fields: dict[str, str], name: str, content: bytes) -> Reply:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: text/csv\r\n\r\n".encode() + content + b"\r\n"
        )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.base + path, data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return self._open(req)

    def login(self, name: str, password: str) -> Reply:
        page = self.get("/login")
        return self.post("/login", {"csrf": page.csrf, "name": name, "password": password})


def add_admin(tmp: Path, name: str, password: str, group: str | None = None, config: Path | None = None) -> None:
    args = [sys.executable, "-m", "b2bua.runtime.cli", "admin", "add", name, "--password-stdin"]
    if group is not None:
        args += ["--group", group]
    if config is not None:
        args += ["--config", str(config)]
    proc = subprocess.run(args, input=password + "\n", cwd=tmp, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


ROOT_PW = "root password 1"
SALES_PW = "sales password 1"
# a system administrator, one of group sales, and one whose logins the throttling tests lock
ADMINS = (("root", ROOT_PW, None), ("sales", SALES_PW, "sales"), ("guessed", SALES_PW, "sales"))


class Office:
    """The real server with groups default and sales and ``ADMINS``."""

    def __init__(self, tmp: Path, config: str, admins: Sequence[tuple[str, str, str | None]] = ADMINS) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        path = write_config(tmp, config)
        for name, password, group in admins:
            add_admin(tmp, name, password, group=group, config=path)
        self.server = ServerProcess(tmp, config=path.read_text())
        self.url = self.server.http_url

    def client(self, name: str = "", password: str = "") -> Client:
        c = Client(self.url)
        if name:
            r = c.login(name, password)
            assert r.status == 200 and r.url.endswith("/codes"), r.body[:500]
        return c


def running_office(tmp: Path, config: str) -> Iterator[Office]:
    """A module fixture's body: the office, then its clean stop (no trace, no password in the log)."""
    office = Office(tmp, config)
    yield office
    status = office.server.stop()
    out = office.server.output()
    assert status == 0, (status, out[-4000:])
    assert "Traceback" not in out, out
    assert ROOT_PW not in out and SALES_PW not in out


def office_fixture(name: str, config: str) -> Any:
    """A module's ``office`` fixture: :func:`running_office` with ``config`` in a
    folder named after ``name``."""

    @pytest.fixture(scope="module", name="office")
    def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
        yield from running_office(tmp_path_factory.mktemp(name), config)

    return office


def make_token(office: Office, name: str, group: str | None = None) -> str:
    """A new API token (``b2bua api-token add``), of ``group`` if given."""
    args = [sys.executable, "-m", "b2bua.runtime.cli", "api-token", "add", name, "--config",
            str(office.tmp / "b2bua.toml")]
    if group is not None:
        args += ["--group", group]
    proc = subprocess.run(args, cwd=office.tmp, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def token_fixture(name: str) -> Any:
    """A module's ``token`` fixture: a system administrator's API token named
    ``name`` on the module's office."""

    @pytest.fixture(scope="module", name="token")
    def token(office: Office) -> str:
        return make_token(office, name)

    return token


def call(office: Office, method: str, path: str, token: str | None = None, body: Any = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    """An API request (``body`` as JSON, or ``raw`` bytes): its status and JSON reply."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(office.url + path, data=data, method=method, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as err:
        resp = err
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.status, json.loads(resp.read())
