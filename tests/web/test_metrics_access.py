"""``/metrics`` restricted by ``[http] metrics_token`` and ``metrics_allow``,
against the real server; requests from a second loopback address (127.0.0.2)
stand for another host."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Iterator

import pytest

from b2bua.runtime.config import ConfigError, loads
from tests.e2e.server import ServerProcess

TOKEN = "s3cret-metrics-token-0123456789"


@pytest.mark.parametrize(("text", "field"), [
    ('[http]\nmetrics_token = "short"\n', "metrics_token"),
    ('[http]\nmetrics_token = "has a space in it, long enough"\n', "metrics_token"),
    ('[http]\nmetrics_allow = ["10.0.0.0/33"]\n', "metrics_allow"),
    ('[http]\nmetrics_allow = ["example.org"]\n', "metrics_allow"),
])
def test_bad_metrics_options_are_named(text: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        loads(text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp: Path = tmp_path_factory.mktemp("metrics")
    srv = ServerProcess(tmp, config=f'[server]\ndata_dir = "{tmp / "data"}"\n[http]\n'
                                    f'metrics_token = "{TOKEN}"\nmetrics_allow = ["127.0.0.2/32", "::1"]\n')
    yield srv
    assert srv.stop() == 0
    out = srv.output()
    assert "Traceback" not in out and TOKEN not in out


def scrape(srv: ServerProcess, source: str, token: str | None) -> tuple[int, dict[str, str], str]:
    host, port = srv.http_url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"} if token is not None else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


def test_an_allowed_source_with_the_token_scrapes(server: ServerProcess) -> None:
    status, _, body = scrape(server, "127.0.0.2", TOKEN)
    assert status == 200 and "b2bua_calls_started" in body


def test_another_source_is_refused_even_with_the_token(server: ServerProcess) -> None:
    status, _, body = scrape(server, "127.0.0.1", TOKEN)
    assert status == 403 and "b2bua_" not in body


@pytest.mark.parametrize("token", [None, "", TOKEN[:-1], TOKEN + "x"])
def test_no_or_a_wrong_token_is_refused(server: ServerProcess, token: str | None) -> None:
    status, headers, body = scrape(server, "127.0.0.2", token)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer") and "b2bua_" not in body


def test_the_portal_is_not_affected(server: ServerProcess) -> None:
    assert scrape(server, "127.0.0.1", None)[0] == 403  # /metrics itself
    host, port = server.http_url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
