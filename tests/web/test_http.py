"""The HTTP server in the SIP server's process: served on the configured
address, off when asked, stopped with the server, refused config and TLS."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from b2bua.runtime.config import DEFAULT, ConfigError, loads, with_http_listen
from tests.e2e.server import ServerProcess, free_port


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5, context=context) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()


def test_default_is_loopback_8080_and_on() -> None:
    assert DEFAULT.http.enabled and DEFAULT.http.listen == "127.0.0.1:8080" and not DEFAULT.http.tls


@pytest.mark.parametrize(
    "text, path",
    [
        ('[http]\nlisten = "localhost:8080"\n', "$.http"),
        ('[http]\ncertfile = "cert.pem"\n', "$.http"),
        ('[http]\nlogin_max_failures = 0\n', "$.http.login_max_failures"),
        ('[http]\nport = 8080\n', "$.http"),
    ],
)
def test_bad_http_config_names_its_path(text: str, path: str) -> None:
    with pytest.raises(ConfigError, match=path.replace("$", r"\$").replace(".", r"\.")):
        loads(text)


def test_http_listen_override() -> None:
    assert with_http_listen(DEFAULT, "[::1]:0").http.address.host == "::1"
    assert not with_http_listen(DEFAULT, "off").http.enabled
    with pytest.raises(ConfigError, match="--http-listen"):
        with_http_listen(DEFAULT, "8080")


def test_served_in_process_and_stopped_with_it(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path)
    try:
        url = srv.http_url
        status, headers, body = get(url + "/healthz")
        assert status == 200 and body == b"ok\n"
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "server" not in headers
    finally:
        assert srv.stop() == 0, srv.output()
    assert "Traceback" not in srv.output()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()


def test_off_means_no_http(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path, config='[http]\nenabled = false\n', extra=["--http-listen", "off"])
    try:
        assert "portal and metrics on" not in srv.output()
    finally:
        assert srv.stop() == 0


def test_busy_port_stops_the_start(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = free_port()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "b2bua.runtime.cli", "serve", "--listen", f"udp:127.0.0.1:{port}",
             "--http-listen", f"127.0.0.1:{busy.getsockname()[1]}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
        )
    finally:
        busy.close()
    assert proc.returncode == 1 and "cannot listen" in proc.stderr, proc.stderr


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    srv = ServerProcess(tmp_path, config=f'[http]\ncertfile = "{cert}"\nkeyfile = "{key}"\n')
    try:
        url = srv.http_url
        assert url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        status, _, body = get(url + "/healthz", ctx)
        assert status == 200 and body == b"ok\n"
        status, headers, _ = get(url + "/login", ctx)
        assert status == 200 and "Secure" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
    finally:
        assert srv.stop() == 0, srv.output()


def test_unusable_certificate_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "b2bua.toml").write_text('[http]\ncertfile = "missing.pem"\nkeyfile = "missing.key"\nlisten = "127.0.0.1:0"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", "serve", "--config", "b2bua.toml", "--listen",
         f"udp:127.0.0.1:{free_port()}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 1 and "certfile/keyfile cannot be used" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
