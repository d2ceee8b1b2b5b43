from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from .server import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path)
    yield srv
    code = srv.stop()
    out = srv.output()
    assert "Traceback" not in out, out
    assert code == 0, out


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole module of tests that do not change its state."""
    srv = ServerProcess(tmp_path_factory.mktemp("server"))
    yield srv
    code = srv.stop()
    out = srv.output()
    assert "Traceback" not in out, out
    assert code == 0, out
