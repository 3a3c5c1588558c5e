"""`sco scale read|probe|simulate` as a technician runs them: real processes, a real pty."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.scale.simulator import send_control
from tests.conftest import SCO
from tests.test_scale_simulator import wait_for


def sco(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCO, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`sco scale simulate` in the background: (link path, control socket path)."""
    folder = tmp_path_factory.mktemp("sim")
    link = folder / "scale"
    proc = subprocess.Popen(
        [*SCO, "scale", "simulate", "--protocol", "toledo8217", "--link", str(link),
         "--settle-ms", "200"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while "control" not in lines and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        key, _, value = line.partition(": ")
        lines[key] = value.strip()
    if "control" not in lines:
        proc.kill()
        pytest.fail(f"simulator did not start: {proc.communicate()[1]}")
    assert lines["link"] == str(link) and link.is_symlink()
    yield str(link), lines["control"]
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert not link.exists(), "the simulator left its link behind"


def test_read_json(simulated: tuple[str, str]) -> None:
    link, control = simulated
    assert send_control(control, "place 1184") == "ok"
    wait_for(lambda: json.loads(send_control(control, "status"))["stable"], what="settled")
    done = sco("scale", "read", "--port", link, "--protocol", "toledo8217", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert abs(out["weight_g"] - 1184) <= 1 and out["stable"] is True
    assert "stable" in out["flags"] and out["raw"].startswith("02")
    assert out["state"] in ("ready", "loaded_at_start")


def test_read_stable_waits_for_the_settle(simulated: tuple[str, str]) -> None:
    link, control = simulated
    send_control(control, "place 500")
    done = sco("scale", "read", "--port", link, "--protocol", "toledo8217", "--stable")
    assert done.returncode == 0, done.stderr
    grams = re.fullmatch(r"\d+\.\d{3} kg \((\d+) g\) stable\n", done.stdout)
    assert grams is not None and abs(int(grams[1]) - 500) <= 1, done.stdout


def test_read_stable_gives_up_with_a_clear_message(simulated: tuple[str, str]) -> None:
    link, control = simulated
    send_control(control, "sleep")
    try:
        done = sco("scale", "read", "--port", link, "--protocol", "toledo8217", "--stable",
                   "--timeout", "1")  # fmt: skip
    finally:
        send_control(control, "wake")
    assert done.returncode == 3
    assert "scale unavailable: no answer on" in done.stderr and "Traceback" not in done.stderr


def test_probe_names_the_protocol(simulated: tuple[str, str]) -> None:
    link, _ = simulated
    done = sco("scale", "probe", "--port", link)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("speaks toledo8217")


def test_read_on_a_missing_port(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB9")
    done = sco("scale", "read", "--port", missing, "--protocol", "toledo8217", "--timeout", "1")
    assert done.returncode == 3 and done.stdout == ""
    assert f"scale unavailable: no answer on {missing} within 1.0 s" in done.stderr
    assert "No such file" in done.stderr and "Traceback" not in done.stderr
    done = sco("scale", "read", "--port", missing, "--protocol", "toledo8217", "--json",
               "--timeout", "0.5")  # fmt: skip
    assert done.returncode == 3 and json.loads(done.stdout)["state"] == "unavailable"


def test_probe_on_a_missing_port(tmp_path: Path) -> None:
    done = sco("scale", "probe", "--port", str(tmp_path / "none"), "--timeout", "0.3")
    assert done.returncode == 3 and "no protocol answered" in done.stderr


def test_unknown_protocol_is_a_usage_error(tmp_path: Path) -> None:
    done = sco("scale", "read", "--port", str(tmp_path / "x"), "--protocol", "toledo")
    assert done.returncode == 2 and "unknown scale protocol 'toledo'" in done.stderr
