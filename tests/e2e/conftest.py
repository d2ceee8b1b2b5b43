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
