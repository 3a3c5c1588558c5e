"""kiosk/core must stay pure: no I/O libraries, no clock, no randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "kiosk" / "core"

FORBIDDEN_MODULES = {
    "cv2", "serial", "paho", "kivy", "pyzbar", "onnxruntime", "numpy",
    "os", "io", "sys", "socket", "sqlite3", "subprocess", "threading", "asyncio",
    "time", "random", "secrets", "uuid", "pathlib", "shutil", "tempfile", "logging",
    "urllib", "http", "requests", "glob",
}  # fmt: skip
# Calls that read the clock or a file even through an allowed module.
FORBIDDEN_CALLS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter", "open"}


def violations(source: str, name: str = "<src>") -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        for module in modules:
            top = module.split(".")[0]
            if top in FORBIDDEN_MODULES:
                found.append(f"{name}:{node.lineno} imports {module}")
            elif top == "kiosk" and not module.startswith(("kiosk.core", "kiosk.errors")):
                found.append(f"{name}:{node.lineno} imports {module} from outside the core")
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in FORBIDDEN_CALLS:
                found.append(f"{name}:{node.lineno} calls {called}()")
    return found


def _core_files() -> list[Path]:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 8, "kiosk/core went missing"
    return files


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), path.name) == []


@pytest.mark.parametrize(
    "source",
    [
        "import sqlite3",
        "from time import monotonic",
        "import cv2.dnn",
        "from kiosk.journal import Journal",
        "import datetime\nx = datetime.datetime.now()",
        "data = open('f').read()",
    ],
)
def test_purity_check_flags_each_kind_of_violation(source: str) -> None:
    assert violations(source), f"not flagged: {source!r}"


def test_purity_check_allows_pure_code() -> None:
    assert violations("import json\nfrom kiosk.core.inputs import Tick\nx = json.dumps({})") == []
