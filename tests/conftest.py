"""Shared fixtures: paths, the example catalog, and a real mosquitto broker on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from kiosk.core.catalog import Catalog
from kiosk.replay import load_catalog_file

# Hypothesis' per-example deadline is a timed assertion; machines here are noisy.
hypothesis_settings.register_profile("opensco", deadline=None, print_blob=True)
hypothesis_settings.load_profile("opensco")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SESSIONS = EXAMPLES / "sessions"
SCO = [str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "sco")]


def _require_services() -> bool:
    # CI sets this so a missing broker or display fails loudly instead of skipping.
    return os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def example_catalog() -> Catalog:
    return load_catalog_file(EXAMPLES / "catalog.csv")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A private mosquitto on a free loopback port for this test session."""
    binary = os.environ.get("OPENSCO_MOSQUITTO") or shutil.which("mosquitto")
    if not binary and Path("/usr/sbin/mosquitto").exists():
        binary = "/usr/sbin/mosquitto"
    if not binary:
        if _require_services():
            pytest.fail("mosquitto is required (OPENSCO_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("mosquitto not installed")
    port = _free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"mosquitto exited: {err}")
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("mosquitto did not start listening within 10 s")
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(timeout=5)
